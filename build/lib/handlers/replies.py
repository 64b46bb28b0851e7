"""Answers to the one person who acted: ephemeral where they are, or a DM when that is unknown."""

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.refusals import Refused
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def where(body: dict[str, Any]) -> str | None:
    """The channel the person acted in, if the payload says."""
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def whisper(baton: Runtime, user: str, channel: str | None, message: dict[str, Any]) -> None:
    message = {key: value for key, value in message.items() if key != "response_type"}
    try:
        if channel:
            baton.client.chat_postEphemeral(channel=channel, user=user, **message)
        else:
            baton.client.chat_postMessage(channel=user, **message)
    except SlackApiError as error:
        code = str(error.response.get("error"))
        metrics.SLACK_ERRORS.labels(method="chat.postEphemeral", error=code).inc()
        log.warning("could not answer %s: %s", user, code)


def tell(baton: Runtime, body: dict[str, Any], reason: str, **details: Any) -> None:
    whisper(baton, body["user"]["id"], where(body), baton.renderer.notice(reason, **details))


def refuse(baton: Runtime, body: dict[str, Any], refusal: Refused) -> None:
    tell(baton, body, refusal.reason, **refusal.details)
