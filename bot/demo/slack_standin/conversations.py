"""The stand-in's conversations: DMs, channels the bot is not in, conversations.* and
the paging of history and replies as Slack pages them.

A mixin of `FakeSlack`, whose `__init__` holds the state it works on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.demo.slack_standin.calls import (
    _flag,
    _missing,
)

HISTORY_LIMIT = 999  # the most conversations.history and .replies hand out in one page


class ConversationsMixin:
    """What is posted where, and the conversations.* methods that read it."""

    # workspace data ----------------------------------------------------------------------

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel id Slack would use for the bot and ``user_id``."""
        with self._lock:
            return self._dm_for((user_id,))

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages in ``channel`` (a DM: its D… id), oldest first, metadata included.

        What is in Slack, whatever the poster heard back: a message whose answer was lost
        (``disconnect(..., after_accepting=True)``) is here but in no ``ok`` call.
        """
        with self._lock:
            return [dict(m) for m in self._history.get(channel, [])]

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in the thread under ``thread_ts``, oldest first, metadata included."""
        with self._lock:
            return [dict(m) for m in self._threads.get((channel, thread_ts), [])]

    def remove_bot(self, channel: str) -> None:
        """The bot is not a member of ``channel`` (as before ``/invite @Baton``).

        ``conversations.info`` then says ``is_member: false`` for a public channel and, as
        Slack does for a private one the bot cannot see, ``channel_not_found`` for a G… id.
        """
        with self._lock:
            self._outside.add(channel)

    def _dm_for(self, users: tuple[str, ...]) -> str:
        key = ",".join(sorted(users))
        if key not in self._dm_channels:
            if len(users) == 1:
                self._dm_channels[key] = "D" + users[0][1:]
            else:
                self._dm_channels[key] = self._next_id("G")
        return self._dm_channels[key]

    def _resolve_channel(self, channel: str) -> str:
        if channel[:1] in ("U", "W"):
            return self._dm_for((channel,))
        return channel

    def _is_conversation(self, channel: str) -> bool:
        """Channels (C…, G…) exist in the workspace; a DM only once it has been opened."""
        return (
            channel[:1] in ("C", "G")
            or channel in self._history
            or channel in self._dm_channels.values()
        )

    def _unseen(self, channel: str) -> dict[str, Any] | None:
        """Slack's answer to a read that names no conversation, or one that does not exist."""
        if not channel:
            return _missing("channel")
        if not self._is_conversation(channel):
            return {"ok": False, "error": "channel_not_found"}
        return None

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"ok": True, "channel": {"id": params["channel"]}, "already_open": True}
        users = params.get("users")
        if isinstance(users, list):
            ids = tuple(str(u) for u in users)
        else:
            ids = tuple(u.strip() for u in str(users or "").split(",") if u.strip())
        if not ids:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(ids) > 8:
            return {"ok": False, "error": "too_many_users"}
        key = ",".join(sorted(ids))
        already = key in self._dm_channels
        return {"ok": True, "channel": {"id": self._dm_for(ids)}, "already_open": already}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """A conversation as a bot token with channels:read and groups:read sees it."""
        channel = str(params.get("channel") or "")
        refused = self._unseen(channel)
        if refused:
            return refused
        private = channel.startswith("G")
        if private and channel in self._outside:
            return {"ok": False, "error": "channel_not_found"}
        is_im = channel.startswith("D")
        info: dict[str, Any] = {
            "id": channel,
            "created": 1700000000,
            "is_archived": False,
            "is_im": is_im,
            "is_private": private or is_im,
        }
        if not is_im:
            info |= {
                "name": channel.lower(),
                "is_channel": not private,
                "is_group": private,
                "is_general": False,
                "is_member": channel not in self._outside,
            }
        return {"ok": True, "channel": info}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first, between ``oldest`` and ``latest``."""
        channel = str(params.get("channel") or "")
        refused = self._unseen(channel)
        if refused:
            return refused
        within = _window(params)
        if isinstance(within, dict):
            return within
        found = [m for m in reversed(self._history.get(channel, [])) if within(m["ts"])]
        return _page([self._as_read(channel, m, params) for m in found], params, default_limit=100)

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """A thread oldest first: its parent, then the replies between ``oldest`` and ``latest``.

        The parent always leads the first page, as Slack returns it; later pages omit it.
        """
        channel = str(params.get("channel") or "")
        if not channel:
            return _missing("channel")
        ts = str(params.get("ts") or "")
        if not ts:
            return _missing("ts")
        if not self._is_conversation(channel):
            return {"ok": False, "error": "channel_not_found"}
        parent = next((m for m in self._history.get(channel, []) if m["ts"] == ts), None)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        within = _window(params)
        if isinstance(within, dict):
            return within
        thread = [parent, *(m for m in self._threads.get((channel, ts), []) if within(m["ts"]))]
        return _page(
            [self._as_read(channel, m, params) for m in thread], params, default_limit=1000
        )

    def _as_read(
        self, channel: str, message: dict[str, Any], params: dict[str, Any]
    ) -> dict[str, Any]:
        """A stored message as the read methods show it: metadata only when asked for."""
        shown = dict(message)
        if not _flag(params.get("include_all_metadata")):
            shown.pop("metadata", None)
        replies = self._threads.get((channel, message["ts"]))
        if replies:
            shown.update(
                thread_ts=message["ts"],
                reply_count=len(replies),
                latest_reply=replies[-1]["ts"],
            )
        return shown


def _ts(value: str) -> Decimal:
    """A Slack timestamp as a number that compares exactly (floats would round microseconds)."""
    number = Decimal(value)
    if not number.is_finite():
        raise InvalidOperation(value)
    return number


def _window(params: dict[str, Any]) -> Callable[[str], bool] | dict[str, Any]:
    """Whether a ts lies between ``oldest`` and ``latest`` (each excluded unless ``inclusive``),
    or Slack's error for a bound that is not a timestamp."""
    bounds: dict[str, Decimal | None] = {}
    for name in ("oldest", "latest"):
        value = params.get(name)
        try:
            bounds[name] = _ts(str(value)) if value not in (None, "") else None
        except InvalidOperation:
            return {"ok": False, "error": f"invalid_ts_{name}"}
    oldest, latest = bounds["oldest"], bounds["latest"]
    inclusive = _flag(params.get("inclusive"))

    def within(ts: str) -> bool:
        at = _ts(ts)
        if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
            return False
        return latest is None or at < latest or (at == latest and inclusive)

    return within


