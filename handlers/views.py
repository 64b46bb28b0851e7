"""Modal submissions. Problems go back into the modal, so nothing typed is lost."""

from typing import Any

from slack_bolt import Ack, App

from bot import leads
from bot.ids import BlockId, ViewId
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


def register(app: App) -> None:
    app.view(ViewId.ASSIGN.value)(assign_submitted)
