"""Slack listeners: parse the payload, call one domain service, acknowledge, answer."""

from typing import TYPE_CHECKING

from slack_bolt import App, BoltContext

from handlers import actions, commands, views

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(app: App, runtime: "Runtime") -> None:
    @app.middleware
    def give_listeners_baton(context: BoltContext, next) -> None:
        context["baton"] = runtime
        next()

    actions.register(app)
    views.register(app)
    commands.register(app)
