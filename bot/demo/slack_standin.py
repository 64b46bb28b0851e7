"""A local stand-in for the Slack Web API that answers the way Slack does.

Tests point the real ``slack_sdk.WebClient`` (and through it Bolt) at this server, so what
is exercised is the same HTTP, retry and error handling that runs in production. Where a
mock would accept anything, this server enforces what Slack enforces (authentication,
required arguments, Block Kit limits), so a message Slack would reject fails the test
instead of failing in front of a sales team.

`baton demo` runs Baton against it too, strict (`strict=True`: trigger ids expire after 3 s
and work once, as Slack's do) and at Slack's pace (`pace_posts`), on the demo's clock; the
demo's page reads what each person sees from it (`snapshot`) instead of from Slack.

Standard library only, bound to 127.0.0.1 on a free port, served from a daemon thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from bot.demo.block_rules import (
    MESSAGE_BLOCK_LIMIT,
    BlockError,
    check_blocks,
    check_view,
)

Answered = Literal["ok", "error", "429", "5xx", "dropped"]

TEAM_ID = "T0TEAM"
TEAM_NAME = "Test"
BOT_USER_ID = "UBATON"
BOT_ID = "BBATON"
APP_ID = "A0BATON"
DEFAULT_TZ = "Europe/Copenhagen"

TRIGGER_LIFETIME = 3.0  # seconds a trigger id is good for, as in Slack
_ID_CHARS = string.ascii_uppercase + string.digits

MESSAGE_TEXT_LIMIT = 40_000
HISTORY_LIMIT = 999  # the most conversations.history and .replies hand out in one page
_RESPONSE_URL_PREFIX = f"/actions/{TEAM_ID}/"
# Methods whose success changes what a person sees in Slack.
_SEEN_CHANGES = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.push"}
    | {"views.update", "views.publish"}
)


@dataclass
class Call:
    """One request as the server saw it.

    ``headers`` has lower-cased names, because urllib and other clients disagree on the
    capitalisation of the same header. ``answered`` is what the server replied, so a test can
    count attempts (retries included) as well as successes. ``response`` is the JSON body
    that was sent back, which lets a test follow a ``ts`` or a view ``id`` it did not choose.
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    answered: Answered = "ok"
    response: dict[str, Any] | None = None
    path: str = ""

    @property
    def response_url_key(self) -> str | None:
        """The ``key`` given to ``FakeSlack.response_url`` for a ``response_url`` call."""
        if self.method != "response_url":
            return None
        return unquote(self.path[len(_RESPONSE_URL_PREFIX) :])

    def json(self, name: str) -> Any:
        """Return a parameter as parsed JSON however it travelled.

        slack_sdk sends ``blocks`` as a JSON string in form bodies but as a list in JSON
        bodies; tests should not have to care which encoding a method happens to use.
        """
        if name not in self.params:
            raise KeyError(
                f"{self.method} call has no parameter {name!r}; got {sorted(self.params)}"
            )
        value = self.params[name]
        if isinstance(value, str):
            return json.loads(value)
        return value

    def summary(self) -> str:
        """A one-line description for assertion messages."""
        keys = ("channel", "user", "user_id", "ts", "text", "view_id", "trigger_id")
        shown = {k: self.params[k] for k in keys if k in self.params}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        error = ""
        if self.response and not self.response.get("ok", True):
            error = f" error={self.response.get('error')}"
        return f"{self.method} [{self.answered}{error}] {text}"


