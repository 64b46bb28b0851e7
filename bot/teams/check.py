"""What `baton check` asks Microsoft and the database with `platform: teams`: whether Entra
gives the app a token (its id, secret and tenant are right), whether the Bot Framework's
signing keys can be read, and whom Baton cannot reach yet.

A bot learns of a conversation and a person only when Teams tells it (the app installed in
the sales team, or by the person): until then, no card can go to the channel and no 1:1 to
the person, so each is named, one line each, as a note of what to do rather than a problem.
"""

import asyncio
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot import people as roster
from bot.agreement import Agreement, is_email
from bot.agreement_file import place
from bot.findings import Findings, one_line
from bot.teams.endpoints import TeamsEndpoints
from bot.teams.errors import TeamsError
from bot.teams.token import AppToken
from storage import conversations
from storage.db import make_engine, schema_is_current, session_factory

PLATFORM = "teams"
TIMEOUT = 10.0


def microsoft(endpoints: TeamsEndpoints) -> Findings:
    """One line for the app's credentials, one for the signing keys."""
    return asyncio.run(_microsoft(endpoints))


async def _microsoft(endpoints: TeamsEndpoints) -> Findings:
    found = Findings()
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        try:
            await AppToken(endpoints, http=http)()
        except TeamsError as error:
            found.problems.append(
                f"Teams: Microsoft Entra gives the app no token ({error}): check TEAMS_APP_ID, "
                f"TEAMS_APP_PASSWORD (a client secret that has not expired) and TEAMS_TENANT_ID"
            )
        else:
            found.notes.append(
                f"Teams: the app {endpoints.teams_app_id} gets its token from Microsoft Entra."
            )
        try:
            response = await http.get(endpoints.teams_openid_url)
            response.raise_for_status()
            keys = response.json().get("jwks_uri")
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            keys = None
            reason = one_line(error)
        else:
            reason = "it names no jwks_uri"
        if keys:
            found.notes.append("Teams: the Bot Framework's signing keys are published at " + keys)
        else:
            found.problems.append(
                f"Teams: cannot read the OpenID metadata at {endpoints.teams_openid_url} "
                f"({reason}): Baton could not check who sends an activity; check "
                f"TEAMS_OPENID_URL"
            )
    return found


def reach(session: Session, agreement: Agreement, source: Path) -> Findings:
    """Whether Teams told Baton of the sales and marketing channels, and of a 1:1 (or an
    account to open one with) for each person the agreement names. A channel whose team the
    app was removed from is a problem: the agreement names a place Baton cannot post."""
    found = Findings()
    for key in ("sales", "marketing"):
        channel = getattr(agreement.channels, key)
        known = conversations.conversation(session, PLATFORM, channel)
        if known is None:
            found.notes.append(
                f"{place(source, 'channels', key)}: Teams has not told Baton of this channel "
                f"yet: add the app to its team (Apps → Baton → Add to a team)"
            )
        elif known.removed_at is not None:
            found.problems.append(
                f"{place(source, 'channels', key)}: Baton was removed from this channel's team "
                f"at {known.removed_at:%Y-%m-%d %H:%M} UTC: nothing is posted there (what "
                f"would have been is in the dead letters); add the app to the team again "
                f"(Apps → Baton → Add to a team), or name a channel it is in, then "
                f"`baton outbox retry`"
            )
    named = list(roster.named_by_email(agreement))
    emails = conversations.by_email(session, PLATFORM, [n.email for n in named])
    for one in named:
        if one.email not in emails:
            found.notes.append(roster.nobody(source, one, PLATFORM))
    people = agreement.people
    everyone = [people.sales_manager, people.ceo, *people.sales, *people.marketing]
    ids = [emails.get(user, user) for user in everyone]
    unreachable = conversations.unreachable(
        session, PLATFORM, [user for user in ids if not is_email(user)]
    )
    if unreachable:
        found.notes.append(
            "Teams: no 1:1 with "
            + ", ".join(unreachable)
            + " yet (reminders and escalations cannot reach them): they add Baton in Teams, or "
            "it is added to a team they are in"
        )
    elif not found.notes and not found.problems:
        found.notes.append("Teams: Baton knows both channels and can reach everyone in a 1:1.")
    return found


def reach_in(url: str, agreement: Agreement, source: Path) -> Findings:
    """`reach` in the database at `url`, or one note when it cannot say yet (not created, not
    migrated). Opens nothing that does not exist: a check changes nothing."""
    waiting = Findings(
        notes=["Teams: whom Baton can reach is known once `baton run` has made its database."]
    )
    parsed = make_url(url)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).expanduser().exists():
        return waiting
    engine = make_engine(url)
    try:
        if not schema_is_current(engine):
            return waiting
        with session_factory(engine)() as session:
            return reach(session, agreement, source)
    except SQLAlchemyError:
        return waiting  # the database check says what is wrong with it
    finally:
        engine.dispose()
