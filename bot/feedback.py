"""Sales tells Marketing what became of each lead, in a form Marketing can act on."""

from dataclasses import dataclass, field
from datetime import date

from bot import messages, routing, rules, sla, writeback
from bot.context import Context
from bot.ownership import changed, find, move
from bot.permissions import Action, authorize
from bot.pipeline import Move, Stage, next_stage
from bot.refusals import Refused
from storage import deadlines, leads
from storage.db import transaction
from storage.models import Feedback, Lead

OUTCOMES = {"accepted": Move.ACCEPT, "rejected": Move.REJECT, "nurture": Move.NURTURE}
RULES = {rule.value: label for rule, label in rules.LABELS.items()}
"""What the form offers as "missed in practice": every rule of the definition, by code."""
NOTE_LIMIT = 10_000


@dataclass(frozen=True)
class Verdict:
    """A seller's feedback as typed into the modal, before it is checked."""

    outcome: str | None
    reason: str | None = None
    """The code of one of the agreement's `feedback_reasons`."""
    missed_rules: list[str] = field(default_factory=list)
    """Codes of `bot.rules`."""
    note: str | None = None
    recheck_on: date | None = None


def problems(ctx: Context, verdict: Verdict) -> dict[str, str]:
    """Field -> what is wrong, so the modal can show each next to its field."""
    found: dict[str, str] = {}
    if verdict.outcome not in OUTCOMES:
        found["outcome"] = "Choose accepted, rejected or back to nurture."
    if verdict.outcome == "rejected" and not verdict.reason:
        found["reason"] = "Say why the lead was rejected: Marketing learns from it."
    if verdict.reason and verdict.reason not in {r.code for r in ctx.agreement.feedback_reasons}:
        found["reason"] = "Choose one of the agreed feedback reasons."
    unknown = [rule for rule in verdict.missed_rules if not rules.known(rule)]
    if unknown:
        found["missed_rules"] = f"Unknown rule: {', '.join(unknown)}."
    if verdict.outcome == "nurture":
        today = ctx.clock().astimezone(ctx.agreement.tz).date()
        if verdict.recheck_on is None:
            found["recheck_on"] = "Pick the day Marketing should look at this lead again."
        elif verdict.recheck_on <= today:
            found["recheck_on"] = "Pick a day after today."
    return found


def give(ctx: Context, *, lead_id: str, by: str, verdict: Verdict) -> Lead:
    """Record the outcome, stop the clocks it meets, tell the thread and Marketing."""
    if found := problems(ctx, verdict):
        raise Refused("invalid_feedback", problems=found)
    now = ctx.clock()
    note = (verdict.note or "").strip()[:NOTE_LIMIT] or None
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        authorize(ctx.agreement, by, Action.GIVE_FEEDBACK, owner=lead.owner)
        stage = next_stage(lead.stage, OUTCOMES[verdict.outcome])
        recheck = verdict.recheck_on if stage == Stage.NURTURE else None
        move(session, lead, stage, recheck_on=recheck)
        session.add(
            Feedback(
                lead_id=lead_id,
                by=by,
                at=now,
                outcome=verdict.outcome,
                reason=verdict.reason,
                missed_rules=verdict.missed_rules,
                note=note,
                recheck_on=recheck,
            )
        )
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=by,
            kind="feedback",
            data={
                "outcome": verdict.outcome,
                "reason": verdict.reason,
                "missed_rules": verdict.missed_rules,
            },
        )
        kinds = (sla.CLAIM, sla.CONTACT, sla.FEEDBACK)
        deadlines.resolve(session=session, lead_id=lead_id, kinds=kinds, at=now)
        facts = {
            "by": by,
            "outcome": verdict.outcome,
            "reason": verdict.reason,
            "missed_rules": verdict.missed_rules,
            "note": note,
            "recheck_on": recheck.isoformat() if recheck else None,
        }
        messages.reply_in_thread(
            session=session, lead_id=lead_id, template="feedback_thread", at=now, **facts
        )
        messages.post(
            session=session,
            conversation=ctx.agreement.channels.marketing,
            template="feedback_marketing",
            lead_id=lead_id,
            at=now,
            **facts,
        )
        session.refresh(lead)
        writeback.queue(
            session,
            ctx,
            lead=lead,
            step=verdict.outcome,
            at=now,
            by=by,
            reason=_label(ctx, verdict.reason),
            text=note,
        )
    ctx.wake()
    return lead


def _label(ctx: Context, reason: str | None) -> str | None:
    """A reason's words, as the CRM's users read them; the code is Baton's own."""
    labels = {r.code: r.label for r in ctx.agreement.feedback_reasons}
    return labels.get(reason, reason) if reason else None


def close(ctx: Context, *, lead_id: str, by: str, won: bool) -> Lead:
    """An accepted lead ends as won or lost; the owner or the sales manager says which."""
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        authorize(ctx.agreement, by, Action.GIVE_FEEDBACK, owner=lead.owner)
        stage = next_stage(lead.stage, Move.WIN if won else Move.LOSE)
        move(session, lead, stage)
        changed(session, lead_id=lead_id, at=now, actor=by, kind=stage.value)
        messages.post(
            session=session,
            conversation=ctx.agreement.channels.marketing,
            template="closed",
            lead_id=lead_id,
            at=now,
            by=by,
            won=won,
        )
        session.refresh(lead)
    ctx.wake()
    return lead


def recheck_due(ctx: Context) -> int:
    """Nurture leads whose re-check day has come go back to Marketing's channel, once."""
    now = ctx.clock()
    today = now.astimezone(ctx.agreement.tz).date()
    with transaction(ctx.sessions) as session:
        due = leads.due_for_recheck(session=session, today=today)
        for lead in due:
            lead.recheck_on = None
            leads.record(session=session, lead_id=lead.id, at=now, actor="baton", kind="recheck")
            messages.post(
                session=session,
                conversation=ctx.agreement.channels.marketing,
                template="recheck",
                lead_id=lead.id,
                at=now,
            )
    if due:
        ctx.wake()
    return len(due)


def hand_over_again(ctx: Context, *, lead_id: str, by: str) -> Lead:
    """Marketing sends a nurtured lead back to Sales, to a seller who has not seen it yet."""
    authorize(ctx.agreement, by, Action.HAND_OVER)
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = find(session, lead_id)
        stage = next_stage(lead.stage, Move.HAND_OVER_AGAIN)
        # Another seller than the one who returned it when there is one, by the agreement's
        # routing: nobody away, out of the rotation or at the cap.
        rotation = routing.Rotation(session, ctx.agreement, now)
        choice = rotation.choose([lead.owner] if lead.owner else []) or rotation.choose()
        if choice is None:
            raise Refused("nobody_available", why=rotation.nobody())
        seller = choice.seller
        move(session, lead, stage, owner=seller)
        sla.open_clock(
            session=session, agreement=ctx.agreement, lead_id=lead_id, kind=sla.CONTACT, start=now
        )
        changed(
            session,
            lead_id=lead_id,
            at=now,
            actor=by,
            kind="handed_over_again",
            data={"from": lead.owner, "to": seller, "reason": choice.reason},
        )
        rotation.took(seller)
        messages.direct(
            session=session,
            user=seller,
            template="assigned_to_you",
            lead_id=lead_id,
            at=now,
            by=by,
        )
        session.refresh(lead)
    ctx.wake()
    return lead
