"""What the local stand-ins for HubSpot and Pipedrive share: a JSON HTTP server on 127.0.0.1
(port 0), every request recorded, and failures planned ahead (a 429 with or without
`Retry-After`, a 5xx, a connection dropped after the work was done or before).

Standard library only, served from a daemon thread; each CRM's fake adds its routes and
answers in its own error shape.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from bot.demo import local_http


@dataclass
class Call:
    """One request as the server saw it, and the status it was answered with."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Plan:
    kind: Literal["429", "5xx", "drop"]
    times: int
    route: str | None
    retry_after: str | None = None
    after_work: bool = False  # for "drop": the change is made, the answer is lost


class Refused(Exception):
    """Raised by a route: answer with this status and the CRM's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Route = Callable[[Call, re.Match[str]], Reply]


class FakeCrm:
    """Subclasses set `routes` ((method, pattern, handler) triples) and the error shapes."""

    name = "crm"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.RLock()
        self._plans: list[_Plan] = []
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        handler = local_http.handler(
            self._handle,
            methods=("GET", "POST", "PATCH", "PUT", "DELETE"),
            protocol="HTTP/1.1",
            no_delay=True,
        )
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # to be given by each CRM --------------------------------------------------------------

    def authorised(self, call: Call) -> bool:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        raise NotImplementedError

    def limit_reply(self, retry_after: str | None) -> Reply:
        raise NotImplementedError

    # planning failures -------------------------------------------------------------------

    def fail(
        self,
        kind: Literal["429", "5xx", "drop"],
        *,
        times: int = 1,
        route: str | None = None,
        retry_after: str | None = None,
        after_work: bool = False,
    ) -> None:
        """The next `times` requests (to paths containing `route`, if given) fail so."""
        with self.lock:
            self._plans.append(_Plan(kind, times, route, retry_after, after_work))

    def route(self, method: str, pattern: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def made(self, method: str, path_pattern: str) -> list[Call]:
        """The answered (2xx) calls of a method to paths matching a pattern."""
        pattern = re.compile(f"^{path_pattern}$")
        return [
            c
            for c in self.calls
            if c.method == method and pattern.match(c.path) and 200 <= c.status < 300
        ]

    # serving -----------------------------------------------------------------------------

    def _plan_for(self, call: Call) -> _Plan | None:
        with self.lock:
            for plan in self._plans:
                if plan.times > 0 and (plan.route is None or plan.route in call.path):
                    plan.times -= 1
                    return plan
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        call = Call(
            method=request.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            body=body,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        with self.lock:
            self.calls.append(call)
        plan = self._plan_for(call)
        if plan is not None and plan.kind == "drop":
            if plan.after_work:
                self._answer(call)
            call.status = -1
            request.close_connection = True
            request.connection.shutdown(socket.SHUT_RDWR)
            return
        if plan is not None and plan.kind == "429":
            reply = self.limit_reply(plan.retry_after)
        elif plan is not None:
            reply = Reply(503, self.error_body(503, "Service unavailable"))
        elif not self.authorised(call):
            reply = Reply(401, self.error_body(401, "Authentication credentials not found"))
        else:
            reply = self._answer(call)
        call.status = reply.status
        data = json.dumps(reply.body).encode() if reply.body is not None else b""
        local_http.send_json(
            request,
            reply.status,
            data,
            reply.headers,
            content_type="application/json;charset=utf-8",
        )

    def _answer(self, call: Call) -> Reply:
        for method, pattern, handler in self.routes:
            match = pattern.match(call.path)
            if method == call.method and match:
                try:
                    with self.lock:
                        return handler(call, match)
                except Refused as refused:
                    return Reply(refused.status, self.error_body(refused.status, refused.message))
        return Reply(404, self.error_body(404, f"no route {call.method} {call.path}"))
