"""`baton history EMAIL|ID`: every event of a lead, who did what and when."""

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot import history as lead_history
from bot.service.cli.common import fail, open_context, out, read_agreement, read_settings


def history(
    key: Annotated[str, typer.Argument(metavar="EMAIL|ID", help="the lead's email address or id")],
) -> None:
    """Every event of a lead: who did what, when (times in the agreement's timezone)."""
    if not key.strip():
        raise fail("name a lead by its email address or its id")
    settings = read_settings(slack=False)
    agreement = read_agreement(settings)
    ctx = open_context(settings, agreement)
    found = lead_history.find(ctx, key)
    if not found:
        raise fail(f"no lead has the email address or id {key.strip()!r}")
    for item in found:
        lead = item.lead
        # Text, never markup: a name or a note may hold square brackets.
        table = Table(title=Text(f"{lead.name}, {lead.company} ({lead.id}), now {lead.stage}"))
        for column in ("when", "who", "what", "details"):
            table.add_column(column)
        for event in item.events:
            at = event.at.astimezone(agreement.tz)
            table.add_row(
                Text(f"{at:%Y-%m-%d %H:%M:%S %Z}"),
                Text(event.actor),
                Text(event.kind.replace("_", " ")),
                Text(lead_history.details(event)),
            )
        out.print(table)
