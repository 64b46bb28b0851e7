"""What happens as a clock runs: a reminder before the deadline, a breach when it passes,
then the agreement's escalation ladder, one step at a time, until someone acts.

Reminders and escalations are notices for a person (or the sales channel) that go out in
digests (`bot.digests`): alone, each is its own message; in a storm, one per person.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import availability, consequences, digests, messages, metrics, sla
from bot.context import Context
from bot.ownership import changed
from bot.permissions import Action, authorize
from bot.refusals import Refused
from storage import deadlines, leads
from storage.db import transaction
from storage.models import Breach, Deadline, Lead


@dataclass
class Sweep:
    """What one sweep writes besides its clocks, gathered so that its events and card updates
    cost one statement each for the whole batch, not one per clock.

    How many statements a clock costs decides how late the deadlines that fall due while a
    sweep runs are seen: on PostgreSQL each is a round trip.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rotation: Any = None
    """The sellers as this batch's reassignments see them (`bot.routing.Rotation`), read once
    and kept up to date as each choice is made."""

    def changed(self, *, lead_id: str, at: datetime, kind: str, data: dict[str, Any]) -> None:
        """`bot.ownership.changed` for the whole batch: an event, and the card brought up to
        date."""
        self.record(lead_id=lead_id, at=at, kind=kind, data=data)
        self.cards.setdefault(lead_id, messages.card(lead_id=lead_id, at=at))

    def record(self, *, lead_id: str, at: datetime, kind: str, data: dict[str, Any]) -> None:
        self.events.append(leads.event(lead_id=lead_id, at=at, actor="baton", kind=kind, data=data))

    def history(self, session: Session, lead_id: str) -> list[dict[str, str]]:
        """What happened to the lead so far, this sweep included."""
        stored = [
            {"at": event.at.isoformat(), "actor": event.actor, "kind": event.kind}
            for event in leads.history(session=session, lead_id=lead_id)
        ]
        return stored + [
            {"at": event["at"].isoformat(), "actor": event["actor"], "kind": event["kind"]}
            for event in self.events
            if event["lead_id"] == lead_id
        ]

    def write(self, session: Session) -> None:
        leads.record_all(session=session, events=self.events)
        messages.queue(session=session, rows=list(self.cards.values()))


def _notice(
    deadline: Deadline,
    *,
    to: str,
    kind: str,
    step: int,
    planned: datetime,
    now: datetime,
    template: str,
    threaded: bool = False,
    **facts: object,
) -> digests.Notice:
    """`planned` is when the message was meant to go out, so delivery can measure its lag."""
    assert deadline.id is not None  # a clock the sweep took is stored
    return digests.Notice(
        recipient=to,
        kind=kind,
        lead_id=deadline.lead_id,
        deadline_id=deadline.id,
        clock=deadline.kind,
        step=step,
        due_at=deadline.due_at,
        planned=planned,
        at=now,
        template=template,
        threaded=threaded,
        facts={
            "kind": deadline.kind,
            "due_at": deadline.due_at.isoformat(),
            "planned": planned.isoformat(),
            **facts,
        },
    )


def remind(ctx: Context, session: Session, deadline: Deadline, lead: Lead, now: datetime) -> None:
    """The owner by DM; an unowned lead in its card's thread, naming the sellers who are not
    away; the lead of an owner who is away to the sales manager, who can reassign it or
    extend the deadline."""
    planned = deadline.remind_at or now
    sales = list(ctx.agreement.people.sales)
    away = availability.away_now(session, sales if not lead.owner else [lead.owner], now)
    to: str
    facts: dict[str, object]
    if lead.owner and lead.owner in away:
        to, template = ctx.agreement.people.sales_manager, "reminder_owner"
        facts = {"role": "sales_manager", "away_owner": lead.owner}
    elif lead.owner:
        to, template, facts = lead.owner, "reminder_owner", {"role": "owner"}
    else:
        to, template = ctx.agreement.channels.sales, "reminder_unclaimed"
        facts = {"role": "sellers", "sellers": [s for s in sales if s not in away] or sales}
    notice = _notice(
        deadline,
        to=to,
        kind=digests.REMINDER,
        step=0,
        planned=planned,
        now=now,
        template=template,
        threaded=not lead.owner,
        **facts,
    )
    digests.notify(session, notice)
    metrics.REMINDERS.labels(kind=deadline.kind).inc()


def breach(
    ctx: Context, session: Session, deadline: Deadline, lead: Lead, now: datetime, sweep: Sweep
) -> None:
    deadline.breached_at = now
    session.add(
        Breach(
            deadline_id=deadline.id,
            lead_id=lead.id,
            kind=deadline.kind,
            owner=lead.owner,
            due_at=deadline.due_at,
            recorded_at=now,
        )
    )
    sweep.changed(
        lead_id=lead.id,
        at=now,
        kind="breached",
        data={"clock": deadline.kind, "due_at": deadline.due_at.isoformat(), "owner": lead.owner},
    )
    metrics.BREACHES.labels(kind=deadline.kind).inc()
    if lead.owner:
        consequences.breached(ctx, session, lead=lead, owner=lead.owner, now=now, sweep=sweep)


