"""Ownership of a lead: claim, assign, release, mark contacted. One transaction each, with
its event; the pipeline decides which moves are legal."""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import digests, messages, metrics, sla, writeback
from bot.context import Context
from bot.permissions import Action, allowed, authorize
from bot.pipeline import Move, next_stage
from bot.refusals import Refused
from storage import deadlines, leads, sellers
from storage.db import joined, transaction
from storage.models import Lead


def lead(ctx: Context, lead_id: str) -> Lead:
    """The lead a button or a modal names, as stored; refused when there is none."""
    with ctx.sessions() as session:
        found = leads.get(session=session, lead_id=lead_id)
    if found is None:
        raise Refused("lead_gone")
    return found


def move(session: Session, lead: Lead, stage: str, **values: Any) -> None:
    """Move `lead` on to `stage` from the stage it was read at, with `values`; refused when
    somebody moved it meanwhile."""
    if not leads.move(
        session=session, lead_id=lead.id, from_stage=lead.stage, to_stage=stage, **values
    ):
        raise Refused("changed_meanwhile")


def find(session: Session, lead_id: str) -> Lead:
    """The lead to act on; an erased one is gone for every purpose but the statistics."""
    lead = leads.get(session=session, lead_id=lead_id)
    if lead is None or lead.forgotten_at is not None:
        raise Refused("lead_gone")
    return lead


def changed(
    session: Session,
    *,
    lead_id: str,
    at: datetime,
    actor: str,
    kind: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Every change of a lead: one event in its history, and its card and the digests that
    name it brought up to date."""
    leads.record(session=session, lead_id=lead_id, at=at, actor=actor, kind=kind, data=data)
    messages.refresh_card(session=session, lead_id=lead_id, at=at)
    if kind != "breached":  # a breach shows in its own notice, not in earlier digests
        digests.touched(session, lead_id=lead_id, at=at)


def claim(ctx: Context, *, lead_id: str, user: str) -> Lead:
    """First come, first served: of many simultaneous claims the database lets one through.

    A seller holding the agreement's `routing.max_open` open leads is refused in the same
    statement; the sales manager's `assign` may still give them more."""
    authorize(ctx.agreement, user, Action.CLAIM)
    now = ctx.clock()
    cap = ctx.agreement.routing.max_open
    with transaction(ctx.sessions) as session:
        claimed = leads.claim(session=session, lead_id=lead_id, user=user, at=now, cap=cap)
        if claimed is None:
            status = sellers.status(session=session, seller=user)
            if status is not None and status.out_of_rotation_since is not None:
                # Out of rotation means no new leads, whether Baton assigns them or not.
                raise Refused("out_of_rotation", since=status.out_of_rotation_since)
            lead = find(session, lead_id)
            if lead.owner:
                raise Refused("already_claimed", owner=lead.owner, you=lead.owner == user)
            next_stage(lead.stage, Move.CLAIM)
            if cap is not None and (held := leads.held(session=session, owner=user)) >= cap:
                raise Refused("at_cap", cap=cap, held=held)
            raise Refused("changed_meanwhile")
        deadlines.resolve(session=session, lead_id=lead_id, kinds=(sla.CLAIM,), at=now)
        _claimed(session, ctx, claimed, by=user, at=now)
    metrics.LEADS_CLAIMED.inc()
    _wake(ctx)
    return claimed


def _claimed(session: Session, ctx: Context, lead: Lead, *, by: str, at: datetime) -> None:
    """What a claim by `by` leaves besides the lead and its stopped clock: the event, the
    card and digests brought up to date, the CRM told."""
    changed(session, lead_id=lead.id, at=at, actor=by, kind="claimed")
    writeback.queue(session, ctx, lead=lead, step="claimed", at=at, by=by, owner=by)


def claim_all(ctx: Context, claims: list[tuple[str, str]]) -> list[Lead | Refused]:
    """Claims that came together, (lead, seller) each, decided in the order they came: for
    each, the lead as `claim` leaves it, or why `claim` refuses it.

    A batch of clicks waits for its answers, so without a cap the first permitted claim of
    each lead is tried in one statement and the clocks of the leads it claimed are stopped
    in another, instead of two statements a claim. A claim that statement leaves out (the
    lead taken, gone or moved on, the seller out of the rotation), every later claim of a
    lead, and every claim under `routing.max_open` (a seller's open leads are counted one
    claim at a time) is decided by `claim`, which says why it refuses. Each lead's claims
    are decided in their order; across leads, what the one statement claimed is written
    (its events, card updates, write-backs) before what is decided one by one."""
    first: dict[str, tuple[int, str]] = {}
    if ctx.agreement.routing.max_open is None:
        for n, (lead_id, user) in enumerate(claims):
            if lead_id not in first and allowed(ctx.agreement, user, Action.CLAIM):
                first[lead_id] = (n, user)
    claimed = _claim_together(ctx, {lead_id: user for lead_id, (_, user) in first.items()})
    outcomes: list[Lead | Refused] = []
    for n, (lead_id, user) in enumerate(claims):
        if lead_id in claimed and first[lead_id][0] == n:
            outcomes.append(claimed[lead_id])
            continue
        try:
            outcomes.append(claim(ctx, lead_id=lead_id, user=user))
        except Refused as refusal:
            outcomes.append(refusal)
    return outcomes


def _claim_together(ctx: Context, owners: dict[str, str]) -> dict[str, Lead]:
    """The leads of `owners` (lead -> seller) that their sellers claimed, in two statements,
    all at one time: the batch's."""
    if len(owners) < 2:  # one claim alone is one statement either way: `claim`'s
        return {}
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        claimed = leads.claim_all(session=session, owners=owners, at=now)
        deadlines.resolve_all(session=session, lead_ids=list(claimed), kinds=(sla.CLAIM,), at=now)
        for lead_id, lead in claimed.items():
            _claimed(session, ctx, lead, by=owners[lead_id], at=now)
    metrics.LEADS_CLAIMED.inc(len(claimed))
    _wake(ctx)
    return claimed


def _wake(ctx: Context) -> None:
    """The courier and the clock look at what changed, once it is committed: inside a larger
    unit (`storage.db.one_transaction`) not yet, and its owner wakes them after its commit; a
    wake now would have them look before the rows are there, for nothing."""
    if joined(ctx.sessions) is None:
        ctx.wake()


def assign(ctx: Context, *, lead_id: str, by: str, to: str) -> Lead:
    """The sales manager gives a lead to a seller, whoever had it before."""
    authorize(ctx.agreement, by, Action.ASSIGN)
    if not allowed(ctx.agreement, to, Action.CLAIM):
        raise Refused("cannot_own", user=to)
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        stage = next_stage(lead.stage, Move.ASSIGN)
        if lead.owner == to:
            raise Refused("already_owner", owner=to)
        previous = lead.owner
        if not leads.set_owner(
            session=session,
            lead_id=lead_id,
            owner=to,
            stage=stage,
            expected_owner=previous,
            at=now if previous is None else None,
        ):
            raise Refused("changed_meanwhile")
        contact = deadlines.open_clock_of(session=session, lead_id=lead_id, kind=sla.CONTACT)
        if contact is not None and (previous is not None or contact.breached_at is not None):
            # Handed on, or overdue: the new owner gets a whole contact window, and nobody
            # is escalated to about a lead the manager already acted on.
            sla.fresh_window(session=session, agreement=ctx.agreement, lead_id=lead_id, now=now)
        else:
            deadlines.resolve(session=session, lead_id=lead_id, kinds=(sla.CLAIM,), at=now)
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=by,
            kind="assigned",
            data={"from": previous, "to": to},
        )
        messages.direct(
            session=session, user=to, template="assigned_to_you", lead_id=lead_id, at=now, by=by
        )
        session.refresh(lead)
        writeback.queue(session, ctx, lead=lead, step="assigned", at=now, by=by, owner=to)
    metrics.LEADS_CLAIMED.inc()
    ctx.wake()
    return lead


