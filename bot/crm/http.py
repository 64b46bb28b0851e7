"""One HTTP call to a CRM's API, its answer sorted into success or one of `bot.crm.errors`.

Both CRMs are spoken to with httpx, without retries of its own: a retry is the outbox's
decision (its backoff, its leases, its dead letters), never a sleep inside a client.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

import httpx

from bot.crm.errors import Permanent, RateLimited, Transient

TIMEOUT = 10.0  # seconds a call may take; the outbox's lease is longer than this
MAX_WAIT = timedelta(hours=1)  # the longest a 429 holds a CRM, whatever it asks for

Waiting = Callable[[httpx.Response], timedelta | None]
"""How long a CRM asks to be left alone when a 429 carries no `Retry-After`."""


def retry_after(response: httpx.Response, now: datetime | None = None) -> timedelta | None:
    """The `Retry-After` of an answer, in seconds or as an HTTP date; None if absent or bad."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return timedelta(seconds=max(0.0, seconds))


class Api:
    """A CRM's base URL, its credentials as headers, and how it says "wait"."""

    def __init__(
        self,
        crm: str,
        base_url: str,
        headers: dict[str, str],
        *,
        describe: Callable[[httpx.Response], str],
        waiting: Waiting,
        timeout: float = TIMEOUT,
    ) -> None:
        self.crm = crm
        self.describe = describe
        self.waiting = waiting
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json", **headers},
            timeout=timeout,
        )

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        absent: frozenset[int] = frozenset(),
    ) -> Any:
        """The JSON body of a 2xx answer; None for a status in `absent` (a 404 that means "none").

        Raises `RateLimited` for a 429, `Transient` for a 5xx or a broken connection,
        `Permanent` for any other answer: the request itself is wrong and stays wrong."""
        try:
            response = self.client.request(method, path, params=params, json=json)
        except httpx.TransportError as error:
            raise Transient(self.crm, f"{method} {path}: {type(error).__name__}: {error}") from None
        if response.status_code in absent:
            return None
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise Transient(
                    self.crm, f"{method} {path}: answered {response.status_code} without JSON"
                ) from None
        what = f"{method} {path}: {response.status_code} {self.describe(response)}"
        if response.status_code == 429:
            wait = retry_after(response) or self.waiting(response) or timedelta(seconds=1)
            raise RateLimited(self.crm, what, retry_after=min(wait, MAX_WAIT))
        if response.status_code >= 500 or response.status_code == 408:
            raise Transient(self.crm, what, status=response.status_code)
        raise Permanent(self.crm, what, status=response.status_code)


class Client:
    """A CRM client's life, the same for every CRM: an `Api` made from a token, closed with it.

    A subclass names its CRM and says how its token is sent, how its errors read and how
    its 429 asks for a wait."""

    crm: ClassVar[str]

    def __init__(self, token: str, base_url: str, *, timeout: float = TIMEOUT) -> None:
        self.api = Api(
            self.crm,
            base_url,
            self.credentials(token),
            describe=self.describe,
            waiting=self.waiting,
            timeout=timeout,
        )

    @staticmethod
    def credentials(token: str) -> dict[str, str]:
        """The headers that carry `token`."""
        raise NotImplementedError

    @staticmethod
    def describe(response: httpx.Response) -> str:
        """The CRM's own words for an error answer."""
        raise NotImplementedError

    @staticmethod
    def waiting(response: httpx.Response) -> timedelta | None:
        """How long a 429 without `Retry-After` asks to wait."""
        raise NotImplementedError

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_text(response: httpx.Response, *keys: str) -> str:
    """The first of `keys` found in a JSON error body, or the start of the body as text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in keys:
            if body.get(key):
                return str(body[key])
    return response.text[:200]
