"""The agreed clocks: when each falls due, counted in the agreement's business time."""

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.agreement import Agreement
from storage import deadlines
from storage.models import Deadline

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
    """Start one clock of a lead at `start`."""
    deadlines.open_clock(
        session=session,
        lead_id=lead_id,
        kind=kind,
        opened_at=start,
        due_at=deadline(agreement, start, kind),
        remind_at=reminder(agreement, start, kind),
    )


def step_at(agreement: Agreement, due_at: datetime, step: int) -> datetime:
    """When escalation step `step` fires: its `after` counted from the deadline in business time."""
    after = agreement.business(agreement.sla.escalation[step].after)
    return due_at if not after else agreement.calendar.add(due_at, after)


def next_moment(agreement: Agreement, deadline: Deadline) -> datetime | None:
    """When this clock next needs work: its reminder, its deadline, or its next escalation."""
    if deadline.resolved_at is not None:
        return None
    if deadline.breached_at is None:
        if deadline.remind_at is not None and deadline.reminded_at is None:
            return deadline.remind_at
        return deadline.due_at
    if deadline.steps_done < len(agreement.sla.escalation):
        return step_at(agreement, deadline.due_at, deadline.steps_done)
    return None
