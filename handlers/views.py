"""Modal submissions. Problems go back into the modal, so nothing typed is lost."""

import json
from datetime import date
from typing import Any

from slack_bolt import Ack, App

from bot import escalation, feedback, handover_form, ownership, pause
from bot.actions import BlockId, ViewId, parse_clock_ref
from bot.refusals import Refused
from bot.slack.baton import Baton
from handlers.replies import whisper


def values(view: dict[str, Any]) -> dict[str, Any]:
    """Each input block's value by block id, whatever element it holds."""
    found: dict[str, Any] = {}
    for block_id, elements in view["state"]["values"].items():
        for element in elements.values():
            kind = element.get("type")
            if kind in ("static_select", "radio_buttons"):
                found[block_id] = (element.get("selected_option") or {}).get("value")
            elif kind == "multi_static_select":
                found[block_id] = [o["value"] for o in element.get("selected_options") or []]
            elif kind == "users_select":
                found[block_id] = element.get("selected_user")
            elif kind == "datepicker":
                found[block_id] = element.get("selected_date")
            else:
                found[block_id] = element.get("value")
    return found


def _explain(baton: Baton, user: str, channel: str | None, refusal: Refused) -> None:
    """A refusal the modal cannot show next to a field, told to `user` aside."""
    whisper(baton, user, channel, baton.renderer.notice(refusal.reason, **refusal.details))


def _errors(ack: Ack, baton: Baton, block: str, refusal: Refused) -> None:
    text = baton.renderer.notice(refusal.reason, **refusal.details)["text"]
    ack(response_action="errors", errors={block: text})


def assign_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Baton) -> None:
    chosen = values(view).get(BlockId.ASSIGNEE)
    try:
        ownership.assign(
            baton.ctx, lead_id=view["private_metadata"], by=body["user"]["id"], to=chosen
        )
    except Refused as refusal:
        _errors(ack, baton, BlockId.ASSIGNEE.value, refusal)
        return
    ack()


def extend_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Baton) -> None:
    lead_id, kind = parse_clock_ref(view["private_metadata"])
    reason = values(view).get(BlockId.REASON) or ""
    try:
        escalation.extend(
            baton.ctx, lead_id=lead_id, kind=kind, by=body["user"]["id"], reason=reason
        )
    except Refused as refusal:
        _errors(ack, baton, BlockId.REASON.value, refusal)
        return
    ack()


PAUSE_BLOCKS = {
    "pause_not_ahead": BlockId.UNTIL,
    "pause_too_long": BlockId.UNTIL,
    "pause_reason_unknown": BlockId.REASON,
    "pause_reason_required": BlockId.REASON,
}
"""Where in the pause modal each of its problems is shown; any other refusal (a second
pause, a lead that changed meanwhile) closes the modal and is told ephemerally."""


def pause_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Baton) -> None:
    meta = json.loads(view["private_metadata"])
    given = values(view)
    user = body["user"]["id"]
    try:
        lead = pause.pause(
            baton.ctx,
            lead_id=meta["lead"],
            user=user,
            until=_day(given.get(BlockId.UNTIL)),
            reason=_text(given.get(BlockId.REASON)),
            note=_text(given.get(BlockId.NOTE)),
        )
    except Refused as refusal:
        block = PAUSE_BLOCKS.get(refusal.reason)
        if block is not None:
            _errors(ack, baton, block.value, refusal)
            return
        ack()
        _explain(baton, user, meta.get("channel"), refusal)
        return
    ack()
    whisper(
        baton, user, meta.get("channel"), baton.renderer.notice("paused", until=lead.paused_until)
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _verdict(view: dict[str, Any]) -> feedback.Verdict:
    given = values(view)
    missed = given.get(BlockId.MISSED)
    return feedback.Verdict(
        outcome=_text(given.get(BlockId.OUTCOME)),
        reason=_text(given.get(BlockId.REASON)),
        missed_rules=[rule for rule in missed if isinstance(rule, str)]
        if isinstance(missed, list)
        else [],
        note=_text(given.get(BlockId.NOTE)),
        recheck_on=_day(given.get(BlockId.RECHECK)),
    )


def feedback_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Baton) -> None:
    """Field problems stay in the modal; a lead that changed meanwhile is explained aside."""
    user = body["user"]["id"]
    try:
        meta = json.loads(view["private_metadata"])
    except (ValueError, TypeError):
        meta = {"lead": view.get("private_metadata"), "channel": None}
    verdict = _verdict(view)
    if found := feedback.problems(baton.ctx, verdict):
        ack(response_action="errors", errors=found)
        return
    try:
        feedback.give(baton.ctx, lead_id=meta.get("lead"), by=user, verdict=verdict)
    except Refused as refusal:
        ack()
        _explain(baton, user, meta.get("channel"), refusal)
        return
    ack()


def hand_over_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Baton) -> None:
    """The Slack form goes through the same intake, qualification and idempotency as the API."""
    user = body["user"]["id"]
    fields = {key: value for key, value in values(view).items() if value not in (None, "")}
    try:
        result = handover_form.hand_over(
            baton.ctx, user=user, fields=fields, platform="slack", form_id=view["id"]
        )
    except Refused as refusal:
        _errors(ack, baton, handover_form.FIRST, refusal)
        return
    except handover_form.FormProblems as problems:
        ack(response_action="errors", errors=problems.problems)
        return
    ack()
    message = baton.renderer.message("handover_verdict", lead=result.lead, created=result.created)
    whisper(baton, user, None, message)


def register(app: App) -> None:
    app.view(ViewId.ASSIGN.value)(assign_submitted)
    app.view(ViewId.EXTEND.value)(extend_submitted)
    app.view(ViewId.PAUSE.value)(pause_submitted)
    app.view(ViewId.FEEDBACK.value)(feedback_submitted)
    app.view(ViewId.HAND_OVER.value)(hand_over_submitted)
