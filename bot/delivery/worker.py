"""The worker thread: takes due rows, hands each to the transport, records the outcome."""

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot import messages, metrics
from bot.context import Context
from bot.delivery.interface import Answer, NotYet, Sent, Transport, Undeliverable
from bot.delivery.outages import PROBE_EVERY, Outage, Outages
from bot.delivery.pacing import Slots
from storage import leads, outbox
from storage.db import transaction
from storage.models import Outbox

log = logging.getLogger(__name__)


class _Held(Exception):
    """The row was not sent and goes back to the queue, due at `until`, attempt not counted."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


class _Failed(Exception):
    """The platform answered `method` with an error, or could not be reached."""

    def __init__(self, method: str, answer: Answer, cause: Exception) -> None:
        super().__init__(f"{method}: {cause}")
        self.method = method
        self.answer = answer
        self.cause = cause


class Courier(Outages):
    """One worker thread per process; replicas share the queue through the database."""

    def __init__(
        self,
        ctx: Context,
        transport: Transport,
        *,
        batch: int = 20,
        lease: timedelta = timedelta(seconds=15),
        max_attempts: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        gather: float = 0.05,
    ) -> None:
        """The lease is short so that a crashed worker's rows go out again soon, which is safe
        because no request starts with less than its timeout (plus a second) of lease left.
        """
        self.ctx = ctx
        self.transport = transport
        self.limits = transport.limits
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.gather = gather
        self._margin = timedelta(seconds=transport.timeout + 1)
        if lease <= self._margin:
            raise ValueError(f"the lease must be longer than the call timeout plus 1s ({lease})")
        self._slots = Slots()
        self._outages: dict[str, Outage] = {}
        self._try_at: datetime | None = None  # when a row may next try the failing methods
        self._trying: int | None = None  # the row trying them now
        self._waking = False  # a parked row was made due for this try and has not tried yet
        self._woken = 0  # the parked row last made due, to go round them in turn
        self._shown = False
        self._soonest: datetime | None = None
        self._unwritten: list[Callable[[Session], None]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="baton-courier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=15)
        if self._unwritten:  # Slack took these; unrecorded, they would be sent again
            try:
                self._write_unwritten()
            except Exception:
                log.error(
                    "outbox: %d delivered message(s) could not be recorded and may be sent again",
                    len(self._unwritten),
                )

    def _loop(self) -> None:
        failing_since: float | None = None
        told_at = 0.0
        while not self._stop.is_set():
            self._wake.clear()  # before looking, so a wake-up during the batch is not lost
            self.ctx.answers.let_through()
            started = time.monotonic()
            try:
                busy = self.run_once() >= self.batch
            except Exception as error:  # the database is away: say so in one line, now and then
                now = time.monotonic()
                failing_since = failing_since or now
                if now - told_at >= 60:
                    told_at = now
                    text = str(error).strip()
                    log.warning(
                        "outbox: cannot use the database (%s: %s); retrying every second",
                        type(error).__name__,
                        text.splitlines()[0] if text else "",
                    )
                log.debug("outbox: database error", exc_info=True)
                busy = False
            else:
                if failing_since is not None:
                    log.info(
                        "outbox: the database is back after %.0fs",
                        time.monotonic() - failing_since,
                    )
                    failing_since, told_at = None, 0.0
            if not busy:
                self._wake.wait(timeout=self._idle())
                # Woken again right after a pass: a burst is coming in. Let it gather for a
                # moment, so that a hundred hand-overs a second cost a few passes, not a
                # hundred; alone, a message goes at once.
                pause = self.gather - (time.monotonic() - started)
                if pause > 0:
                    self._stop.wait(pause)

    def _idle(self) -> float:
        """Sleep until the next row comes due, a second at most, 5 ms at least.

        Rows handed back in the last batch, rows with a slot, and the end of a hold are
        known here; a row that came due while the batch ran is taken almost at once.
        """
        now = self.ctx.clock()
        slot = self._slots.soonest()
        times = [] if slot is None else [slot]
        if self._try_at is not None and self._try_at > now:
            times.append(self._try_at)
        if self._soonest is not None:
            times.append(self._soonest)
        held = self.limits.next_change(now)
        if held is not None:
            times.append(held)
        if not times:
            return 1.0
        return min(1.0, max(0.005, (min(times) - now).total_seconds()))

    def run_once(self) -> int:
        """Take a batch of due rows and deliver them; return how many due rows were looked at.

        Rows that have to wait for their conversation or method are handed back with their time
        in the same transaction, so a full batch means there may be more due rows right now.
        """
        self._write_unwritten()
        self._soonest = None
        now = self.ctx.clock()
        self._try_again(now)
        seen: set[int] = set()
        with transaction(self.ctx.sessions) as session:

            def hold(rows: list[Outbox]) -> dict[int, datetime]:
                ids = {row.lead_id for row in rows if row.lead_id}
                placed = leads.cards_of(session=session, lead_ids=ids)
                later = {}
                for row in rows:
                    seen.add(row.id)
                    until = self._plan(row, now, placed)
                    if until is not None:
                        self._due_at(until)
                        later[row.id] = until
                return later

            rows = outbox.take(
                session=session,
                now=now,
                lease=self.lease,
                limit=self.batch,
                in_order=(messages.CARD, messages.REPLY),
                hold=hold,
            )
        # Every due row was seen: a slot that has come and was not seen is stale. Above ten
        # thousand, rows another replica delivered leave their slots here: forget them anyway.
        if len(seen) < self.batch or len(self._slots) > 10_000:
            self._slots.forget_come(now, keep=seen)
        for row in rows:
            self._attempt(row)
        if self._waking:  # what was woken did not get to try: another, in a second
            self._waking = False
            self._try_at = now + PROBE_EVERY
        if self._shown:  # clocks started: the clock arms its wake-up for them
            self._shown = False
            self.ctx.wake()
        return len(seen)

    def _due_at(self, at: datetime) -> None:
        """Remember the soonest time a row handed back comes due, to wake up for it."""
        self._soonest = at if self._soonest is None else min(self._soonest, at)

    def _call(
        self,
        row: Outbox,
        method: str,
        send: Callable[[], Any],
        conversation: str | None = None,
    ) -> Any:
        """Send, unless the method is held or the lease could run out during the request.

        `conversation` is where a paced call goes, so a post that finds the platform back after an
        outage counts towards its conversation's pace."""
        now = self.ctx.clock()
        held = self.limits.not_before(method, now)
        if held is not None and not self._may_try(method, row, now):
            raise _Held(held, "method_held")
        if row.taken_until is not None and row.taken_until - now < self._margin:
            raise _Held(now, "lease")
        try:
            response = send()
        except Exception as error:
            answer = self.transport.answer(error)
            if answer is None:
                raise
            if 0 < answer.status < 500:
                self._answered(method, conversation)
            raise _Failed(method, answer, error) from error
        self._answered(method, conversation)
        return response

    # outcomes --------------------------------------------------------------------------

    def _attempt(self, row: Outbox) -> None:
        try:
            sent = self.transport.deliver(row, self._call)
        except _Held as held:
            metrics.OUTBOX_HELD.labels(reason=held.reason).inc()
            self._defer(row, held.until)
        except _Failed as failure:
            if failure.answer.status:
                self._refused(row, failure.method, failure.answer)
            else:
                self._unreachable(row, failure.method, failure.cause)
        except NotYet as waiting:
            metrics.OUTBOX_HELD.labels(reason=waiting.reason).inc()
            self._defer(row, waiting.until)
        except Undeliverable as error:
            self._failed(row, str(error), None)
        except Exception as error:  # a database hiccup, a template bug
            log.exception("outbox: row %s (%s) failed", row.id, row.kind)
            self._failed(row, f"{type(error).__name__}: {error}", self._backoff(row))
        else:
            self._delivered(row, sent)
        finally:
            if self._trying == row.id:  # it answered, or did not get to try: another may
                self._trying = None

    def _refused(self, row: Outbox, method: str, answer: Answer) -> None:
        now = self.ctx.clock()
        if answer.status == 429:
            wait = answer.retry_after or timedelta(seconds=1)
            until = now + wait
            metrics.SLACK_ERRORS.labels(method=method, error="ratelimited").inc()
            log.info("outbox: %s rate limited; waiting %gs as asked", method, wait.total_seconds())
            self._hold_method(method, until)
            self._defer(row, until, f"ratelimited: Retry-After {wait.total_seconds():g}s")
            return
        if answer.status >= 500:  # the platform's trouble: the method waits until it answers
            metrics.SLACK_ERRORS.labels(method=method, error=f"http_{answer.status}").inc()
            self._not_answered(row, method, now, f"HTTP {answer.status} from {method}")
            return
        code = answer.code
        metrics.SLACK_ERRORS.labels(method=method, error=code).inc()
        permanent = code in self.transport.permanent
        self._failed(row, code, None if permanent else self._backoff(row, now))

    def _unreachable(self, row: Outbox, method: str, error: Exception) -> None:
        """Slack unreachable or the connection dropped: the method waits until it answers."""
        metrics.SLACK_ERRORS.labels(method=method, error="connection_error").inc()
        log.debug("outbox: %s for row %s failed", method, row.id, exc_info=error)
        self._not_answered(row, method, self.ctx.clock(), f"{type(error).__name__}: {error}")

    def _not_answered(self, row: Outbox, method: str, now: datetime, error: str) -> None:
        """Slack did not answer `method`: the row waits with the others until it does.

        Only the try that found Slack failing counts towards the row's attempts (a row that
        alone keeps failing still ends as a dead letter); the tries while it fails are
        Slack's, not the message's. Either way the error is kept: a dropped connection may
        have lost the answer to a message Slack took, so the next try looks for it first.
        """
        trying = self._trying == row.id
        self._unavailable(method, now, error)
        until = self._outages[method].until
        if trying:
            self._defer(row, until, error)
        else:
            self._failed(row, error, until if row.attempts < self.max_attempts else None)

    def _backoff(self, row: Outbox, now: datetime | None = None) -> datetime | None:
        """Exponential backoff with jitter, or None once the row has had its attempts."""
        if row.attempts >= self.max_attempts:
            return None
        delay = min(self.max_backoff, self.backoff * 2.0**row.attempts)
        return (now or self.ctx.clock()) + timedelta(seconds=delay * random.uniform(0.5, 1.5))

    def _delivered(self, row: Outbox, sent: Sent) -> None:
        """Record what the platform took, with what the transport records beside it, in one
        transaction."""
        now = sent.at or self.ctx.clock()

        def record(session: Session) -> None:
            if sent.record is not None:
                sent.record(session)
            outbox.delivered(
                session=session,
                row_id=row.id,
                at=now,
                platform=sent.platform or self.transport.platform,
                message_id=sent.message_id,
                conversation=sent.conversation,
            )

        self._write(record)
        metrics.DELIVERY_LAG.observe(max(0.0, (now - row.created_at).total_seconds()))
        for planned in sent.planned:
            metrics.CLOCK_LAG.observe(max(0.0, (now - planned).total_seconds()))
        if sent.started_clocks:
            self._shown = True

    def _defer(self, row: Outbox, until: datetime, error: str | None = None) -> None:
        """Hand the row back unsent, due at `until`; waiting is not an attempt."""
        self._due_at(until)
        self._write(
            lambda s: outbox.defer(
                session=s, row_id=row.id, until=until, lease=row.taken_until, error=error
            )
        )

    def _failed(self, row: Outbox, error: str, retry_at: datetime | None) -> None:
        """Schedule the next attempt, or with `retry_at=None` give up: a dead letter."""
        self._slots.free(row.id)
        if retry_at is not None:
            self._due_at(retry_at)
        else:
            log.error(
                "outbox: giving up on row %s (%s) after %s attempt(s): %s; "
                "`baton outbox retry` queues it again",
                row.id,
                row.kind,
                row.attempts,
                error,
            )
        self._write(
            lambda s: outbox.failed(
                session=s, row_id=row.id, error=error, retry_at=retry_at, lease=row.taken_until
            )
        )

    def _write(self, change: Callable[[Session], None]) -> None:
        """Record an outcome now, or keep it and record it before taking anything else.

        Above all for a message Slack accepted: if the database is away at that moment,
        forgetting the answer would send the message again once the lease runs out.
        """
        try:
            with transaction(self.ctx.sessions) as session:
                change(session)
        except Exception as error:
            log.warning(
                "outbox: cannot record an outcome yet (%s); will retry", type(error).__name__
            )
            self._unwritten.append(change)

    def _write_unwritten(self) -> None:
        if not self._unwritten:
            return
        with transaction(self.ctx.sessions) as session:
            for change in self._unwritten:
                change(session)
        self._unwritten.clear()
