"""Buttons on the lead card."""

from typing import Any

from slack_bolt import Ack, App

from bot import leads
from bot.ids import ActionId, parse_clock_ref
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.runtime import Runtime
from handlers.replies import refuse, tell
from storage import leads as stored


def lead_of(body: dict[str, Any]) -> str:
    """A button carries the lead in its value; a select in its block id (`reassign:<lead>`)."""
    action = body["actions"][0]
    return action.get("value") or action["block_id"].partition(":")[2]


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


def mark_contacted(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        leads.mark_contacted(baton.ctx, lead_id=lead_of(body), user=body["user"]["id"])
    except Refused as refusal:
        refuse(baton, body, refusal)


def reassign(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    """The users select in an escalation DM."""
    ack()
    chosen = body["actions"][0].get("selected_user")
    try:
        leads.assign(baton.ctx, lead_id=lead_of(body), by=body["user"]["id"], to=chosen)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    tell(baton, body, "assigned", owner=chosen)


def open_extend(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    lead_id, kind = parse_clock_ref(body["actions"][0]["value"])
    try:
        authorize(baton.agreement, body["user"]["id"], Action.ASSIGN)
        with baton.ctx.sessions() as session:
            lead = stored.get(session=session, lead_id=lead_id)
        if lead is None:
            raise Refused("lead_gone")
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    view = baton.renderer.view("extend_modal", lead=lead, kind=kind)
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


def coming_soon(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    button = body["actions"][0].get("text", {}).get("text", "This button")
    tell(baton, body, "coming_soon", button=button)


def register(app: App) -> None:
    app.action(ActionId.CLAIM.value)(claim)
    app.action(ActionId.RELEASE.value)(release)
    app.action(ActionId.ASSIGN.value)(open_assign)
    app.action(ActionId.MARK_CONTACTED.value)(mark_contacted)
    app.action(ActionId.REASSIGN.value)(reassign)
    app.action(ActionId.EXTEND.value)(open_extend)
    app.action(ActionId.GIVE_FEEDBACK.value)(coming_soon)
