"""Slack's answers first: background work waits while the process is answering Slack.

Python runs one thread at a time. Fifty clicks at once are fifty answers Slack waits for,
each a millisecond of work, and the claims, card updates and deliveries they cause are
several times that; run side by side, every answer would wait behind the others' work. So
the threads doing that work (the click workers and the courier) let the answers go first:
before each piece of work they wait until no answer is being made, a short while at most,
so that work never starves under a steady stream of clicks.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The longest a piece of background work waits for answers to be made before it goes anyway.
MOST = 0.25


class Answers:
    """Counts the Slack requests being answered right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._quiet = threading.Event()
        self._quiet.set()

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._lock:
            self._busy += 1
            self._quiet.clear()
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                if not self._busy:
                    self._quiet.set()

    def let_through(self, most: float = MOST) -> None:
        """Wait until no answer is being made, `most` seconds at the longest."""
        self._quiet.wait(most)
