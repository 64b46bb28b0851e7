"""Buttons on the lead card."""

from typing import Any

from slack_bolt import Ack, App

from bot import leads
from bot.ids import ActionId
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.runtime import Runtime
from handlers.replies import refuse, tell
from storage import leads as stored


def lead_of(body: dict[str, Any]) -> str:
    return body["actions"][0]["value"]


def claim(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        leads.claim(baton.ctx, lead_id=lead_of(body), user=body["user"]["id"])
    except Refused as refusal:
        refuse(baton, body, refusal)


def release(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        leads.release(baton.ctx, lead_id=lead_of(body), user=body["user"]["id"])
    except Refused as refusal:
        refuse(baton, body, refusal)


def open_assign(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    """Only the sales manager sees the picker; everyone else is told why not."""
    ack()
    try:
        authorize(baton.agreement, body["user"]["id"], Action.ASSIGN)
        with baton.ctx.sessions() as session:
            lead = stored.get(session=session, lead_id=lead_of(body))
        if lead is None:
            raise Refused("lead_gone")
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    view = baton.renderer.view("assign_modal", lead=lead)
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


def coming_soon(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    button = body["actions"][0].get("text", {}).get("text", "This button")
    tell(baton, body, "coming_soon", button=button)


def register(app: App) -> None:
    app.action(ActionId.CLAIM.value)(claim)
    app.action(ActionId.RELEASE.value)(release)
    app.action(ActionId.ASSIGN.value)(open_assign)
    app.action(ActionId.MARK_CONTACTED.value)(coming_soon)
    app.action(ActionId.GIVE_FEEDBACK.value)(coming_soon)
