"""The /baton slash command: help, mine, open, stats, agreement, lead."""

from typing import Any

from slack_bolt import Ack, App

from bot import overview, reports
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.runtime import Runtime


def baton_command(ack: Ack, command: dict[str, Any], body: dict[str, Any], baton: Runtime) -> None:
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
        since = reports.week_start(baton.agreement, baton.ctx.clock())
        with baton.ctx.sessions() as session:
            week = reports.week(session=session, agreement=baton.agreement, since=since)
        ack(**render.message("stats", week=week))
    elif word == "agreement":
        ack(**render.message("agreement"))
    else:
        ack(**render.message("help", text=text))


def register(app: App) -> None:
    app.command("/baton")(baton_command)
