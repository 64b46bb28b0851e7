"""What a platform gives the outbox worker (`Transport`), and what the worker gives back."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session

from storage.models import Outbox


@dataclass(frozen=True)
class Answer:
    """How the platform answered a call that failed: an HTTP status (0 when the connection
    failed or no answer came), its error code, and how long it asked to wait."""

    status: int
    code: str
    retry_after: timedelta | None


@dataclass
class Sent:
    """What the platform took for a row, to record with it in one transaction."""

    message_id: str | None = None
    """The message's id where it landed, if a message was posted or updated."""
    conversation: str | None = None
    """The conversation it landed in (for a DM, the one the platform opened for the person)."""
    at: datetime | None = None
    """When the platform took it, if the transport knows better than the worker."""
    record: Callable[[Session], None] | None = None
    """More to record in the same transaction (where a card is, the clocks it starts)."""
    planned: list[datetime] = field(default_factory=list)
    """When the deadlines this message tells of were due, to measure how late it is."""
    platform: str | None = None
    """Where the row went, when not the transport's own platform (a CRM's name)."""
    started_clocks: bool = False
    """A lead's card landed and its clocks started: the clock arms a wake-up for them."""


class Limits(Protocol):
    """The transport's pace per conversation and its holds per method (`bot.slack.client`)."""

    def reserve(self, conversation: str, now: datetime) -> datetime: ...
    def not_before(self, method: str, now: datetime) -> datetime | None: ...
    def hold(self, method: str, until: datetime) -> None: ...
    def release(self, method: str) -> None: ...
    def next_change(self, now: datetime) -> datetime | None: ...


class Call(Protocol):
    """The worker's gate around one platform call: held methods wait, failures are sorted."""

    def __call__(
        self, row: Outbox, method: str, send: Callable[[], Any], conversation: str | None = None
    ) -> Any: ...


class Transport(Protocol):
    """What a platform gives the outbox: where a row goes, how to send it, how it fails."""

    platform: str
    """Its name, recorded with every message it delivers ("slack")."""
    paced: str
    """The method paced per conversation (Slack's chat.postMessage)."""
    permanent: frozenset[str]
    """Error codes another attempt cannot fix: the row goes to the dead letters."""
    timeout: float
    """Seconds one call may take; no call starts with less lease than this left."""
    limits: Limits

    def route(
        self, row: Outbox, placed: dict[str, tuple[str | None, str | None]]
    ) -> tuple[str, str | None] | None:
        """The method and conversation the row will use, or None when it calls nothing;
        `placed` is where the batch's leads have their cards (`leads.cards_of`)."""
        ...

    def deliver(self, row: Outbox, call: Call) -> Sent:
        """Send the row, every platform call through `call`; raise `Undeliverable` for a row
        nothing but an operator can fix."""
        ...

    def answer(self, error: Exception) -> Answer | None:
        """How the platform answered a call that raised `error`; None for anything else."""
        ...


class Undeliverable(Exception):
    """Nothing but an operator can make this row deliverable; it goes to the dead letters."""


class NotYet(Exception):
    """The row went part of the way and waits for the platform before the rest (an uploaded
    file it is still processing): hand it back, due at `until`, without counting an attempt."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason
