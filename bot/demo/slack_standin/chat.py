"""The stand-in's chat.* methods, checking text and blocks as Slack does.

A mixin of `FakeSlack`, whose `__init__` holds the state it works on.
"""

from __future__ import annotations

from typing import Any

from bot.demo.block_rules import (
    MESSAGE_BLOCK_LIMIT,
    BlockError,
    check_blocks,
)
from bot.demo.slack_standin.calls import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    _maybe_json,
    _missing,
)

MESSAGE_TEXT_LIMIT = 40_000


class ChatMixin:
    """Posting, editing and linking messages."""

    def _message_problem(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """Check text and blocks the way chat.postMessage/chat.update do."""
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks and not params.get("attachments"):
            return {"ok": False, "error": "no_text"}
        if isinstance(text, str) and len(text) > MESSAGE_TEXT_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        if blocks:
            try:
                check_blocks(_maybe_json(blocks), MESSAGE_BLOCK_LIMIT)
            except BlockError as e:
                return {
                    "ok": False,
                    "error": "invalid_blocks",
                    "errors": [e.message],
                    "response_metadata": {"messages": [e.slack_message()]},
                }
            except ValueError:
                return {"ok": False, "error": "invalid_blocks_format"}
            return self._file_problem(_maybe_json(blocks))
        return None

    def _refusal(self, params: dict[str, Any], needed: str | None = None) -> dict[str, Any] | None:
        """Slack's answer to a message call without a channel, without the `needed`
        parameter, or with text or blocks it refuses; None for a call it takes."""
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if needed and not params.get(needed):
            return _missing(needed)
        return self._message_problem(params)

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text", ""),
            "ts": ts,
        }
        if params.get("blocks"):
            message["blocks"] = _maybe_json(params["blocks"])
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        if params.get("metadata"):
            message["metadata"] = _maybe_json(params["metadata"])
        return message

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        problem = self._refusal(params)
        if problem:
            return problem
        ts = self._next_ts()
        channel = self._resolve_channel(str(params["channel"]))
        message = self._message(params, ts)
        if params.get("thread_ts"):
            self._threads.setdefault((channel, str(params["thread_ts"])), []).append(message)
        else:
            self._history.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        problem = self._refusal(params, needed="ts")
        if problem:
            return problem
        ts = str(params["ts"])
        message = self._message(params, ts)
        history = self._history.get(str(params["channel"]), [])
        for i, stored in enumerate(history):
            if stored["ts"] == ts:  # edited in place; its metadata stays unless replaced
                message = history[i] = {**stored, **message}
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": ts,
            "text": params.get("text", ""),
            "message": dict(message),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        problem = self._refusal(params, needed="user")
        if problem:
            return problem
        ts = self._next_ts()
        message = {**self._message(params, ts), "channel": params["channel"]}
        self._ephemeral.append({**message, "user": params["user"]})
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        ts = params.get("message_ts")
        if not ts:
            return _missing("message_ts")
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://test.slack.com/archives/{channel}/p{str(ts).replace('.', '')}",
        }
