"""The stand-in's HTTP server: serving, the call log, failure injection and Slack's
checks of every request (authentication, token type, unknown methods).

A mixin of `FakeSlack`, whose `__init__` holds the state it works on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from bot.demo import local_http
from bot.demo.block_rules import (
    MESSAGE_BLOCK_LIMIT,
    BlockError,
    check_blocks,
)
from bot.demo.slack_standin.calls import (
    RESPONSE_URL_PREFIX,
    Call,
    _error,
    _maybe_json,
    _parse_body,
    _Plan,
    _Reply,
    _token,
)
from bot.demo.slack_standin.files import UPLOAD_PREFIX

UPLOAD = "upload_url"
"""The name the call log gives a POST of a file's bytes to its upload URL, and under which a
failure of it is planned (`fail`, `rate_limit`, `server_error`, `disconnect`)."""

# Methods whose success changes what a person sees in Slack.
_SEEN_CHANGES = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.push"}
    | {"views.update", "views.publish"}
)


class ServerMixin(local_http.LocalServer):
    """Serving, recording and failing calls, and dispatching them to the methods."""

    @property
    def url(self) -> str:
        """Base URL for ``WebClient(base_url=...)``; slack_sdk appends the method name."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "r") -> str:
        """A URL that accepts what Slack's ``response_url`` accepts, recorded as ``response_url``.

        Put it in a signed payload so ``respond()`` in a listener lands here.
        """
        return f"http://127.0.0.1:{self.port}{RESPONSE_URL_PREFIX}{quote(key, safe='')}"

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
            return local_http.next_plan(self._plans.get(method) or [])

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

    # HTTP plumbing -----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return local_http.handler(self._serve)

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        at = time.monotonic()
        split = urlsplit(request.path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(split.query, keep_blank_values=True))
        params.update(_parse_body(raw, headers.get("content-type", "")))

        if split.path.startswith(UPLOAD_PREFIX):
            self._serve_upload(
                request,
                Call(method=UPLOAD, params={}, headers=headers, at=at, path=split.path),
                raw,
            )
            return
        if split.path.startswith("/api/"):
            method = split.path[len("/api/") :]
        elif split.path.startswith(RESPONSE_URL_PREFIX):
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

    def _serve_upload(self, request: BaseHTTPRequestHandler, call: Call, raw: bytes) -> None:
        """A file's bytes POSTed to the URL `files.getUploadURLExternal` handed out. Slack's
        answer is plain text, `OK - <length>`; a failure planned for `UPLOAD` answers as the
        upload service would (a 429 with Retry-After, a 5xx, a dropped connection)."""
        plan = self._take_plan(UPLOAD)
        if plan is not None and plan.kind == "dropped":
            if plan.accepted:
                self._take_upload(call.path[len(UPLOAD_PREFIX) :], raw)
            call.answered = "dropped"
            self._record(call)
            request.close_connection = True
            return
        if plan is not None:
            reply = self._planned_reply(plan)
            status, text, headers = reply.status, json.dumps(reply.body), reply.headers
            call.answered = reply.answered
        else:
            status, text = self._take_upload(call.path[len(UPLOAD_PREFIX) :], raw)
            headers = {}
            call.answered = "ok" if status == 200 else "error"
        call.params = {"length": len(raw)}
        call.response = {"status": status, "body": text}
        self._record(call)
        body = text.encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, reply: _Reply) -> None:
        body = json.dumps(reply.body if reply.body is not None else {}).encode()
        local_http.send_json(request, reply.status, body, reply.headers)

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
