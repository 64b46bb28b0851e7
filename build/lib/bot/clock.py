"""Time as a dependency, so every rule about deadlines can be tested without sleeping."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The production clock: timezone-aware UTC, never a naive `utcnow()`."""
    return datetime.now(UTC)
