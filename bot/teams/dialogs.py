"""Teams' dialogs (task modules): `task/fetch` opens one, `task/submit` sends it.

Assign, Give feedback, Extend and Pause clock are checked before their dialog opens, so
nobody fills in one that cannot be accepted; a submit is done by the same services the
Slack modals call, and field problems are shown in the dialog again with what was typed.
"""

from datetime import date
from typing import Any

from bot import escalation, feedback, ownership
from bot.actions import ActionId, BlockId, ViewId, parse_clock_ref
from bot.context import Context
from bot.permissions import Action, authorize
from bot.pipeline import Move, next_stage
from bot.refusals import Refused
from bot.teams import answers, handover, pausing
from bot.teams.cards import CardRenderer

Answer = dict[str, Any]


def open_dialog(
    ctx: Context, cards: CardRenderer, user: str | None, data: dict[str, Any]
) -> Answer:
    """Assign (and an escalation's Reassign), Give feedback, Extend, Pause clock: checked
    before the dialog opens, so nobody fills in one that cannot be accepted."""
    action, value = data.get("action"), str(data.get("value") or "")
    if not user:
        return answers.closed(cards.notice("unknown_person"))
    try:
        if action in (ActionId.ASSIGN, ActionId.REASSIGN):
            authorize(ctx.agreement, user, Action.ASSIGN)
            return cards.assign_dialog(ownership.lead(ctx, value))
        if action == ActionId.GIVE_FEEDBACK:
            lead = ownership.lead(ctx, value)
            authorize(ctx.agreement, user, Action.GIVE_FEEDBACK, owner=lead.owner)
            next_stage(lead.stage, Move.ACCEPT)
            return cards.feedback_dialog(lead)
        if action == ActionId.EXTEND:
            lead_id, kind = parse_clock_ref(value)
            authorize(ctx.agreement, user, Action.ASSIGN)
            return cards.extend_dialog(ownership.lead(ctx, lead_id), kind)
        if action == ActionId.PAUSE:
            return pausing.open_dialog(ctx, cards, user, value)
        if action == ActionId.HAND_OVER:
            return handover.open_dialog(ctx, cards, user)
    except Refused as refusal:
        return answers.closed(cards.notice(refusal.reason, **refusal.details))
    return answers.closed(cards.notice("unknown_action"))


def submitted(ctx: Context, cards: CardRenderer, user: str | None, data: dict[str, Any]) -> Answer:
    action, value = data.get("action"), str(data.get("value") or "")
    if not user:
        return answers.closed(cards.notice("unknown_person"))
    try:
        if action == ViewId.FEEDBACK:
            return _feedback(ctx, cards, user, value, data)
        if action == ViewId.ASSIGN:
            chosen = _text(data.get(BlockId.ASSIGNEE.value)) or ""
            ownership.assign(ctx, lead_id=value, by=user, to=chosen)
            held = ownership.past_cap(ctx, chosen)
            return answers.closed(cards.notice("assigned", owner=chosen, held=held))
        if action == ViewId.EXTEND:
            lead_id, kind = parse_clock_ref(value)
            reason = _text(data.get(BlockId.REASON.value)) or ""
            escalation.extend(ctx, lead_id=lead_id, kind=kind, by=user, reason=reason)
            return answers.closed()
        if action == ViewId.PAUSE:
            given = {f.value: t for f in PAUSE_FIELDS if (t := _text(data.get(f.value)))}
            return pausing.submitted(ctx, cards, user, value, given)
        if action == ViewId.HAND_OVER and value:
            return handover.submitted(ctx, cards, user, value, data)
    except Refused as refusal:
        return answers.closed(cards.notice(refusal.reason, **refusal.details))
    return answers.closed(cards.notice("unknown_action"))


PAUSE_FIELDS = (BlockId.UNTIL, BlockId.REASON, BlockId.NOTE)
FIELDS = (BlockId.OUTCOME, BlockId.REASON, BlockId.MISSED, BlockId.RECHECK, BlockId.NOTE)


def _feedback(
    ctx: Context, cards: CardRenderer, user: str, lead_id: str, data: dict[str, Any]
) -> Answer:
    """Field problems are shown in the dialog again, with what was typed; nothing is stored."""
    given = {field.value: text for field in FIELDS if (text := _text(data.get(field.value)))}
    missed = given.get(BlockId.MISSED.value, "")
    verdict = feedback.Verdict(
        outcome=given.get(BlockId.OUTCOME.value),
        reason=given.get(BlockId.REASON.value),
        missed_rules=[rule for rule in missed.split(",") if rule],  # Teams joins them with ","
        note=given.get(BlockId.NOTE.value),
        recheck_on=_day(given.get(BlockId.RECHECK.value)),
    )
    if found := feedback.problems(ctx, verdict):
        lead = ownership.lead(ctx, lead_id)
        return cards.feedback_dialog(lead, errors=found, given=given)
    feedback.give(ctx, lead_id=lead_id, by=user, verdict=verdict)
    return answers.closed()


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