def escalate(
    ctx: Context,
    session: Session,
    deadline: Deadline,
    lead: Lead,
    step: int,
    now: datetime,
    sweep: Sweep,
) -> None:
    """Tell the person this step names, once; a step naming the owner of an unowned lead is
    passed over, and one naming an owner who is away goes to the sales manager, as their
    reminders do: the manager can reassign the lead or extend the deadline meanwhile."""
    notify = ctx.agreement.sla.escalation[step].notify
    people = ctx.agreement.people
    user = {"sales_manager": people.sales_manager, "ceo": people.ceo, "owner": lead.owner}[notify]
    role: str = notify
    instead: dict[str, str] = {}
    if notify == "owner" and lead.owner and availability.away_now(session, [lead.owner], now):
        user, role, instead = people.sales_manager, "sales_manager", {"away_owner": lead.owner}
    if user:
        late = ctx.agreement.calendar.elapsed(deadline.due_at, now)
        # The CEO sees what happened to the lead so far.
        history = sweep.history(session, lead.id) if notify == "ceo" else []
        notice = _notice(
            deadline,
            to=user,
            kind=digests.ESCALATION,
            step=step,
            planned=sla.step_at(ctx.agreement, deadline.due_at, step),
            now=now,
            template="escalation",
            role=role,
            late_seconds=late.total_seconds(),
            extended=deadline.extended_at is not None,
            history=history[-10:],
            **instead,
        )
        digests.notify(session, notice)
        metrics.ESCALATIONS.labels(notify=notify).inc()
    sweep.record(
        lead_id=lead.id,
        at=now,
        kind="escalated",
        data={"clock": deadline.kind, "step": step, "notify": notify, "user": user, **instead},
    )


def advance(
    ctx: Context, session: Session, deadline: Deadline, now: datetime, sweep: Sweep
) -> None:
    """Do everything this clock is owed at `now`, exactly once, in the caller's transaction;
    `sweep.write` then writes what the batch gathered."""
    lead = leads.get(session=session, lead_id=deadline.lead_id)
    if lead is None or deadline.resolved_at is not None:
        deadline.next_at = None
        return
    reminder = deadline.remind_at
    if (
        deadline.breached_at is None
        and deadline.reminded_at is None
        and reminder
        and reminder <= now
    ):
        if now < deadline.due_at:  # a reminder that comes after the deadline helps nobody
            remind(ctx, session, deadline, lead, now)
        deadline.reminded_at = now
    if deadline.breached_at is None and now >= deadline.due_at:
        breach(ctx, session, deadline, lead, now, sweep)
    if deadline.breached_at is None:
        deadline.next_at = sla.next_moment(ctx.agreement, deadline)
        return
    reassign = sla.reassign_at(ctx.agreement, deadline)
    if reassign is not None and reassign <= now:
        # The steps before the reassignment still go; those from it on are for a lead that
        # has moved on, unless nobody could take it.
        _climb(ctx, session, deadline, lead, now, sweep, before=reassign)
        deadline.reassigned_at = now
        if consequences.reassign(ctx, session, deadline, lead, now, sweep):
            return
    _climb(ctx, session, deadline, lead, now, sweep)
    deadline.next_at = sla.next_moment(ctx.agreement, deadline)


def _climb(
    ctx: Context,
    session: Session,
    deadline: Deadline,
    lead: Lead,
    now: datetime,
    sweep: Sweep,
    before: datetime | None = None,
) -> None:
    """Take the ladder's steps due by `now` (and before `before`), one at a time."""
    steps = len(ctx.agreement.sla.escalation)
    while deadline.steps_done < steps:
        at = sla.step_at(ctx.agreement, deadline.due_at, deadline.steps_done)
        if at > now or (before is not None and at >= before):
            return
        escalate(ctx, session, deadline, lead, deadline.steps_done, now, sweep)
        deadline.steps_done += 1


def extend(ctx: Context, *, lead_id: str, kind: str, by: str, reason: str) -> Deadline:
    """The sales manager gives a clock one more window, once, with a reason on record."""
    authorize(ctx.agreement, by, Action.ASSIGN)
    reason = reason.strip()
    if not reason:
        raise Refused("reason_required")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        deadline = deadlines.open_clock_of(session=session, lead_id=lead_id, kind=kind)
        if deadline is None:
            raise Refused("clock_closed", clock=kind)
        if deadline.extended_at is not None:
            raise Refused("extended_before", clock=kind)
        deadline.due_at = sla.deadline(ctx.agreement, now, kind)
        deadline.remind_at = None
        deadline.breached_at = None
        deadline.steps_done = 0
        deadline.extended_at = now
        deadline.extension_reason = reason[:1000]
        deadline.next_at = sla.next_moment(ctx.agreement, deadline)
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=by,
            kind="extended",
            data={"clock": kind, "due_at": deadline.due_at.isoformat(), "reason": reason[:1000]},
        )
    ctx.wake()
    return deadline
