"""The agreed clocks: when each falls due, counted in the agreement's business time."""

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.agreement import Agreement
from storage import deadlines

CLAIM, CONTACT, FEEDBACK = "claim", "contact", "feedback"
KINDS = (CLAIM, CONTACT, FEEDBACK)


def window(agreement: Agreement, kind: str) -> timedelta:
    """How long a clock runs, in business time."""
    return agreement.business(getattr(agreement.sla, f"{kind}_within"))


def deadline(agreement: Agreement, start: datetime, kind: str) -> datetime:
    return agreement.calendar.add(start, window(agreement, kind))


def reminder(agreement: Agreement, start: datetime, kind: str) -> datetime | None:
    """`remind_before` ahead of the deadline; none when it is as long as the window itself."""
    length = window(agreement, kind)
    ahead = agreement.business(agreement.sla.remind_before)
    if not ahead or ahead >= length:
        return None
    return agreement.calendar.add(start, length - ahead)


def open_clock(
    *, session: Session, agreement: Agreement, lead_id: str, kind: str, start: datetime
) -> None:
    deadlines.open_clock(
        session=session,
        lead_id=lead_id,
        kind=kind,
        opened_at=start,
        due_at=deadline(agreement, start, kind),
        remind_at=reminder(agreement, start, kind),
    )
