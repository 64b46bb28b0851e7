"""The /baton slash command: help, mine, open, stats, history, agreement, lead, away, back."""

from typing import Any

from slack_bolt import Ack, App

from bot import availability, history, overview, reports
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.slack.baton import Baton
from handlers.home import publish_home


def baton_command(ack: Ack, command: dict[str, Any], body: dict[str, Any], baton: Baton) -> None:
    text = (command.get("text") or "").strip()
    word = text.split()[0].lower() if text else "help"
    user = command["user_id"]
    render = baton.renderer
    if word == "lead":
        try:
            authorize(baton.agreement, user, Action.HAND_OVER)
        except Refused as refusal:
            ack(response_type="ephemeral", **render.notice(refusal.reason, **refusal.details))
            return
        ack()
        baton.client.views_open(trigger_id=body["trigger_id"], view=render.view("handover_modal"))
    elif word == "mine":
        ack(**render.message("mine", items=overview.mine(baton.ctx, user)))
    elif word == "open":
        ack(**render.message("open", items=overview.open_leads(baton.ctx)))
    elif word == "stats":
        ack(**render.message("stats", card=reports.this_week(baton.ctx).as_json()))
    elif word == "history":
        key = text.partition(" ")[2].strip()
        try:
            authorize(baton.agreement, user, Action.READ_HISTORY)
        except Refused as refusal:
            ack(response_type="ephemeral", **render.notice(refusal.reason, **refusal.details))
            return
        if not key:
            ack(**render.message("help", text=text))
            return
        found = history.find(baton.ctx, key)
        ack(**render.message("history", key=key, histories=found, details=history.details))
    elif word in ("away", "back"):
        reason, details = _availability(baton, user, word, text)
        ack(response_type="ephemeral", **render.notice(reason, **details))
        baton.later(publish_home, baton, user)
    elif word == "agreement":
        ack(**render.message("agreement"))
    else:
        ack(**render.message("help", text=text))


def _availability(baton: Baton, user: str, word: str, text: str) -> tuple[str, dict[str, Any]]:
    """`/baton away [until DATE]` or `/baton back`: the notice that answers it."""
    ctx = baton.ctx
    try:
        if word == "back":
            return ("back" if availability.come_back(ctx, user=user) else "not_away"), {}
        until = availability.parse_until(text.partition(" ")[2], ctx.agreement, ctx.clock())
        away = availability.go_away(ctx, user=user, until=until)
    except Refused as refusal:
        return refusal.reason, refusal.details
    back_on = away.away_until.astimezone(ctx.agreement.tz).date() if away.away_until else None
    return "away", {"until": back_on}


def register(app: App) -> None:
    app.command("/baton")(baton_command)
