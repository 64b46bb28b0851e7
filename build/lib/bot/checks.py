"""What `baton check` looks at beyond the files: the database and Slack as `baton run` will
find them, so a mistake shows before start-up rather than as a card that never arrives.

Each check answers notes (what is so) and problems (what must change), one line each.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.agreement import Agreement, place
from storage.db import make_engine, schema_state

MIGRATE = "`baton run` migrates it on start (by hand: alembic -c storage/alembic.ini upgrade head)"
# Slack's answers that say the token itself is no good, whatever the channel.
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})


@dataclass
class Findings:
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def one_line(error: BaseException) -> str:
    """A driver's message, which may span lines, as one."""
    return " ".join(str(getattr(error, "orig", None) or error).split())


def database(url: str) -> Findings:
    """Whether Baton can open the database, and whether its schema is current."""
    found = Findings()
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).expanduser().exists():
        # Opening it would create it: a check changes nothing.
        found.notes.append(
            f"Database: {shown} does not exist yet; `baton run` creates it with its tables."
        )
        return found
    engine = make_engine(url)
    try:
        current, head, known = schema_state(engine)
    except SQLAlchemyError as error:
        found.problems.append(
            f"cannot open the database {shown}: {one_line(error)}; check DATABASE_URL and that "
            f"the database server runs"
        )
        return found
    finally:
        engine.dispose()
    if current == head:
        found.notes.append(f"Database: {shown}, schema current ({head}).")
    elif current is None:
        found.notes.append(f"Database: {shown} has no tables yet; {MIGRATE}.")
    elif known:
        found.notes.append(
            f"Database: {shown}, schema at {current}, Baton needs {head}; {MIGRATE}."
        )
    else:
        found.problems.append(
            f"the database {shown} has schema {current}, which this Baton does not know (a "
            f"newer Baton migrated it?): run that version, or point DATABASE_URL elsewhere"
        )
    return found


def slack_channels(client: WebClient, agreement: Agreement, source: Path) -> Findings:
    """Whether the bot is a member of the sales and the marketing channel.

    Without it, cards and feedback are refused (`not_in_channel`) and wait in the dead letters.
    """
    found = Findings()
    # slack_sdk logs every failed attempt; the one line below says it for a person.
    sdk = logging.getLogger("slack_sdk")
    level = sdk.level
    sdk.setLevel(logging.CRITICAL)
    try:
        _membership(client, agreement, source, found)
    finally:
        sdk.setLevel(level)
    if not found.problems and not found.notes:
        found.notes.append("Slack: the bot is a member of the sales and the marketing channel.")
    return found


def _membership(client: WebClient, agreement: Agreement, source: Path, found: Findings) -> None:
    for key in ("sales", "marketing"):
        channel = getattr(agreement.channels, key)
        where = place(source, "channels", key)
        try:
            info = client.conversations_info(channel=channel)["channel"]
        except SlackApiError as error:
            code = error.response.get("error", "")
            if code in TOKEN_REFUSED:
                found.problems.append(
                    f"Slack refuses SLACK_BOT_TOKEN ({code}): copy the Bot User OAuth Token "
                    f"(xoxb-…) again from your Slack app's OAuth & Permissions page"
                )
                return
            if code == "missing_scope":
                found.notes.append(
                    "Slack: cannot see whether the bot is in its channels: the app lacks the "
                    "channels:read and groups:read scopes (in manifest.yml); add them and "
                    "Reinstall to Workspace."
                )
                return
            if code == "channel_not_found":
                found.problems.append(
                    f"{where}: Slack knows no channel {channel} that the bot can see: check "
                    f"the ID, and for a private channel invite the bot (/invite @Baton)"
                )
                continue
            found.problems.append(f"{where}: Slack answered {code} for {channel}")
            continue
        except (OSError, SlackClientError) as error:  # unreachable, dropped, timed out
            found.problems.append(
                f"cannot reach Slack at {client.base_url}: {one_line(error)}; check the "
                f"network, or SLACK_API_URL if you set it"
            )
            return
        if info.get("is_archived"):
            found.problems.append(f"{where}: {channel} is archived; use a channel in use")
        elif not info.get("is_member", False):
            found.problems.append(
                f"{where}: the bot is not a member of {channel}: invite it there with "
                f"/invite @Baton"
            )
