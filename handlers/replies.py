"""Answers to the one person who clicked: ephemeral in the channel, or a DM when there is none."""

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.refusals import Refused
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def tell(baton: Runtime, body: dict[str, Any], reason: str, **details: Any) -> None:
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    message = baton.renderer.notice(reason, **details)
    try:
        if channel:
            baton.client.chat_postEphemeral(channel=channel, user=user, **message)
        else:
            baton.client.chat_postMessage(channel=user, **message)
    except SlackApiError as error:
        code = str(error.response.get("error"))
        metrics.SLACK_ERRORS.labels(method="chat.postEphemeral", error=code).inc()
        log.warning("could not answer %s: %s", user, code)


def refuse(baton: Runtime, body: dict[str, Any], refusal: Refused) -> None:
    tell(baton, body, refusal.reason, **refusal.details)
