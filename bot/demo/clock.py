"""The demo's clock: the agreement's business time, sped up, agreed on by every process.

A claim window of an hour would keep a visitor waiting an hour. At `--speed 60` an hour
passes in a minute, so a reminder, an escalation to the sales manager and then to the CEO
all happen while someone watches. Baton and the Slack stand-in run in different processes;
each computes the same time from the same three numbers, so a message's `ts` (Slack's
clock) and Baton's deadlines (Baton's clock) agree as they do in production.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.agreement import Agreement


@dataclass(frozen=True)
class DemoClock:
    start: datetime
    """The demo's time when it started."""
    since: float
    """The real time (seconds since the epoch) when it started."""
    speed: float

    def now(self) -> datetime:
        """Baton's clock (`bot.clock.Clock`): timezone-aware UTC."""
        return self.start + timedelta(seconds=(time.time() - self.since) * self.speed)

    def epoch(self) -> float:
        """Slack's clock for the stand-in: seconds since the epoch."""
        return self.now().timestamp()

    def args(self) -> list[str]:
        """How to hand this clock to another process (see `bot.demo.baton`)."""
        return [
            "--start",
            self.start.isoformat(),
            "--since",
            repr(self.since),
            "--speed",
            repr(self.speed),
        ]


def opening_after(agreement: Agreement, at: datetime) -> datetime:
    """The next moment the office opens after `at`: a whole business day lies ahead.

    Never before the real time, so the clock only runs ahead of the real one: Baton arms its
    wake-ups in real time, and one armed in the past would fire again and again.
    """
    calendar = agreement.calendar
    if calendar.is_24_7:
        return at
    hours = agreement.business_hours
    assert hours is not None
    day = at.astimezone(agreement.tz).date()
    for _ in range(60):
        opening = datetime.combine(day, hours.start, agreement.tz)
        if opening > at and calendar.is_open(opening):
            return opening.astimezone(UTC)
        day += timedelta(days=1)
    return at


def starting(agreement: Agreement, speed: float) -> DemoClock:
    """A clock that starts at the next opening of the office and runs `speed` times as fast."""
    since = time.time()
    start = opening_after(agreement, datetime.fromtimestamp(since, UTC))
    return DemoClock(start=start, since=since, speed=speed)
