"""What the Slack stand-in records of a request (`Call`) and the shapes of its answers,
with the workspace's ids and the parsing shared by every method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

Answered = Literal["ok", "error", "429", "5xx", "dropped"]

TEAM_ID = "T0TEAM"
TEAM_NAME = "Test"
BOT_USER_ID = "UBATON"
BOT_ID = "BBATON"
APP_ID = "A0BATON"
RESPONSE_URL_PREFIX = f"/actions/{TEAM_ID}/"


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
        return unquote(self.path[len(RESPONSE_URL_PREFIX) :])

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


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value
