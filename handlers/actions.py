"""Buttons and selects: on the lead card, in reminders and escalations, in App Home."""

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot import availability, consequences, feedback, ownership, pause
from bot.actions import ActionId, parse_clock_ref, parse_digest_option
from bot.permissions import Action, authorize
from bot.pipeline import Move, next_stage
from bot.refusals import Refused
from bot.slack.baton import Baton
from handlers.home import publish_home
from handlers.replies import refuse, tell, where, whisper


def lead_of(body: dict[str, Any]) -> str:
    """A button carries the lead in its value; a select in its block id (`reassign:<lead>`)."""
    action = body["actions"][0]
    value = action.get("value") or action["block_id"].partition(":")[2]
    return value.partition(":")[0]


def user_of(body: dict[str, Any]) -> str:
    return body["user"]["id"]


Work = Callable[[dict[str, Any], Baton], None]


def acknowledged(work: Work) -> Callable[[Ack, dict[str, Any], Baton], None]:
    """A listener that answers Slack at once and leaves `work` to the runtime's workers.

    The click's answer is only an acknowledgement; what it changes reaches the person through
    the card, an ephemeral or a DM, and a `Refused` becomes an ephemeral telling them why.
    """

    def listener(ack: Ack, body: dict[str, Any], baton: Baton) -> None:
        ack()
        baton.later(_answered, work, body, baton)

    listener.__name__ = listener.__qualname__ = work.__name__
    listener.__doc__ = work.__doc__
    return listener


def _answered(work: Work, body: dict[str, Any], baton: Baton) -> None:
    try:
        work(body, baton)
    except Refused as refusal:
        refuse(baton, body, refusal)


@acknowledged
def claim(body: dict[str, Any], baton: Baton) -> None:
    ownership.claim(baton.ctx, lead_id=lead_of(body), user=user_of(body))


@acknowledged
def release(body: dict[str, Any], baton: Baton) -> None:
    ownership.release(baton.ctx, lead_id=lead_of(body), user=user_of(body))


def open_assign(ack: Ack, body: dict[str, Any], baton: Baton) -> None:
    """Only the sales manager sees the picker; everyone else is told why not.

    Modals open before the answer, not after: their trigger is good for 3 s only.
    """
    ack()
    try:
        authorize(baton.agreement, user_of(body), Action.ASSIGN)
        lead = ownership.lead(baton.ctx, lead_of(body))
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    baton.client.views_open(
        trigger_id=body["trigger_id"], view=baton.renderer.view("assign_modal", lead=lead)
    )


@acknowledged
def mark_contacted(body: dict[str, Any], baton: Baton) -> None:
    lead = ownership.mark_contacted(baton.ctx, lead_id=lead_of(body), user=user_of(body))
    whisper(baton, user_of(body), where(body), baton.renderer.message("contacted", lead_id=lead.id))


@acknowledged
def contacted_how(body: dict[str, Any], baton: Baton) -> None:
    how = body["actions"][0]["value"].partition(":")[2]
    ownership.note_contact_method(baton.ctx, lead_id=lead_of(body), user=user_of(body), how=how)
    tell(baton, body, "contact_method", how=how)


def open_feedback(ack: Ack, body: dict[str, Any], baton: Baton) -> None:
    """Check before opening, so nobody fills in a modal that cannot be accepted."""
    ack()
    try:
        lead = ownership.lead(baton.ctx, lead_of(body))
        authorize(baton.agreement, user_of(body), Action.GIVE_FEEDBACK, owner=lead.owner)
        next_stage(lead.stage, Move.ACCEPT)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    view = baton.renderer.view("feedback_modal", lead=lead, rules=feedback.RULES)
    view["private_metadata"] = json.dumps({"lead": lead.id, "channel": where(body)})
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


def close(won: bool) -> Callable[[Ack, dict[str, Any], Baton], None]:
    def closer(body: dict[str, Any], baton: Baton) -> None:
        feedback.close(baton.ctx, lead_id=lead_of(body), by=user_of(body), won=won)

    closer.__name__ = "won" if won else "lost"
    return acknowledged(closer)


@acknowledged
def hand_over_again(body: dict[str, Any], baton: Baton) -> None:
    lead = feedback.hand_over_again(baton.ctx, lead_id=lead_of(body), by=user_of(body))
    tell(baton, body, "handed_over_again", owner=lead.owner)


