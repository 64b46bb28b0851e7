"""Buttons and selects: on the lead card, in reminders and escalations, in App Home."""

import json
import re
from typing import Any

from slack_bolt import Ack, App

from bot import feedback, leads
from bot.ids import ActionId, parse_clock_ref
from bot.permissions import Action, authorize
from bot.pipeline import Move, next_stage
from bot.refusals import Refused
from bot.runtime import Runtime
from handlers.home import publish_home
from handlers.replies import refuse, tell, where, whisper
from storage import leads as stored


def lead_of(body: dict[str, Any]) -> str:
    """A button carries the lead in its value; a select in its block id (`reassign:<lead>`)."""
    action = body["actions"][0]
    value = action.get("value") or action["block_id"].partition(":")[2]
    return value.partition(":")[0]


def user_of(body: dict[str, Any]) -> str:
    return body["user"]["id"]


def _lead(baton: Runtime, lead_id: str):
    with baton.ctx.sessions() as session:
        lead = stored.get(session=session, lead_id=lead_id)
    if lead is None:
        raise Refused("lead_gone")
    return lead


def claim(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        leads.claim(baton.ctx, lead_id=lead_of(body), user=user_of(body))
    except Refused as refusal:
        refuse(baton, body, refusal)


def release(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        leads.release(baton.ctx, lead_id=lead_of(body), user=user_of(body))
    except Refused as refusal:
        refuse(baton, body, refusal)


def open_assign(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    """Only the sales manager sees the picker; everyone else is told why not."""
    ack()
    try:
        authorize(baton.agreement, user_of(body), Action.ASSIGN)
        lead = _lead(baton, lead_of(body))
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    baton.client.views_open(
        trigger_id=body["trigger_id"], view=baton.renderer.view("assign_modal", lead=lead)
    )


def mark_contacted(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        lead = leads.mark_contacted(baton.ctx, lead_id=lead_of(body), user=user_of(body))
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    whisper(baton, user_of(body), where(body), baton.renderer.message("contacted", lead_id=lead.id))


def contacted_how(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    how = body["actions"][0]["value"].partition(":")[2]
    try:
        leads.note_contact_method(baton.ctx, lead_id=lead_of(body), user=user_of(body), how=how)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    tell(baton, body, "contact_method", how=how)


def open_feedback(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    """Check before opening, so nobody fills in a modal that cannot be accepted."""
    ack()
    try:
        lead = _lead(baton, lead_of(body))
        authorize(baton.agreement, user_of(body), Action.GIVE_FEEDBACK, owner=lead.owner)
        next_stage(lead.stage, Move.ACCEPT)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    view = baton.renderer.view("feedback_modal", lead=lead, rules=feedback.RULES)
    view["private_metadata"] = json.dumps({"lead": lead.id, "channel": where(body)})
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


def close(won: bool):
    def closer(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
        ack()
        try:
            feedback.close(baton.ctx, lead_id=lead_of(body), by=user_of(body), won=won)
        except Refused as refusal:
            refuse(baton, body, refusal)

    return closer


def hand_over_again(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    try:
        lead = feedback.hand_over_again(baton.ctx, lead_id=lead_of(body), by=user_of(body))
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    tell(baton, body, "handed_over_again", owner=lead.owner)


def reassign(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    """The users select in an escalation DM."""
    ack()
    chosen = body["actions"][0].get("selected_user")
    try:
        leads.assign(baton.ctx, lead_id=lead_of(body), by=user_of(body), to=chosen)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    tell(baton, body, "assigned", owner=chosen)


def open_extend(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    lead_id, kind = parse_clock_ref(body["actions"][0]["value"])
    try:
        authorize(baton.agreement, user_of(body), Action.ASSIGN)
        lead = _lead(baton, lead_id)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    view = baton.renderer.view("extend_modal", lead=lead, kind=kind)
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


def refresh_home(ack: Ack, body: dict[str, Any], baton: Runtime) -> None:
    ack()
    publish_home(baton, user_of(body))


def register(app: App) -> None:
    A = ActionId
    app.action(A.CLAIM.value)(claim)
    app.action(A.RELEASE.value)(release)
    app.action(A.ASSIGN.value)(open_assign)
    app.action(A.MARK_CONTACTED.value)(mark_contacted)
    app.action(re.compile(rf"^{re.escape(A.CONTACTED_HOW.value)}(:.*)?$"))(contacted_how)
    app.action(A.GIVE_FEEDBACK.value)(open_feedback)
    app.action(A.WON.value)(close(won=True))
    app.action(A.LOST.value)(close(won=False))
    app.action(A.HAND_OVER_AGAIN.value)(hand_over_again)
    app.action(A.REASSIGN.value)(reassign)
    app.action(A.EXTEND.value)(open_extend)
    app.action(A.HOME_REFRESH.value)(refresh_home)
