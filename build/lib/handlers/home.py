"""App Home: each person's view of the shared pipeline."""

import logging
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.overview import home
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def publish_home(baton: Runtime, user: str) -> None:
    view = baton.renderer.view("home", **home(baton.ctx, user))
    try:
        baton.client.views_publish(user_id=user, view=view)
    except SlackApiError as error:
        log.warning("could not publish App Home for %s: %s", user, error.response.get("error"))


def home_opened(event: dict[str, Any], baton: Runtime) -> None:
    """Slack is answered first (Bolt acknowledges events after this returns); the view,
    which reads the whole pipeline, is published after."""
    if event.get("tab", "home") == "home":
        baton.later(publish_home, baton, event["user"])


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
