"""Modal submissions. Problems go back into the modal, so nothing typed is lost."""

from typing import Any

from slack_bolt import Ack, App

from bot import escalation, leads
from bot.ids import BlockId, ViewId, parse_clock_ref
from bot.refusals import Refused
from bot.runtime import Runtime


def assign_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Runtime) -> None:
    chosen = view["state"]["values"][BlockId.ASSIGNEE]["user"].get("selected_user")
    try:
        leads.assign(baton.ctx, lead_id=view["private_metadata"], by=body["user"]["id"], to=chosen)
    except Refused as refusal:
        text = baton.renderer.notice(refusal.reason, **refusal.details)["text"]
        ack(response_action="errors", errors={BlockId.ASSIGNEE.value: text})
        return
    ack()


def extend_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], baton: Runtime) -> None:
    lead_id, kind = parse_clock_ref(view["private_metadata"])
    reason = view["state"]["values"][BlockId.REASON]["text"].get("value") or ""
    try:
        escalation.extend(
            baton.ctx, lead_id=lead_id, kind=kind, by=body["user"]["id"], reason=reason
        )
    except Refused as refusal:
        text = baton.renderer.notice(refusal.reason, **refusal.details)["text"]
        ack(response_action="errors", errors={BlockId.REASON.value: text})
        return
    ack()


def register(app: App) -> None:
    app.view(ViewId.ASSIGN.value)(assign_submitted)
    app.view(ViewId.EXTEND.value)(extend_submitted)
