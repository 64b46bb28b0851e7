"""Pausing a lead's clocks: the customer asked to be called next week, or is away.

The owner (or the sales manager) may pause a lead once, until a day the customer named and
no further than the agreement's `pause.longest` days ahead, with one of its `pause.reasons`
or a note. Every clock of the lead that still runs moves by the paused time, counted in
business time: a contact deadline two business hours away stays two business hours away
from the morning the pause ends. A clock already past its deadline is not moved: a pause
does not undo a breach, and the ladder that runs for it goes on.
"""

from datetime import date, datetime, time, timedelta

from bot import sla
from bot.context import Context
from bot.ownership import changed, find
from bot.permissions import Action, authorize
from bot.refusals import Refused
from storage import deadlines
from storage.db import transaction
from storage.models import Lead

NOTE_LENGTH = 1000


def latest_day(ctx: Context, now: datetime) -> date:
    """The last day a pause made at `now` may run to."""
    today = now.astimezone(ctx.agreement.tz).date()
    return today + timedelta(days=ctx.agreement.pause.longest)


def check(
    ctx: Context, *, until: date | None, reason: str | None, note: str | None, now: datetime
) -> tuple[datetime, str | None, str | None]:
    """The moment the pause ends (the start of `until` in the agreement's timezone), the
    reason's code and the note, as a pause may have them; refused with what is wrong."""
    note = (note or "").strip()[:NOTE_LENGTH] or None
    reason = reason or None
    if reason is not None and reason not in {r.code for r in ctx.agreement.pause.reasons}:
        raise Refused("pause_reason_unknown")
    if reason is None and note is None:
        raise Refused("pause_reason_required")
    today = now.astimezone(ctx.agreement.tz).date()
    if until is None or until <= today:
        raise Refused("pause_not_ahead", today=today.isoformat())
    latest = latest_day(ctx, now)
    if until > latest:
        raise Refused(
            "pause_too_long", longest=ctx.agreement.pause.longest, latest=latest.isoformat()
        )
    return datetime.combine(until, time(), tzinfo=ctx.agreement.tz), reason, note


def pause(
    ctx: Context,
    *,
    lead_id: str,
    user: str,
    until: date | None,
    reason: str | None = None,
    note: str | None = None,
) -> Lead:
    """Pause the lead's running clocks until the start of `until`, once per lead."""
    now = ctx.clock()
    calendar = ctx.agreement.calendar
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        authorize(ctx.agreement, user, Action.PAUSE, owner=lead.owner)
        if lead.paused_at is not None:
            raise Refused("paused_before", until=lead.paused_until, by=lead.paused_by)
        ends, reason, note = check(ctx, until=until, reason=reason, note=note, now=now)
        running = [
            clock
            for clock in deadlines.of_lead(session=session, lead_id=lead_id)
            if clock.resolved_at is None and clock.breached_at is None
        ]
        if not running:
            raise Refused("nothing_to_pause")
        paused = calendar.elapsed(now, ends)
        for clock in running:
            clock.due_at = calendar.add(clock.due_at, paused)
            if clock.remind_at is not None and clock.reminded_at is None:
                clock.remind_at = calendar.add(clock.remind_at, paused)
            clock.next_at = sla.next_moment(ctx.agreement, clock)
            session.add(clock)
        lead.paused_at, lead.paused_until, lead.paused_by = now, ends, user
        lead.pause_reason, lead.pause_note = reason, note
        session.add(lead)
        session.flush()
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=user,
            kind="paused",
            data={
                "until": ends.isoformat(),
                "reason": reason,
                "note": note,
                "clocks": {clock.kind: clock.due_at.isoformat() for clock in running},
                "business_seconds": paused.total_seconds(),
            },
        )
        session.refresh(lead)
    ctx.wake()
    return lead
