"""A local stand-in for the Slack Web API that answers the way Slack does.

Tests point the real ``slack_sdk.WebClient`` (and through it Bolt) at this server, so what
is exercised is the same HTTP, retry and error handling that runs in production. Where a
mock would accept anything, this server enforces what Slack enforces (authentication,
required arguments, Block Kit limits), so a message Slack would reject fails the test
instead of failing in front of a sales team.

`baton demo` runs Baton against it too, strict (`strict=True`: trigger ids expire after 3 s
and work once, as Slack's do) and at Slack's pace (`pace_posts`), on the demo's clock; the
demo's page reads what each person sees from it (`snapshot`) instead of from Slack.

The server and call log (`server`), chat.* (`chat`), conversations.* and history paging
(`conversations`), files_upload_v2's three steps and images of uploaded files (`files`),
views, triggers and what a person sees (`views`), and users.* (`users`) are mixins of
`FakeSlack`, which holds their state. Standard library only, bound to 127.0.0.1 on a free
port, served from a daemon thread.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from bot.demo.slack_standin.calls import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, Call, _Plan
from bot.demo.slack_standin.chat import ChatMixin
from bot.demo.slack_standin.conversations import ConversationsMixin
from bot.demo.slack_standin.files import FilesMixin
from bot.demo.slack_standin.server import ServerMixin
from bot.demo.slack_standin.users import UsersMixin
from bot.demo.slack_standin.views import ViewsMixin

_ID_CHARS = string.ascii_uppercase + string.digits


class FakeSlack(ServerMixin, ChatMixin, ConversationsMixin, FilesMixin, ViewsMixin, UsersMixin):
    """A Slack Web API double that the real ``WebClient`` can talk to.

    Usage::

        with FakeSlack() as fake:
            client = WebClient(token="xoxb-test", base_url=fake.url)
            client.chat_postMessage(channel="C1", text="hi")
            (call,) = fake.wait_for("chat.postMessage")
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, strict: bool = False) -> None:
        """``clock`` gives Slack's time (seconds since the epoch) for every ``ts``: the demo's
        runs faster, and Baton, reading when Slack took a card from its ``ts``, must agree.

        ``strict`` refuses what Slack refuses and tests usually leave out: a trigger id this
        server did not hand out (``issue_trigger``) or handed out over 3 s ago, or used once.
        """
        self.calls: list[Call] = []
        self._clock = clock
        self._strict = strict
        self._triggers: dict[str, tuple[str, float]] = {}  # id -> (user, monotonic issued)
        self._spent: set[str] = set()
        self._ephemeral: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}  # open modals by view id
        self._homes: dict[str, dict[str, Any]] = {}  # published App Home views by user
        self.version = 0  # goes up with every change a person could see
        self.socket_url: str | None = None  # what apps.connections.open hands out, if set
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._plans: dict[str, list[_Plan]] = {}
        self._down: _Plan | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._last_ts = 0
        self._id_counter = 0
        self._history: dict[str, list[dict[str, Any]]] = {}
        self._threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._dm_channels: dict[str, str] = {}
        self._published_views: dict[str, str] = {}
        self._external_views: dict[str, str] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._pace: tuple[float, int] | None = None
        self._arrival: dict[str, float] = {}
        self._outside: set[str] = set()  # channels the bot is not a member of
        self._files: dict[str, dict[str, Any]] = {}  # uploads by file id, bytes included

    def _methods(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "apps.connections.open": self._apps_connections_open,
        }

    def _next_ts(self) -> str:
        """Slack's ts: the time the message was posted, in microseconds, unique and increasing."""
        micros = max(int(self._clock() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        """An id shaped like Slack's: its kind's letter, then ten capitals and digits."""
        self._id_counter += 1
        return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(10))


__all__ = ["APP_ID", "BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "FakeSlack"]
