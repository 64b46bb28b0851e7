"""The clock: APScheduler wakes Baton when the next deadline needs work, and sweeps every 30 s.

The database is the source of truth. APScheduler holds a few fixed jobs in memory, never one
per lead: a wake-up armed at the earliest `next_at`, a safety sweep that also picks up clocks
opened by other replicas, and the chores (nurture re-checks, the weekly scorecard, forgetting
leads past retention); a scorecard that fell due while Baton was down goes once at start. Due
clocks are taken with `FOR UPDATE SKIP LOCKED` (a serialised write transaction on SQLite), so
replicas and restarts never send a reminder twice.

No wake-up is lost. Every job that means "look at the deadlines" calls `wake_up()`, which
raises a flag and then either runs the sweep itself or, when a sweep is already running,
leaves the flag to it: the running sweep looks again while the flag is up. A job never waits
for a sweep, so APScheduler never finds one still running and skips it (which is what it does
to a job whose last run has not finished, and a skipped date job is gone).
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot import consequences, feedback, metrics, privacy, reports
from bot.context import Context
from bot.escalation import Sweep, advance
from storage import deadlines, leads
from storage.db import reading, transaction
from storage.models import Deadline

log = logging.getLogger(__name__)
WAKE, SWEEP, NURTURE = "baton.wake", "baton.sweep", "baton.nurture"
SCORECARD = "baton.scorecard"
SCORECARD_MISSED = "baton.scorecard.missed"
SHORTFALL = "baton.shortfall"
RETENTION = "baton.retention"
REARM = "baton.rearm"
SWEEPS = "baton.sweeps"
"""The executor of the jobs that wake the clock: one thread runs the sweep, the other takes
the wake-ups that arrive meanwhile (each returns at once), so none waits behind a sweep."""
# How soon after a change the clock looks again; changes within it share one look.
REARM_AFTER = timedelta(milliseconds=50)
# How soon to look again at due clocks that another replica holds (it is working on them).
HELD_ELSEWHERE = timedelta(milliseconds=50)
# How soon to look again after a sweep failed (the database away, say).
AFTER_FAILURE = timedelta(seconds=1)
# A wake-up job that finds a sweep running returns at once; several may still be in flight at a
# moment, and APScheduler would skip the one over its limit.
WAKE_INSTANCES = 1000


class DeadlineScheduler:
    def __init__(
        self,
        ctx: Context,
        *,
        sweep_every: timedelta = timedelta(seconds=30),
        batch: int = 200,
        on_work: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.sweep_every = sweep_every
        self.batch = batch
        self.on_work = on_work
        self.last_sweep: datetime | None = None
        self._looked_at: datetime | None = None
        self._armed_for: datetime | None = None
        self._rearm_pending = False
        self._stopping = False
        self._lock = threading.Lock()
        self._again = threading.Event()
        self._sweeping = threading.Lock()
        self.jobs = BackgroundScheduler(
            timezone=UTC,
            # Retention has a thread of its own: a first run over years of leads must not hold
            # up the deadlines that are due meanwhile. So do the wake-ups (`SWEEPS`).
            executors={
                "default": ThreadPoolExecutor(max_workers=1),
                SWEEPS: ThreadPoolExecutor(max_workers=2),
                RETENTION: ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        return self.jobs.running

    def start(self) -> None:
        self.jobs.start()
        self._weekly()
        self._every(
            self.sweep_every, self.wake_up, SWEEP, executor=SWEEPS, max_instances=WAKE_INSTANCES
        )
        self._every(timedelta(minutes=10), self.recheck_nurture, NURTURE)
        self._every(timedelta(minutes=15), self.check_shortfall, SHORTFALL)
        self._every(timedelta(days=1), self.retain, RETENTION, executor=RETENTION)

    def _every(
        self, every: timedelta, job: Callable[[], None], job_id: str, **options: Any
    ) -> None:
        """Run `job` every `every`, the first time at once; `options` as APScheduler takes."""
        self.jobs.add_job(
            job,
            "interval",
            seconds=every.total_seconds(),
            id=job_id,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
            **options,
        )

    def retain(self) -> None:
        """Forget the leads older than `retention.personal_data_days`; daily and at start."""
        try:
            privacy.forget_expired(self.ctx)
        except Exception:
            log.exception("retention: could not forget expired leads; tomorrow's run retries")

    def _weekly(self) -> None:
        """The scorecard at the agreement's `reports.weekly` time, in its timezone; and now,
        the one last due, if it was due while Baton was down (it goes once: `send_weekly`
        keeps each week's key, so a start after it went sends nothing)."""
        reports_at = self.ctx.agreement.reports
        if reports_at is None or reports_at.weekly is None:
            return
        day, time_of_day = reports_at.weekly.split()
        hour, minute = time_of_day.split(":")
        weekly = CronTrigger(
            day_of_week=day, hour=hour, minute=minute, timezone=self.ctx.agreement.tz
        )
        self.jobs.add_job(self.send_scorecard, weekly, id=SCORECARD, replace_existing=True)
        now = self.ctx.clock()
        last = weekly.get_next_fire_time(None, now - timedelta(days=7) + timedelta(seconds=1))
        if last is not None and last <= now:
            self.jobs.add_job(
                self.send_missed_scorecard,
                "date",
                run_date=datetime.now(UTC),
                kwargs={"due": last},
                id=SCORECARD_MISSED,
                replace_existing=True,
            )

    def send_missed_scorecard(self, due: datetime) -> None:
        self._queue_work(
            lambda ctx: reports.send_missed(ctx, due=due),
            "clock: could not send the scorecard due while Baton was down",
        )

    def send_scorecard(self, due: datetime | None = None) -> None:
        """The scorecard of the week before `due` (default now), unless it went already."""
        self._queue_work(
            lambda ctx: reports.send_weekly(ctx, due=due),
            "clock: could not send the weekly scorecard",
        )

    def check_shortfall(self) -> None:
        """Marketing's month against its commitment (`consequences.marketing_shortfall`):
        a quarter of an hour's resolution is plenty for a once-a-week message."""
        self._queue_work(
            consequences.check_shortfall,
            "clock: could not check Marketing's month; trying again later",
        )

    def recheck_nurture(self) -> None:
        """Nurture leads whose day has come go back to Marketing (a day's resolution is enough)."""
        self._queue_work(
            feedback.recheck_due, "clock: could not post nurture re-checks; trying again later"
        )

    def _queue_work(self, job: Callable[[Context], object], failure: str) -> None:
        """Run a job that queues messages, and wake the outbox if it queued any. A failing
        run is logged with `failure` and left to the job's next run."""
        try:
            if job(self.ctx) and self.on_work:
                self.on_work()
        except Exception:
            log.exception(failure)

    def stop(self) -> None:
        """Let the running jobs finish, and let none of them schedule another.

        APScheduler's shutdown holds its job store lock while it waits for the running jobs; a
        job that then adds one (a sweep re-arming the wake-up) would wait for that lock for
        ever. So the flag goes up first, under the lock every add is made under.
        """
        with self._lock:
            self._stopping = True
        if self.jobs.running:
            self.jobs.shutdown(wait=True)

    def wake_up(self) -> None:
        """Look at the deadlines now; if a sweep is running, make it look once more instead.

        The flag goes up before the lock is tried, and the sweep that holds the lock looks
        again while it is up, so a wake-up is never dropped. A wake-up that comes between the
        sweep's last look at the flag and its letting go of the lock finds the lock taken and
        returns; the sweep, once it has let go, sees the flag and takes the lock again (or
        another wake-up has taken it meanwhile, and sweeps).
        """
        self._again.set()
        while self._again.is_set():
            if not self._sweeping.acquire(blocking=False):
                return
            try:
                while self._again.is_set():
                    self._again.clear()
                    self.sweep()
            finally:
                self._sweeping.release()

    def sweep(self) -> None:
        """Do all due work, then arm the wake-up for the next clock."""
        self.last_sweep = datetime.now(UTC)
        metrics.SWEEPS.inc()
        try:
            while self.run_once() == self.batch:
                pass
        except Exception:
            log.exception("clock: could not process due deadlines; trying again in a second")
            self.arm(not_before=datetime.now(UTC) + AFTER_FAILURE)
            return
        self.arm()

    def run_once(self) -> int:
        now = self._looked_at = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            due = deadlines.due(session=session, now=now, limit=self.batch)
            # The batch's leads in one query, and its changes written together at the end: a
            # sweep's cost per clock decides how late the deadlines falling due during it are
            # seen.
            batch = leads.get_all(session=session, lead_ids={deadline.lead_id for deadline in due})
            sweep = Sweep()
            with session.no_autoflush:
                for deadline in due:
                    advance(self.ctx, session, deadline, now, sweep)
            sweep.write(session)
            del batch  # held until here: the session keeps its objects only while in use
        if due and self.on_work:
            self.on_work()
        return len(due)

    def next_deadline(self) -> Deadline | None:
        with reading(self.ctx.sessions) as session:
            return deadlines.earliest(session=session)

    def arm_soon(self) -> None:
        """Look again shortly, on the clock's own thread: a burst of hand-overs costs one look
        at the deadlines, not one each, and no request waits for it."""
        if not self.jobs.running:
            return
        with self._lock:
            if self._rearm_pending or self._stopping:
                return
            self._rearm_pending = True
            self.jobs.add_job(
                self._rearm,
                "date",
                run_date=datetime.now(UTC) + REARM_AFTER,
                id=REARM,
                replace_existing=True,
                executor=SWEEPS,
                max_instances=WAKE_INSTANCES,
            )

    def _rearm(self) -> None:
        # After a change, not at a deadline: the answers being made go first, as the
        # courier lets them (`bot.request_gate`); the claims of a burst are what changed.
        self.ctx.answers.let_through()
        with self._lock:
            self._rearm_pending = False
        self.wake_up()

    def arm(self, not_before: datetime | None = None) -> None:
        """Set the wake-up to the earliest pending moment (`not_before`, after a failure).

        A clock that was already due at the last look and is still pending is being worked on
        by another replica (its row was locked): look again shortly, not in a tight loop.
        """
        try:
            deadline = self.next_deadline()
        except Exception:
            log.warning("clock: could not read the next deadline", exc_info=True)
            return
        if deadline is None or deadline.next_at is None or not self.jobs.running:
            return
        at = deadline.next_at
        if self._looked_at is not None and at <= self._looked_at:
            at = datetime.now(UTC) + HELD_ELSEWHERE
        if not_before is not None:
            at = max(at, not_before)
        with self._lock:
            if self._stopping or (self._armed_for == at and self.jobs.get_job(WAKE)):
                return
            self._armed_for = at
            self.jobs.add_job(
                self.wake_up,
                "date",
                run_date=at,
                id=WAKE,
                replace_existing=True,
                executor=SWEEPS,
                max_instances=WAKE_INSTANCES,
            )
