"""`baton forget`: erase a person's personal data on request."""

import getpass
from typing import Annotated

import typer

from bot import privacy
from bot.service.cli.common import (
    fail,
    open_context,
    out,
    read_agreement,
    read_settings,
)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "cli"


def forget(
    email: Annotated[str, typer.Argument(help="the person's email address, in any letter case")],
    by: Annotated[
        str | None, typer.Option(help="who asked for it, for the record (default: your login)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask before erasing")] = False,
) -> None:
    """Erase a person's personal data: their leads stay, anonymised, for the scorecard."""
    settings = read_settings(slack=False)
    ctx = open_context(settings, read_agreement(settings))
    if "@" not in email.strip(" @"):
        raise fail(f"{email!r} is not an email address")
    found = privacy.matching(ctx, email=email)
    if not found:
        out.print("No lead has that email address: nothing to erase.")
        return
    if not yes:
        typer.confirm(
            f"Erase the personal data of {found} lead(s)? This cannot be undone", abort=True
        )
    erased = privacy.forget(ctx, email=email, by=by or _login())
    out.print(
        f"Forgot {len(erased.lead_ids)} lead(s): {', '.join(erased.lead_ids)}. "
        f'{erased.cards} lead card(s) and {erased.rewritten} other message(s) will read "removed '
        f'on request" once `baton run` delivers the updates; {erased.cancelled} queued '
        f"message(s) will not be sent.",
        highlight=False,
    )
    if erased.left:
        out.print(
            f"{len(erased.left)} message(s) Baton posted about them still show their data in "
            "Slack; delete them there by hand (whom it was for and the message's ts):",
            highlight=False,
        )
        for message in erased.left:
            out.print(
                f"  {message.kind:<6} {message.recipient or '?'} {message.message_id}",
                highlight=False,
            )
