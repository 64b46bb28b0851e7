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


def fresh_window(*, session: Session, agreement: Agreement, lead_id: str, now: datetime) -> None:
    """A lead handed on to a new owner: its claim and contact clocks stop (their breaches
    closed, their escalation ladders with them) and a new contact window starts `now`.

    The clocks the caller's session holds are stopped in place as well, so a sweep that holds
    them does not bring them back when it writes them."""
    kinds = (CLAIM, CONTACT)
    deadlines.resolve(session=session, lead_id=lead_id, kinds=kinds, at=now)
    for clock in deadlines.of_lead(session=session, lead_id=lead_id):
        if clock.kind in kinds and clock.resolved_at is None:
            clock.resolved_at, clock.next_at = now, None
    open_clock(session=session, agreement=agreement, lead_id=lead_id, kind=CONTACT, start=now)


def step_at(agreement: Agreement, due_at: datetime, step: int) -> datetime:
    """When escalation step `step` fires: its `after` counted from the deadline in business time."""
    after = agreement.business(agreement.sla.escalation[step].after)
    return due_at if not after else agreement.calendar.add(due_at, after)


def reassign_at(agreement: Agreement, deadline: Deadline) -> datetime | None:
    """When `consequences.reassign_after` gives the clock's lead to another seller: claim and
    contact clocks only, once (None once it came)."""
    after = agreement.consequences.reassign_after
    if after is None or deadline.kind not in (CLAIM, CONTACT) or deadline.reassigned_at:
        return None
    span = agreement.business(after)
    return deadline.due_at if not span else agreement.calendar.add(deadline.due_at, span)


def next_moment(agreement: Agreement, deadline: Deadline) -> datetime | None:
    """When this clock next needs work: its reminder, its deadline, its next escalation, or
    its reassignment."""
    if deadline.resolved_at is not None:
        return None
    if deadline.breached_at is None:
        if deadline.remind_at is not None and deadline.reminded_at is None:
            return deadline.remind_at
        return deadline.due_at
    moments = [reassign_at(agreement, deadline)]
    if deadline.steps_done < len(agreement.sla.escalation):
        moments.append(step_at(agreement, deadline.due_at, deadline.steps_done))
    return min((moment for moment in moments if moment is not None), default=None)