@dataclass
class _Plan:
    """A failure to answer with instead of the normal reply, a given number of times."""

    kind: Literal["error", "429", "5xx", "dropped"]
    remaining: int
    error: str = ""
    status: int = 200
    retry_after: int = 1
    accepted: bool = False  # for "dropped": Slack did the work before the connection broke


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | None
    answered: Answered
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
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

    # lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Bind a free port and serve in the background; returns self for chaining."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeSlack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port, so the next test cannot reach a stale server."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(
                "FakeSlack is not started; call start() or use it as a context manager"
            )
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``; slack_sdk appends the method name."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "r") -> str:
        """A URL that accepts what Slack's ``response_url`` accepts, recorded as ``response_url``.

        Put it in a signed payload so ``respond()`` in a listener lands here.
        """
        return f"http://127.0.0.1:{self.port}{_RESPONSE_URL_PREFIX}{quote(key, safe='')}"

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

    def set_user(self, user_id: str, **fields: Any) -> None:
        """Override what ``users.info`` returns for a user (e.g. ``tz="America/New_York"``);
        with ``email=``, ``users.lookupByEmail`` finds them by that address."""
        with self._lock:
            self._users.setdefault(user_id, {}).update(fields)

    def remove_bot(self, channel: str) -> None:
        """The bot is not a member of ``channel`` (as before ``/invite @Baton``).

        ``conversations.info`` then says ``is_member: false`` for a public channel and, as
        Slack does for a private one the bot cannot see, ``channel_not_found`` for a G… id.
        """
        with self._lock:
            self._outside.add(channel)

    # failure injection -------------------------------------------------------------------

    def fail(self, method: str, error: str = "internal_error", *, times: int = 1) -> None:
        """Answer the next ``times`` calls with HTTP 200 ``{"ok": false, "error": error}``."""
        self._add_plan(method, _Plan(kind="error", remaining=times, error=error))

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls with 429 and ``Retry-After`` as Slack's limiter does."""
        self._add_plan(
            method, _Plan(kind="429", remaining=times, status=429, retry_after=retry_after)
        )

    def server_error(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` calls with an HTTP 5xx status."""
        if not 500 <= status <= 599:
            raise ValueError(f"server_error needs a 5xx status, got {status}")
        self._add_plan(method, _Plan(kind="5xx", remaining=times, status=status))

    def disconnect(self, method: str, *, times: int = 1, after_accepting: bool = False) -> None:
        """Close the next ``times`` connections without answering, like a dropped connection.

        By default the request is lost on the way in and nothing happens. With
        ``after_accepting`` Slack does what was asked (a message is posted) and the answer is
        lost on the way back: the case that a sender cannot tell from the first by itself.
        """
        self._add_plan(method, _Plan(kind="dropped", remaining=times, accepted=after_accepting))

    def outage(self, kind: Literal["5xx", "dropped"] = "5xx", *, status: int = 503) -> None:
        """Slack is down: every call to every method fails (HTTP `status`, or a connection
        closed without an answer) until ``recover()``."""
        with self._lock:
            self._down = _Plan(kind=kind, remaining=1, status=status)

    def recover(self) -> None:
        """Slack answers again after an ``outage()``."""
        with self._lock:
            self._down = None

    def pace_posts(self, *, per_second: float = 1.0, burst: int = 3) -> None:
        """From now on, keep ``chat.postMessage`` to Slack's pace per conversation, as Slack does:
        about ``per_second`` messages a second, with short bursts of ``burst``; a post beyond
        it is answered 429 with ``Retry-After: 1`` and not posted.

        Off by default, so tests of other behaviour may post as fast as they like; benchmarks
        that time what a person sees turn it on, so no figure can beat Slack's pace.
        """
        with self._lock:
            self._pace = (per_second, burst)

    def _over_pace(self, call: Call) -> bool:
        """A token bucket per conversation (GCRA), like Slack's per-channel limit."""
        if self._pace is None or call.method != "chat.postMessage":
            return False
        channel = str(call.params.get("channel") or "")
        if not channel:
            return False
        per_second, burst = self._pace
        interval = 1 / per_second
        with self._lock:
            key = self._resolve_channel(channel)
            arrival = self._arrival.get(key, call.at)
            if arrival - interval * (burst - 1) > call.at:
                return True
            self._arrival[key] = max(arrival, call.at) + interval
            return False

    def reset(self) -> None:
        """Forget recorded calls and pending failures; ids already handed out stay valid."""
        with self._lock:
            self.calls.clear()
            self._plans.clear()
            self._down = None

    def _add_plan(self, method: str, plan: _Plan) -> None:
        if plan.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._plans.setdefault(method, []).append(plan)

    def _take_plan(self, method: str) -> _Plan | None:
        with self._lock:
            if self._down is not None:
                return self._down
            plans = self._plans.get(method)
            if not plans:
                return None
            plan = plans[0]
            plan.remaining -= 1
            if plan.remaining <= 0:
                plans.pop(0)
            return plan

    # inspection --------------------------------------------------------------------------

    def calls_to(self, method: str, *, include_failed: bool = False) -> list[Call]:
        """Calls to ``method`` in arrival order; by default only those answered ``ok``."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method == method and (include_failed or c.answered == "ok")
            ]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        where: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        include_failed: bool = False,
    ) -> list[Call]:
        """Block until ``count`` matching calls arrived and return all matches.

        Listeners ack first and call Slack afterwards, often from another thread, so a test
        has to wait for the effect rather than assert on it straight away.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                matches = [
                    c
                    for c in self.calls_to(method, include_failed=include_failed)
                    if where is None or where(c)
                ]
                if len(matches) >= count:
                    return matches
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            arrived = list(self.calls)
        filt = " matching `where`" if where is not None else ""
        kind = "" if include_failed else " answered ok"
        lines = [
            f"expected {count} call(s) to {method}{kind}{filt} within {timeout:g}s, "
            f"got {len(matches)}.",
        ]
        if arrived:
            lines.append(f"{len(arrived)} call(s) arrived:")
            lines.extend(f"  {i}. {c.summary()}" for i, c in enumerate(arrived, 1))
        else:
            lines.append("No calls arrived at all (is the client's base_url the fake's url?).")
        raise AssertionError("\n".join(lines))

    def _record(self, call: Call) -> None:
        with self._arrived:
            self.calls.append(call)
            if call.answered == "ok" and call.method in _SEEN_CHANGES:
                self.version += 1
            self._arrived.notify_all()

    # what a person sees (the demo's page) -------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        """A trigger id as Slack puts in an interaction: good for one modal, for 3 s."""
        with self._lock:
            trigger = f"{int(self._clock())}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(10)}"
            self._triggers[trigger] = (user_id, time.monotonic())
            return trigger

    def _take_trigger(self, trigger: str) -> str | dict[str, Any]:
        """The user a trigger was issued to, or Slack's error for it."""
        issued = self._triggers.get(trigger)
        if issued is None:
            error = "exchanged_trigger_id" if trigger in self._spent else "invalid_trigger_id"
            return {"ok": False, "error": error} if self._strict else ""
        user, at = issued
        if time.monotonic() - at > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}
        del self._triggers[trigger]
        self._spent.add(trigger)
        return user

    def add_ephemeral(self, channel: str, user_id: str, message: dict[str, Any]) -> None:
        """Show a message to one person only, as Slack does with a slash command's answer."""
        with self._arrived:
            self._ephemeral.append({**message, "channel": channel, "user": user_id})
            self._ephemeral[-1]["ts"] = self._next_ts()
            self.version += 1
            self._arrived.notify_all()

    def view(self, view_id: str) -> dict[str, Any] | None:
        """An open modal or a published App Home by view id, as Slack holds it."""
        with self._lock:
            if view_id in self._views:
                return dict(self._views[view_id])
            for home in self._homes.values():
                if home["id"] == view_id:
                    return dict(home)
            return None

    def replace_view(self, view_id: str, view: dict[str, Any] | None) -> None:
        """After a submission: Slack closes the modal (None) or shows the view it was given."""
        with self._arrived:
            if view is None:
                self._views.pop(view_id, None)
            elif view_id in self._views:
                user = self._views[view_id]["user"]
                self._views[view_id] = {**self._view_object(view, view_id), "user": user}
            self.version += 1
            self._arrived.notify_all()

    def wait_change(self, after: int, timeout: float) -> int:
        """Block until something a person could see changed past version ``after``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self.version <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            return self.version

    def snapshot(self, user_id: str) -> dict[str, Any]:
        """What ``user_id`` sees: every conversation with its threads, their own ephemeral
        messages, their open modal and their App Home."""
        with self._lock:
            conversations = {
                channel: [
                    {**m, "replies": [dict(r) for r in self._threads.get((channel, m["ts"]), [])]}
                    for m in messages
                ]
                for channel, messages in self._history.items()
            }
            modal = next(
                (dict(v) for v in reversed(self._views.values()) if v["user"] == user_id), None
            )
            return {
                "version": self.version,
                "conversations": conversations,
                "ephemeral": [dict(m) for m in self._ephemeral if m["user"] == user_id],
                "modal": modal,
                "home": self._homes.get(user_id),
            }

    # HTTP plumbing -----------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self)

            def do_POST(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet; failures are reported through calls instead."""

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        at = time.monotonic()
        split = urlsplit(request.path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
        params.update(_parse_body(raw, headers.get("content-type", "")))

        if split.path.startswith("/api/"):
            method = split.path[len("/api/") :]
        elif split.path.startswith(_RESPONSE_URL_PREFIX):
            method = "response_url"
        else:
            self._send(request, _Reply(404, {"ok": False, "error": "not_found"}, "error"))
            return

        call = Call(method=method, params=params, headers=headers, at=at, path=split.path)
        plan = self._take_plan(method)
        if plan is not None and plan.kind == "dropped":
            if plan.accepted:
                call.response = self._answer(call, split.path).body
            call.answered = "dropped"
            self._record(call)
            request.close_connection = True
            return
        if plan is None and self._over_pace(call):
            plan = _Plan(kind="429", remaining=0, status=429, retry_after=1)
        reply = self._planned_reply(plan) if plan is not None else self._answer(call, split.path)
        call.answered = reply.answered
        call.response = reply.body
        self._record(call)
        self._send(request, reply)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, reply: _Reply) -> None:
        body = json.dumps(reply.body if reply.body is not None else {}).encode()
        request.send_response(reply.status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def _planned_reply(plan: _Plan) -> _Reply:
        if plan.kind == "error":
            return _Reply(200, {"ok": False, "error": plan.error}, "error")
        if plan.kind == "429":
            return _Reply(
                429,
                {"ok": False, "error": "ratelimited"},
                "429",
                {"Retry-After": str(plan.retry_after)},
            )
        error = "service_unavailable" if plan.status == 503 else "fatal_error"
        return _Reply(plan.status, {"ok": False, "error": error}, "5xx")

    # Slack behaviour ---------------------------------------------------------------------

    def _answer(self, call: Call, path: str) -> _Reply:
        if call.method == "response_url":
            return self._answer_response_url(call)
        token = _token(call)
        if not token:
            return _error("not_authed")
        if not token.startswith(("xoxb-", "xoxp-", "xoxe", "xapp-", "xoxa-", "xoxs-")):
            return _error("invalid_auth")
        is_app_token = token.startswith("xapp-")
        if call.method == "apps.connections.open":
            if not is_app_token:
                return _error("not_allowed_token_type")
        elif is_app_token and call.method != "auth.test":
            return _error("not_allowed_token_type")
        handler = self._methods().get(call.method)
        if handler is None:
            return _error("unknown_method")
        with self._lock:
            body = handler(call.params)
        return _Reply(200, body, "ok" if body.get("ok") else "error")

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
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "apps.connections.open": self._apps_connections_open,
        }

    def _answer_response_url(self, call: Call) -> _Reply:
        try:
            if "blocks" in call.params:
                check_blocks(_maybe_json(call.params["blocks"]), MESSAGE_BLOCK_LIMIT)
        except BlockError as e:
            return _Reply(
                400, {"ok": False, "error": "invalid_blocks", "errors": [e.message]}, "error"
            )
        except ValueError:
            return _Reply(400, {"ok": False, "error": "invalid_blocks_format"}, "error")
        return _Reply(200, {"ok": True}, "ok")

    def _next_ts(self) -> str:
        """Slack's ts: the time the message was posted, in microseconds, unique and increasing."""
        micros = max(int(self._clock() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        """An id shaped like Slack's: its kind's letter, then ten capitals and digits."""
        self._id_counter += 1
        return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(10))

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

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": TEAM_NAME,
            "user": "baton",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

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
        return None

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
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        problem = self._message_problem(params)
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
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("ts"):
            return _missing("ts")
        problem = self._message_problem(params)
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
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return _missing("user")
        problem = self._message_problem(params)
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
        if not channel:
            return _missing("channel")
        if not self._is_conversation(channel):
            return {"ok": False, "error": "channel_not_found"}
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
        if not channel:
            return _missing("channel")
        if not self._is_conversation(channel):
            return {"ok": False, "error": "channel_not_found"}
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

    def _view_problem(self, view: Any, *, home: bool) -> dict[str, Any] | None:
        try:
            check_view(view, home=home)
        except BlockError as e:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [e.slack_message()]},
            }
        return None

    def _view_object(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "type": view.get("type"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._id_counter:08d}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": view_id,
            "previous_view_id": None,
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not (params.get("trigger_id") or params.get("interactivity_pointer")):
            return _missing("trigger_id")
        if not params.get("view"):
            return _missing("view")
        user = self._take_trigger(str(params.get("trigger_id") or ""))
        if isinstance(user, dict):
            return user
        view = _maybe_json(params["view"])
        problem = self._view_problem(view, home=False)
        if problem:
            return problem
        view_id = self._next_id("V")
        if view.get("external_id"):
            self._external_views[view["external_id"]] = view_id
        shown = self._view_object(view, view_id)
        if user:
            self._views[view_id] = {**shown, "user": user}
        return {"ok": True, "view": shown}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("view"):
            return _missing("view")
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and not external_id:
            return _missing("view_id")
        if not view_id:
            view_id = self._external_views.get(external_id)
            if view_id is None:
                return {"ok": False, "error": "not_found"}
        view = _maybe_json(params["view"])
        problem = self._view_problem(view, home=view.get("type") == "home")
        if problem:
            return problem
        shown = self._view_object(view, view_id)
        if view_id in self._views:
            self._views[view_id] = {**shown, "user": self._views[view_id]["user"]}
        return {"ok": True, "view": shown}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            return _missing("user_id")
        if not params.get("view"):
            return _missing("view")
        view = _maybe_json(params["view"])
        problem = self._view_problem(view, home=True)
        if problem:
            return problem
        if user_id not in self._published_views:
            self._published_views[user_id] = self._next_id("V")
        shown = self._view_object(view, self._published_views[user_id])
        self._homes[user_id] = shown
        return {"ok": True, "view": shown}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        overrides = dict(self._users.get(user_id, {}))
        is_bot = user_id == BOT_USER_ID
        name = overrides.pop("name", "baton" if is_bot else f"user.{user_id.lower()}")
        real_name = overrides.pop("real_name", "Baton" if is_bot else f"User {user_id}")
        tz = overrides.pop("tz", DEFAULT_TZ)
        email = overrides.pop("email", f"{name}@example.com")
        tz_label, tz_offset = _tz_details(tz)
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real_name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": {
                "real_name": real_name,
                "display_name": name,
                "email": email,
            },
        }
        user.update(overrides)
        return {"ok": True, "user": user}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        """Slack answers `users_not_found` for an address nobody in the workspace has."""
        email = str(params.get("email") or "").casefold()
        for user_id, fields in self._users.items():
            if str(fields.get("email", "")).casefold() == email and email:
                return self._users_info({"user": user_id})
        return {"ok": False, "error": "users_not_found"}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.socket_url or f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket"
        return {"ok": True, "url": url}


# helpers ---------------------------------------------------------------------------------


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw.decode("utf-8", errors="replace")
    if "application/json" in content_type:
        try:
            body = json.loads(text)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    if "application/x-www-form-urlencoded" in content_type or not content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    return {}


def _token(call: Call) -> str:
    auth = call.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[len("bearer ") :].strip()
    token = call.params.get("token")
    return token.strip() if isinstance(token, str) else ""


def _error(error: str) -> _Reply:
    return _Reply(200, {"ok": False, "error": error}, "error")


def _missing(name: str) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] missing required field: {name}"]},
    }


def _flag(value: Any) -> bool:
    """A boolean argument as slack_sdk sends it: ``1``/``0`` in a query, ``true`` in JSON."""
    return value is True or str(value).lower() in ("1", "true")


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


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value


def _tz_details(tz: str) -> tuple[str, int]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (KeyError, ValueError):
        return tz, 0
    offset = now.utcoffset()
    return (now.tzname() or tz), int(offset.total_seconds()) if offset else 0


__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "FakeSlack"]
