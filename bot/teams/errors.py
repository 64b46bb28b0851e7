"""What a failed call to Microsoft means for the message: wait, try again later, or give up.

The same three outcomes the outbox knows from Slack (`bot.courier`): a 429 holds the call
until `Retry-After`; Microsoft not answering (502, 503, 504, a timeout, a dropped connection)
is an outage the message waits out, not its fault; anything else is refused, either for good
(a dead letter an operator looks at) or worth another try with backoff. Which is which
follows Microsoft's table of the Bot Connector's status codes and its retry guidance
("Status codes from bot conversational APIs"): retry 412, 429, 502, 503 and 504, nothing else.
"""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

UNAVAILABLE = frozenset({502, 503, 504})
"""Microsoft's trouble: retried with backoff, however long it lasts."""
RETRY = frozenset({"PreconditionFailed"})
"""Refusals worth another try: 412, concurrent operations on the same conversation."""


class TeamsError(Exception):
    """A call to Microsoft that did not do what was asked (or may have, see `maybe_done`)."""

    def __init__(self, operation: str, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(f"{operation}: {code or status or 'error'}: {message}")
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message

    maybe_done = False
    """Whether Microsoft may have done it anyway (the answer was lost): look before redoing."""


class RateLimited(TeamsError):
    """429: nothing more to this operation until `retry_after` has passed."""

    def __init__(self, operation: str, message: str, *, retry_after: timedelta, code: str = ""):
        super().__init__(operation, message, status=429, code=code or "Throttled")
        self.retry_after = retry_after


class Unavailable(TeamsError):
    """Microsoft did not answer: a 502/503/504, a timeout, a dropped connection."""

    def __init__(self, operation: str, message: str, *, status: int = 0, maybe_done: bool):
        super().__init__(operation, message, status=status)
        self.maybe_done = maybe_done


class Refused(TeamsError):
    """Microsoft answered no. `permanent`: no retry can help (the app, the conversation, the
    message as built); otherwise another try later may succeed."""

    @property
    def permanent(self) -> bool:
        return self.code not in RETRY


def from_response(operation: str, response: httpx.Response) -> TeamsError:
    """The error a failed answer stands for, with Microsoft's code and message when it gave
    them: the connector's `{"error": {"code", "message"}}`, Entra's `{"error",
    "error_description"}`, or the gateway's `{"message"}`."""
    status = response.status_code
    code, message = _read(response)
    if status == 429:
        return RateLimited(operation, message, retry_after=retry_after(response.headers), code=code)
    if status in UNAVAILABLE:
        return Unavailable(operation, message or f"HTTP {status}", status=status, maybe_done=True)
    return Refused(operation, message or f"HTTP {status}", status=status, code=code)


def from_transport(operation: str, error: httpx.TransportError) -> Unavailable:
    """No answer. A refused or timed-out connection never carried the request; any other
    failure (a read timeout, a dropped connection) may have come after Microsoft acted."""
    sent = not isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    text = str(error) or type(error).__name__
    return Unavailable(operation, text, maybe_done=sent)


def retry_after(headers: httpx.Headers) -> timedelta:
    """`Retry-After` in seconds (or an HTTP date, counted from the answer's `Date`); one
    second when absent or unreadable, an hour at most."""
    value = headers.get("retry-after") or ""
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (
                parsedate_to_datetime(value) - parsedate_to_datetime(headers["date"])
            ).total_seconds()
        except (KeyError, TypeError, ValueError):
            seconds = 1.0
    return timedelta(seconds=min(3600.0, max(1.0, seconds)))


def _read(response: httpx.Response) -> tuple[str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        return "", response.text[:300]
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):  # the Bot Connector
        return str(error.get("code") or ""), str(error.get("message") or "")
    if isinstance(error, str):  # Microsoft Entra
        return error, str(body.get("error_description") or "")
    return "", str(body.get("message") or "")
