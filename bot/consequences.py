"""The consequences agreed in advance (`consequences:` in the agreement), applied by the clock.

- `reassign_after`: a lead still unclaimed or uncontacted this long after its deadline goes
  to the next available seller (`bot.routing`, passing over its owner) with a fresh contact
  window; the old clock and its escalation ladder stop.
- `out_of_rotation_after`: a seller with this many breaches in a rolling week gets no new
  leads until the sales manager puts them back (`restore`).
- `marketing_shortfall`: the month's qualified hand-overs trail the commitment pro rata by
  more than the agreed share: the CEO and the marketing channel are told, once a week.

Each is applied once, whatever the number of replicas and restarts: it is recorded in the
consequence ledger under a key that names its occasion (`storage.consequence_rows.take`),
in the same transaction as what it changes and the messages it queues.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot import digests, messages, routing, sla
from bot.context import Context
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.scorecard import month_bounds, week_bounds
from storage import consequence_rows as ledger
from storage import leads, sellers
from storage import scorecard_rows as rows
from storage.db import transaction
from storage.models import Breach, Deadline, Lead

if TYPE_CHECKING:
    from bot.escalation import Sweep

REASSIGNED, NOT_REASSIGNED = "reassigned", "not_reassigned"
OUT_OF_ROTATION, RESTORED = "out_of_rotation", "restored"
SHORTFALL = "marketing_shortfall"
WEEK = timedelta(days=7)


# --- reassign_after ---------------------------------------------------------------------


def reassign(
    ctx: Context, session: Session, deadline: Deadline, lead: Lead, now: datetime, sweep: Sweep
) -> bool:
    """Give the lead of a clock past `reassign_after` to the next available seller, with a
    fresh contact window; True when it went to someone (its clocks are then resolved, so the
    ladder stops). When nobody is available, the sales manager is told and the ladder goes on.
    """
    previous = lead.owner
    if sweep.rotation is None:
        sweep.rotation = routing.Rotation(session, ctx.agreement, now)
    rotation = sweep.rotation
    choice = routing.assign(session, ctx, lead=lead, now=now, rotation=rotation)
    late = ctx.agreement.calendar.elapsed(deadline.due_at, now).total_seconds()
    facts = {"clock": deadline.kind, "from": previous, "late_seconds": late}
    if choice is None:
        why = rotation.nobody({previous} if previous else set())
        if ledger.take(
            session=session,
            key=f"reassign:{deadline.id}",
            kind=NOT_REASSIGNED,
            at=now,
            lead_id=lead.id,
            data={**facts, "why": why},
        ):
            sweep.record(lead_id=lead.id, at=now, kind=NOT_REASSIGNED, data={**facts, "why": why})
            manager = ctx.agreement.people.sales_manager
            _tell(session, lead, now, user=manager, role="sales_manager", to=None, why=why, **facts)
        return False
    ledger.take(
        session=session,
        key=f"reassign:{deadline.id}",
        kind=REASSIGNED,
        at=now,
        lead_id=lead.id,
        subject=choice.seller,
        data={**facts, "to": choice.seller, "reason": choice.reason},
    )
    sla.fresh_window(session=session, agreement=ctx.agreement, lead_id=lead.id, now=now)
    sweep.changed(
        lead_id=lead.id,
        at=now,
        kind=REASSIGNED,
        data={**facts, "to": choice.seller, "reason": choice.reason},
    )
    digests.touched(session, lead_id=lead.id, at=now)
    told = [("previous_owner", previous)] if previous else []
    for role, user in [*told, ("sales_manager", ctx.agreement.people.sales_manager)]:
        _tell(
            session, lead, now, user=user, role=role, to=choice.seller, why=choice.reason, **facts
        )
    return True


def _tell(
    session: Session,
    lead: Lead,
    now: datetime,
    *,
    user: str,
    role: str,
    template: str = "reassigned",
    **facts: object,
) -> None:
    """A consequence about `lead` as `user` reads it in their `role`: a reassignment (or
    none) by default."""
    messages.direct(
        session=session,
        user=user,
        template=template,
        lead_id=lead.id,
        at=now,
        role=role,
        **facts,
    )


# --- out_of_rotation_after --------------------------------------------------------------


def breaches_counted(session: Session, seller: str, now: datetime) -> int:
    """The seller's breaches in the week up to `now`, since the sales manager last put them
    back in rotation (breaches before that were answered by the time out)."""
    since = now - WEEK
    restored = ledger.latest(session=session, kind=RESTORED, subject=seller)
    if restored is not None and restored.at > since:
        since = restored.at
    return int(
        session.exec(
            select(func.count())
            .select_from(Breach)
            .where(
                Breach.owner == seller,
                col(Breach.recorded_at) > since,
                col(Breach.recorded_at) <= now,
            )
        ).one()
    )


def breached(
    ctx: Context,
    session: Session,
    *,
    lead: Lead,
    owner: str,
    now: datetime,
    sweep: Sweep | None = None,
) -> bool:
    """A breach of `owner`'s was just recorded: take them out of rotation if it is their
    `out_of_rotation_after`-th in a rolling week. True when they were taken out now.

    The occasion's key counts the seller's returns to the rotation, so a seller is taken out
    once per time in rotation, however many replicas count the same breaches."""
    limit = ctx.agreement.consequences.out_of_rotation_after
    if limit is None or owner not in ctx.agreement.people.sales:
        return False
    session.flush()  # the breach just added is counted
    count = breaches_counted(session, owner, now)
    if count < limit:
        return False
    returns = ledger.count(session=session, kind=RESTORED, subject=owner)
    reason = f"{count} breaches in a week (the agreement allows {limit - 1})"
    if not ledger.take(
        session=session,
        key=f"out_of_rotation:{owner}:{returns}",
        kind=OUT_OF_ROTATION,
        at=now,
        lead_id=lead.id,
        subject=owner,
        data={"breaches": count, "limit": limit},
    ):
        return False
    sellers.take_out_of_rotation(session, owner, reason, now)
    session.flush()
    if sweep is not None:
        sweep.rotation = None  # the batch's later reassignments see the seller out
    leads.record(
        session=session,
        lead_id=lead.id,  # the lead whose breach was the last straw
        at=now,
        actor="baton",
        kind=OUT_OF_ROTATION,
        data={"seller": owner, "breaches": count, "limit": limit},
    )
    for role, user in (("seller", owner), ("sales_manager", ctx.agreement.people.sales_manager)):
        _tell(
            session,
            lead,
            now,
            user=user,
            role=role,
            template="out_of_rotation",
            seller=owner,
            breaches=count,
            limit=limit,
        )
    return True


def restore(ctx: Context, *, seller: str, by: str) -> None:
    """The sales manager puts a seller back in rotation: one click in the DM or App Home."""
    authorize(ctx.agreement, by, Action.RESTORE)
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        if not sellers.restore_to_rotation(session, seller, by, now):
            raise Refused("not_out_of_rotation", seller=seller)
        returns = ledger.count(session=session, kind=RESTORED, subject=seller)
        ledger.take(
            session=session,
            key=f"restored:{seller}:{returns}",
            kind=RESTORED,
            at=now,
            subject=seller,
            data={"by": by},
        )
        messages.direct(session=session, user=seller, template="back_in_rotation", at=now, by=by)
    ctx.wake()


def out_of_rotation(ctx: Context) -> list[str]:
    """The sellers of the agreement who get no new leads until restored, for App Home."""
    with ctx.sessions() as session:
        found = sellers.statuses(session=session, sellers=ctx.agreement.people.sales)
    return [
        seller
        for seller in ctx.agreement.people.sales
        if (row := found.get(seller)) is not None and row.out_of_rotation_since is not None
    ]


# --- marketing_shortfall ----------------------------------------------------------------


def shortfall(ctx: Context, session: Session, now: datetime) -> dict[str, object] | None:
    """Marketing's month so far, when it trails the commitment pro rata by more than the
    agreed share (and by one lead at least: a sliver of a lead on the month's first morning is
    no shortfall); None when it does not."""
    share = ctx.agreement.consequences.marketing_shortfall
    commitment = ctx.agreement.marketing_commitment
    if share is None or commitment is None or not commitment.qualified_leads_per_month:
        return None
    start, following = month_bounds(ctx.agreement, now)
    qualified = rows.qualified_between(session=session, since=start, until=now)
    committed = commitment.qualified_leads_per_month
    pro_rata = committed * ((now - start) / (following - start))
    behind = pro_rata - qualified
    if behind < 1 or behind <= share * pro_rata:
        return None
    return {
        "month": start.strftime("%B %Y"),
        "qualified": qualified,
        "committed": committed,
        "pro_rata": round(pro_rata, 1),
        "behind_share": round(behind / pro_rata, 3),
        "agreed_share": share,
    }


def check_shortfall(ctx: Context) -> bool:
    """Tell the CEO and the marketing channel of a shortfall, once per week it lasts (the
    week in the agreement's timezone, Monday to Sunday). True when told now."""
    if ctx.agreement.consequences.marketing_shortfall is None:
        return False
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        facts = shortfall(ctx, session, now)
        if facts is None:
            return False
        week, _ = week_bounds(ctx.agreement, now)
        if not ledger.take(
            session=session,
            key=f"{SHORTFALL}:{week.date().isoformat()}",
            kind=SHORTFALL,
            at=now,
            data=facts,
        ):
            return False
        told = (
            (messages.DIRECT, ctx.agreement.people.ceo, "ceo"),
            (messages.POST, ctx.agreement.channels.marketing, "marketing"),
        )
        messages.queue(
            session=session,
            rows=[
                messages.said(kind, recipient=to, template=SHORTFALL, at=now, role=role, **facts)
                for kind, to, role in told
            ],
        )
    ctx.wake()
    return True
