"""Logs a machine can search and a person can read.

With several replicas behind a load balancer, the way to follow one request or one lead
through the logs is a field to filter on. So every record is one JSON object per line (time,
level, logger, message, and `request_id` / `lead_id` when known), unless a person is watching
the terminal, who gets a plain line instead. The ids come from `extra={"lead_id": …}` on the
call, or from the context (`bound(...)`, and the request middleware below), so code deep in
the domain need not pass them around.

Secrets are masked on the way out: a token that slips into a message, an exception or an
`extra` never reaches the log store.
"""

import json
import logging
import random
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.slack.app import quiet_bolt

REQUEST_ID: ContextVar[str | None] = ContextVar("baton_request_id", default=None)
LEAD_ID: ContextVar[str | None] = ContextVar("baton_lead_id", default=None)
CONTEXT: dict[str, ContextVar[str | None]] = {"request_id": REQUEST_ID, "lead_id": LEAD_ID}

MASK = "[redacted]"
# Slack tokens (bot, user, app-level, refresh) and any bearer credential, wherever they appear.
_PATTERNS = (
    re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(?<=bearer )[^\s\"',]+"),
)
# What every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_QUIET_PATHS = frozenset({"/healthz", "/metrics"})


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Put `request_id` and/or `lead_id` on every record logged inside the block."""
    tokens = [(CONTEXT[name], CONTEXT[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Stamp the context's ids onto each record in the thread that logs it, where they are
    known; a value given with `extra=` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class Redactor:
    """Replaces the configured secrets and anything shaped like a Slack token or a bearer
    credential. Secrets shorter than 6 characters are ignored: masking "a" would mangle every
    line without protecting anything."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {secret for secret in secrets if secret and len(secret) >= 6}
        self.secrets = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(MASK, text)
        return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and key not in CONTEXT and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, `logger`, `message`, the ids, any extras,
    and `exception` with the traceback when there is one."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def _clean(self, value: Any) -> Any:
        """An extra as JSON keeps its structure; only its text is masked."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        text = self.redact(json.dumps(value, ensure_ascii=False, default=str))
        try:
            return json.loads(text)
        except ValueError:  # a mask cut through the JSON's punctuation: keep it as text
            return text

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = self._clean(value)
        for key, value in _extras(record).items():
            entry.setdefault(key, self._clean(value))
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    """`2026-11-26 16:30:49 INFO bot.delivery message  request_id=… lead_id=…`, for a terminal."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name}={value}"
            for name in CONTEXT
            if (value := getattr(record, name, None)) is not None
        ]
        if ids:
            head, newline, rest = line.partition("\n")
            line = f"{head}  {' '.join(ids)}{newline}{rest}"
        return self.redact(line)


# Libraries that log at INFO what no operator acts on: APScheduler a few lines for every job it
# adds and runs (each hand-over re-arms the clock, each sweep runs), Alembic its context
# (`storage.db.migrate` says in one line when it migrated). Their warnings still come through.
QUIET = ("apscheduler", "alembic")


def quiet_libraries() -> None:
    """Keep the log for what an operator needs: start-up in a few lines, no chatter per job."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    quiet_bolt()


def setup(
    *,
    level: int = logging.INFO,
    stream: IO[str] | None = None,
    json_lines: bool | None = None,
    secrets: Iterable[str | None] = (),
) -> logging.Handler:
    """Send every log record of the process to `stream` (stderr): JSON lines, or plain lines
    when the stream is a terminal. Calling it again replaces the handler it installed before."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.set_name("baton")
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(redact) if json_lines else HumanFormatter(redact))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "baton"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries()
    return handler


def _given_id(scope: Scope) -> str:
    """The caller's `X-Request-Id`, read straight from the scope: every request asks."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("latin-1")
    return ""


def _new_id() -> str:
    """32 hex digits, as a uuid4's: an id is unique, not secret, so it is drawn from `random`
    (seeded afresh in every process, forked ones too) for a tenth of what `uuid4` costs
    every request."""
    return f"{random.getrandbits(128):032x}"


class RequestContext:
    """ASGI middleware: a request id for every HTTP request, in the logging context while the
    request runs and in the answer's `X-Request-Id`, and one log line per request.

    A caller's own `X-Request-Id` is kept when it looks like an id, so a load balancer's or a
    client's id ties their logs to ours; anything else is replaced, because it would be written
    to every log line. Only the method and the path are logged: query strings and headers may
    carry credentials.
    """

    def __init__(self, app: ASGIApp, logger: str = "baton.http") -> None:
        self.app = app
        self.log = logging.getLogger(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _given_id(scope)
        request_id = given if _REQUEST_ID.match(given) else _new_id()
        status = 500
        answered = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        with bound(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Logged here, with the request id; the client gets the id to quote, never
                # the traceback.
                self.log.exception("%s %s failed", scope.get("method", ""), scope.get("path", ""))
                if answered:
                    raise
                await JSONResponse(
                    {"detail": "internal error", "request_id": request_id}, status_code=500
                )(scope, receive, send_with_id)
            finally:
                path = scope.get("path", "")
                level = logging.DEBUG if path in _QUIET_PATHS and status < 500 else logging.INFO
                self.log.log(
                    level,
                    "%s %s %s",
                    scope.get("method", ""),
                    path,
                    status,
                    extra={
                        "method": scope.get("method", ""),
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
