"""A seller's availability: away (for a while, or until they say they are back) and out of the
rotation. An away seller gets no leads from Baton, and the reminders of their open leads go
to the sales manager, who can act on them meanwhile (`bot.escalation`)."""

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlmodel import Session

from bot.agreement import Agreement
from bot.context import Context
from bot.refusals import Refused
from bot.routing import is_away
from storage import leads, sellers
from storage.db import transaction

AWAY, BACK = "away", "back"
"""The events of an absence (recorded without a lead: they are the seller's, not a lead's)."""


@dataclass(frozen=True)
class Availability:
    """What App Home and `/baton away` show a seller of themselves."""

    seller: str
    away: bool
    away_until: datetime | None = None
    out_of_rotation_since: datetime | None = None
    out_of_rotation_reason: str | None = None


def _seller(agreement: Agreement, user: str) -> None:
    if user not in agreement.people.sales:
        raise Refused("not_a_seller")


def parse_until(text: str, agreement: Agreement, now: datetime) -> date | None:
    """The day an absence ends from `/baton away`'s words: nothing (until `/baton back`),
    `until 2026-12-07` or just the date. The seller is back at the start of that day, in
    the agreement's time zone; a day that is not after today is refused."""
    words = text.strip()
    words = re.sub(r"^until\b", "", words, flags=re.IGNORECASE).strip()
    if not words:
        return None
    try:
        day = date.fromisoformat(words)
    except ValueError:
        raise Refused("bad_date", given=words[:40]) from None
    if day <= now.astimezone(agreement.tz).date():
        raise Refused("date_passed", given=day.isoformat())
    return day


def start_of(agreement: Agreement, day: date) -> datetime:
    """Midnight at the start of `day` in the agreement's time zone."""
    return datetime.combine(day, time(0), tzinfo=agreement.tz)


def go_away(ctx: Context, *, user: str, until: date | None) -> Availability:
    """`user` is away from now until the start of `until` (None: until `come_back`)."""
    _seller(ctx.agreement, user)
    now = ctx.clock()
    ends = start_of(ctx.agreement, until) if until else None
    with transaction(ctx.sessions) as session:
        sellers.set_away(session=session, seller=user, until=ends, at=now)
        leads.record(
            session=session,
            lead_id=None,
            at=now,
            actor=user,
            kind=AWAY,
            data={"seller": user, "until": ends.isoformat() if ends else None},
        )
    return Availability(user, away=True, away_until=ends)


def come_back(ctx: Context, *, user: str) -> bool:
    """`user` is back now; False when they were not away. Fairness counts from now."""
    _seller(ctx.agreement, user)
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        row = sellers.status(session=session, seller=user)
        if not is_away(row, now) or not sellers.set_back(session=session, seller=user, at=now):
            return False
        leads.record(
            session=session, lead_id=None, at=now, actor=user, kind=BACK, data={"seller": user}
        )
    return True


def of(ctx: Context, user: str) -> Availability:
    with ctx.sessions() as session:
        row = sellers.status(session=session, seller=user)
    if row is None:
        return Availability(user, away=False)
    away = is_away(row, ctx.clock())
    return Availability(
        user,
        away=away,
        away_until=row.away_until if away else None,
        out_of_rotation_since=row.out_of_rotation_since,
        out_of_rotation_reason=row.out_of_rotation_reason,
    )


def away_now(session: Session, people: list[str], now: datetime) -> set[str]:
    """Which of these people are away at `now`."""
    rows = sellers.statuses(session=session, sellers=people)
    return {person for person, row in rows.items() if is_away(row, now)}
