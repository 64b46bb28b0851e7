"""Slack listeners: parse the payload, call one domain service, acknowledge, answer."""

from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.deduplication import first_delivery
from bot.slack.baton import Baton
from handlers import actions, commands, home, views


def register(app: App, runtime: Baton) -> None:
    @app.middleware
    def give_listeners_baton(context: BoltContext, next) -> None:
        context["baton"] = runtime
        next()

    @app.middleware
    def once_per_event(body: dict[str, Any], next) -> BoltResponse | None:
        """Slack retries an event it thinks was missed; the same event id is handled once."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if (
            isinstance(event_id, str)
            and event_id
            and not first_delivery(runtime.ctx, event_id, platform="slack")
        ):
            return BoltResponse(status=200, body="")
        return next()

    actions.register(app)
    views.register(app)
    commands.register(app)
    home.register(app)