@acknowledged
def reassign(body: dict[str, Any], baton: Baton) -> None:
    """The users select in an escalation DM."""
    chosen = body["actions"][0].get("selected_user")
    ownership.assign(baton.ctx, lead_id=lead_of(body), by=user_of(body), to=chosen)
    tell(baton, body, "assigned", owner=chosen, held=ownership.past_cap(baton.ctx, chosen))


def open_extend(ack: Ack, body: dict[str, Any], baton: Baton) -> None:
    ack()
    lead_id, kind = parse_clock_ref(body["actions"][0]["value"])
    try:
        authorize(baton.agreement, user_of(body), Action.ASSIGN)
        lead = ownership.lead(baton.ctx, lead_id)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    view = baton.renderer.view("extend_modal", lead=lead, kind=kind)
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


def open_pause(ack: Ack, body: dict[str, Any], baton: Baton) -> None:
    """The owner pauses the lead's clocks; a lead paused before is refused before the modal."""
    ack()
    now = baton.ctx.clock()
    try:
        lead = ownership.lead(baton.ctx, lead_of(body))
        authorize(baton.agreement, user_of(body), Action.PAUSE, owner=lead.owner)
        if lead.paused_at is not None:
            raise Refused("paused_before", until=lead.paused_until, by=lead.paused_by)
    except Refused as refusal:
        refuse(baton, body, refusal)
        return
    today = now.astimezone(baton.agreement.tz).date()
    view = baton.renderer.view(
        "pause_modal",
        lead=lead,
        tomorrow=(today + timedelta(days=1)).isoformat(),
        latest=pause.latest_day(baton.ctx, now).isoformat(),
    )
    view["private_metadata"] = json.dumps({"lead": lead.id, "channel": where(body)})
    baton.client.views_open(trigger_id=body["trigger_id"], view=view)


@acknowledged
def restore(body: dict[str, Any], baton: Baton) -> None:
    """The button in the sales manager's DM (or App Home) that puts a seller back."""
    seller = body["actions"][0]["value"]
    consequences.restore(baton.ctx, seller=seller, by=user_of(body))
    tell(baton, body, "restored", seller=seller)
    publish_home(baton, user_of(body))


@acknowledged
def refresh_home(body: dict[str, Any], baton: Baton) -> None:
    publish_home(baton, user_of(body))


@acknowledged
def go_away(body: dict[str, Any], baton: Baton) -> None:
    """App Home's switch: away until `/baton back`, or until the day picked."""
    user = user_of(body)
    day = body["actions"][0].get("selected_date") or ""
    until = availability.parse_until(day, baton.agreement, baton.ctx.clock())
    availability.go_away(baton.ctx, user=user, until=until)
    publish_home(baton, user)


@acknowledged
def come_back(body: dict[str, Any], baton: Baton) -> None:
    user = user_of(body)
    availability.come_back(baton.ctx, user=user)
    publish_home(baton, user)


def from_digest(ack: Ack, body: dict[str, Any], baton: Baton) -> None:
    """An option of a lead's menu in a digest does what the button it stands for does."""
    action = body["actions"][0]
    chosen, value = parse_digest_option((action.get("selected_option") or {}).get("value", ""))
    listener = IN_DIGESTS.get(chosen)
    if listener is None:
        ack()
        return
    as_button = {**action, "action_id": chosen, "value": value}
    listener(ack, {**body, "actions": [as_button]}, baton)


IN_DIGESTS: dict[str, Callable[[Ack, dict[str, Any], Baton], None]] = {
    ActionId.CLAIM: claim,
    ActionId.ASSIGN: open_assign,
    ActionId.EXTEND: open_extend,
    ActionId.MARK_CONTACTED: mark_contacted,
    ActionId.GIVE_FEEDBACK: open_feedback,
    ActionId.RELEASE: release,
    ActionId.PAUSE: open_pause,
}


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
    app.action(A.PAUSE.value)(open_pause)
    app.action(A.RESTORE.value)(restore)
    app.action(A.HOME_REFRESH.value)(refresh_home)
    app.action(A.AWAY.value)(go_away)
    app.action(A.AWAY_UNTIL.value)(go_away)
    app.action(A.BACK.value)(come_back)
    app.action(A.DIGEST.value)(from_digest)
