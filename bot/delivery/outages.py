"""A method the platform fails: its rows parked, one trying again each second, all resumed
the moment it answers."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.context import Context
from bot.delivery.pacing import Pacing
from storage import outbox
from storage.db import transaction
from storage.models import Outbox

log = logging.getLogger(__name__)

PROBE_EVERY = timedelta(seconds=1)  # while Slack fails a method, how often one message tries it
PARK = timedelta(seconds=30)  # how far ahead the others are parked meanwhile (a crash's cost)


@dataclass
class Outage:
    """A method Slack fails (5xx, no connection): its rows are parked until a time in
    `parked` (the latest last) while one row at a time tries whether Slack answers again."""

    since: datetime
    parked: list[datetime]
    failures: int = 1

    @property
    def until(self) -> datetime:
        return self.parked[-1]


class Outages(Pacing):
    """Part of `Courier`: the methods the platform fails, and which row may try them next."""

    ctx: Context
    _outages: dict[str, Outage]
    _try_at: datetime | None
    _trying: int | None
    _waking: bool
    _woken: int

    def _unavailable(self, method: str, now: datetime, why: str) -> None:
        """Slack fails `method`: park its rows, and let one try again in a second."""
        outage = self._outages.get(method)
        if outage is None:
            outage = self._outages[method] = Outage(since=now, parked=[now + PARK])
            log.warning(
                "outbox: Slack fails %s (%s); its messages wait, one tries again every %gs",
                method,
                why,
                PROBE_EVERY.total_seconds(),
            )
        else:
            outage.failures += 1
        self._trying, self._waking = None, False
        self._try_at = now + PROBE_EVERY
        self._hold_method(method, outage.until)

    def _may_try(self, method: str, row: Outbox, now: datetime) -> bool:
        """Whether `row` may call `method`, which Slack has been failing: one row at a time,
        once its time has come; it may call each failing method (a lookup, then the post)."""
        if method not in self._outages or self._try_at is None or now < self._try_at:
            return False
        if self._trying not in (None, row.id):
            return False
        self._trying, self._waking = row.id, False
        return True

    def _try_again(self, now: datetime) -> None:
        """Keep the failing methods held; once the next try has come, one parked row due now
        to make it (unless a row comes due by itself meanwhile)."""
        for method, outage in self._outages.items():
            if outage.until - now < PARK / 2:
                outage.parked.append(now + PARK)
                self._hold_method(method, outage.until)
        if self._try_at is None or now < self._try_at or self._trying is not None:
            return
        parked = [at for outage in self._outages.values() for at in outage.parked]
        with transaction(self.ctx.sessions) as session:
            woken = outbox.wake_next(session=session, parked=parked, after=self._woken, now=now)
        if woken is None:  # nothing parked: a row of its own may try when it comes due
            self._try_at = now + PROBE_EVERY
        else:
            self._waking, self._woken = True, woken

    def _answered(self, method: str, conversation: str | None = None) -> None:
        """Slack answers `method` again: every row parked for it is due now."""
        outage = self._outages.pop(method, None)
        if outage is None:
            return
        if not self._outages:
            self._try_at = None
        now = self.ctx.clock()
        self.limits.release(method)
        if method == self.transport.paced and conversation:
            self.limits.reserve(conversation, now)  # the post that found Slack back
        self._write(lambda s: outbox.resume(session=s, parked=outage.parked, now=now))
        self._due_at(now)
        log.info(
            "outbox: Slack answers %s again after %.0fs (%d failed tries); delivering",
            method,
            (now - outage.since).total_seconds(),
            outage.failures,
        )