def _page(
    messages: list[dict[str, Any]], params: dict[str, Any], *, default_limit: int
) -> dict[str, Any]:
    """One page of ``messages`` from ``cursor`` on, with ``has_more`` and the next cursor.

    The cursor is Slack's shape, base64 of ``next_ts:<ts>``: it names the first message of
    the next page, so messages posted meanwhile neither repeat nor shift a page.
    """
    try:
        limit = min(HISTORY_LIMIT, max(1, int(params.get("limit") or default_limit)))
    except ValueError:
        return {"ok": False, "error": "invalid_limit"}
    start = 0
    cursor = params.get("cursor")
    if cursor:
        try:
            ts = base64.b64decode(str(cursor), validate=True).decode().removeprefix("next_ts:")
        except (binascii.Error, UnicodeDecodeError):
            return {"ok": False, "error": "invalid_cursor"}
        start = next((i for i, m in enumerate(messages) if m["ts"] == ts), -1)
        if start < 0:
            return {"ok": False, "error": "invalid_cursor"}
    shown = messages[start : start + limit]
    more = start + limit < len(messages)
    following = messages[start + limit]["ts"] if more else ""
    next_cursor = base64.b64encode(f"next_ts:{following}".encode()).decode() if more else ""
    return {
        "ok": True,
        "messages": shown,
        "has_more": more,
        "response_metadata": {"next_cursor": next_cursor},
    }
