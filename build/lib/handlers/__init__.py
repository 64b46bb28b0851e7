"""Slack listeners: parse the payload, call one domain service, acknowledge, answer."""

from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.inbox import first_delivery
from handlers import actions, commands, home, views

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(app: App, runtime: "Runtime") -> None:
    @app.middleware
    def give_listeners_baton(context: BoltContext, next) -> None:
        context["baton"] = runtime
        next()

    @app.middleware
    def once_per_event(body: dict[str, Any], next) -> BoltResponse | None:
        """Slack retries an event it thinks was missed; the same event id is handled once."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id and not first_delivery(runtime.ctx, event_id):
            return BoltResponse(status=200, body="")
        return next()

    actions.register(app)
    views.register(app)
    commands.register(app)
    home.register(app)