def past_cap(ctx: Context, seller: str) -> int | None:
    """How many open leads `seller` holds when that is over the agreement's `max_open` (an
    assignment may give them more than a claim could), else None: said with the assignment."""
    cap = ctx.agreement.routing.max_open
    if cap is None:
        return None
    with ctx.sessions() as session:
        held = leads.held(session=session, owner=seller)
    return held if held > cap else None


def release(ctx: Context, *, lead_id: str, user: str) -> Lead:
    """The owner hands a claimed lead back to the channel; its clocks keep running."""
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        authorize(ctx.agreement, user, Action.RELEASE, owner=lead.owner)
        stage = next_stage(lead.stage, Move.RELEASE)
        if not leads.set_owner(
            session=session, lead_id=lead_id, owner=None, stage=stage, expected_owner=lead.owner
        ):
            raise Refused("changed_meanwhile")
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=user,
            kind="released",
            data={"owner": lead.owner},
        )
        messages.reply_in_thread(
            session=session, lead_id=lead_id, template="released", at=now, by=user
        )
        session.refresh(lead)
    _wake(ctx)
    return lead


def mark_contacted(ctx: Context, *, lead_id: str, user: str, how: str | None = None) -> Lead:
    """The owner reached the lead: the contact clock stops and the feedback clock starts."""
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        authorize(ctx.agreement, user, Action.MARK_CONTACTED, owner=lead.owner)
        next_stage(lead.stage, Move.MARK_CONTACTED)
        if not leads.mark_contacted(session=session, lead_id=lead_id, owner=lead.owner, at=now):
            raise Refused("changed_meanwhile")
        deadlines.resolve(session=session, lead_id=lead_id, kinds=(sla.CLAIM, sla.CONTACT), at=now)
        sla.open_clock(
            session=session, agreement=ctx.agreement, lead_id=lead_id, kind=sla.FEEDBACK, start=now
        )
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=user,
            kind="contacted",
            data={"how": how} if how else None,
        )
        session.refresh(lead)
        writeback.queue(session, ctx, lead=lead, step="contacted", at=now, by=user, text=how)
    _wake(ctx)
    return lead


def note_contact_method(ctx: Context, *, lead_id: str, user: str, how: str) -> None:
    """How the owner reached the lead (call, email, meeting), for the record and the reports."""
    if how not in ("call", "email", "meeting"):
        raise Refused("changed_meanwhile")
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        authorize(ctx.agreement, user, Action.MARK_CONTACTED, owner=lead.owner)
        leads.record(
            session=session,
            lead_id=lead_id,
            at=now,
            actor=user,
            kind="contact_method",
            data={"how": how},
        )
