"""Delivers the outbox to Slack: each row once, in order per lead, retried until Slack takes it.

Slack's limits are kept at the source. `chat.postMessage` goes to each channel at about one
message a second (a burst of three allowed), and a message that has to wait for its channel
is handed back to the queue with `next_attempt_at` set to its slot, so the worker thread never
sleeps on one channel while messages for others (DMs, other channels) are due. Urgent
messages go first: of the due rows, the smallest `priority` is taken first, and one that
finds a channel's slots held by less urgent messages (a bulk import's cards) takes the first
of them, each of those moving one slot later. A 429 holds only its method until
`Retry-After`. Both are waits in the database, not in the thread.

A 5xx or a dropped connection means Slack is not answering that method. Its messages are
parked, not tried one after another with a growing backoff: at most once a second one of them,
in turn, tries again, and the moment Slack answers, every parked message is due at once, so
delivery resumes within a second or two of Slack's return. Slack being away is not the
message's fault: only the try that found Slack failing counts towards a message's attempts,
so however long an outage lasts, it walks no message to the dead letters.

Exactly once: a row is leased to one worker, the outcome is written as soon as Slack answers,
and a worker never starts a request on a row whose lease could run out before the request's
timeout. `chat.postMessage` has no idempotency key, so a crash between Slack accepting a
message and the database recording it, or an answer lost to a timeout or a dropped
connection, would otherwise post it twice. Every post therefore carries message metadata
naming its row, and a row that may already have gone out (it was taken before, or an earlier
attempt failed) is first looked for in Slack: `conversations.history` of its channel (a DM's
after `conversations.open`), or `conversations.replies` of its thread, from now back to a
minute before it was queued. Found, it is recorded as delivered with that ts and not posted.
A first attempt makes no such call. A lookup that fails is retried like any failed call, and
one that cannot finish (over 2,000 messages to read) parks the row; neither posts blind. The
one assumption left is Slack's: that a message it accepted shows in the conversation's
history by the time the row is tried again, a lease (15 s) after a crash, or a backoff after
a lost answer.
"""

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.client import HTTPException
from typing import Any, NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web import SlackResponse
from sqlmodel import Session

from bot import cards, digests, messages, metrics
from bot.context import Context
from bot.rendering import Renderer
from bot.slack import BURST, POST_MESSAGE, Limits, without_retries
from bot.slack import channel_rate as configured_channel_rate
from storage import deadlines, leads, outbox
from storage.db import transaction
from storage.models import Lead, Outbox

log = logging.getLogger(__name__)

UPDATE = "chat.update"
HISTORY = "conversations.history"
REPLIES = "conversations.replies"
OPEN = "conversations.open"

STAMP = "baton_outbox"
"""The metadata event type on every message the outbox posts; its payload names the row."""
PAGE = 200  # messages a page when looking for a row's message (Slack advises at most 200)
PAGES = 10  # pages read at most: 2,000 messages posted in that channel since the row was queued
SKEW = timedelta(minutes=1)  # read back this much further, in case our clock runs ahead of Slack's
PROBE_EVERY = timedelta(seconds=1)  # while Slack fails a method, how often one message tries it
PARK = timedelta(seconds=30)  # how far ahead the others are parked meanwhile (a crash's cost)

# Errors that another attempt cannot fix; the row is parked until `baton outbox retry`. From
# Slack's error lists of the methods the courier calls (chat.postMessage, chat.update,
# conversations.history, .replies and .open): everything about the token, the app's rights,
# the conversation or the request itself. Left out, so retried with backoff: Slack's own
# trouble (fatal_error, service_unavailable, request_timeout, update_failed), migrations that
# end (team_added_to_org, org_login_required, external_channel_migrating), limits that lift
# (ratelimited, message_limit_exceeded), and a stale cursor, which a new lookup does not use.
PERMANENT = frozenset(
    {
        # the token and the app
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "access_denied",
        "app_access_restricted",
        "enterprise_is_restricted",
        "two_factor_setup_required",
        "ekm_access_denied",
        "is_bot",
        # the conversation, the person, the thread or the message
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "is_inactive",
        "channel_is_limited_access",
        "method_not_supported_for_channel_type",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "restricted_action_thread_locked",
        "posting_to_channel_denied",
        "team_not_found",
        "user_not_found",
        "user_disabled",
        "user_not_visible",
        "invalid_user_combination",
        "cannot_dm_bot",
        "messages_tab_disabled",
        "thread_not_found",
        "cannot_reply_to_message",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "block_mismatch",
        # the request as Baton built it
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "invalid_metadata_filter_keys",
        "invalid_ts_latest",
        "invalid_ts_oldest",
        "metadata_too_large",
        "metadata_must_be_sent_from_app",
        "msg_too_long",
        "msg_blocks_too_long",
        "markdown_text_conflict",
        "no_text",
        "too_many_attachments",
        "attachment_payload_limit_exceeded",
        "as_user_not_supported",
        "not_enough_users",
        "too_many_users",
        "users_list_not_supplied",
        "deprecated_endpoint",
        "method_deprecated",
        "unknown_method",
    }
)


class Undeliverable(Exception):
    """Nothing but an operator can make this row deliverable; it goes to the dead letters."""


class _Held(Exception):
    """The row was not sent and goes back to the queue, due at `until`, attempt not counted."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


class _Failed(Exception):
    """Slack answered with an error, or could not be reached, for `method`."""

    def __init__(self, method: str, cause: Exception) -> None:
        super().__init__(f"{method}: {cause}")
        self.method = method
        self.cause = cause


class _Slot(NamedTuple):
    """A time a row may post to a channel, kept for it until it is used."""

    channel: str
    priority: int
    at: datetime


class _Posted(NamedTuple):
    channel: str
    ts: str
    found: bool = False
    """Found in Slack, posted by an earlier attempt whose answer was lost."""


class _Shown(NamedTuple):
    """A lead's first card: since when Sales can see it."""

    lead_id: str
    channel: str
    at: datetime
    received_at: datetime


@dataclass
class _Outage:
    """A method Slack fails (5xx, no connection): its rows are parked until a time in
    `parked` (the latest last) while one row at a time tries whether Slack answers again."""

    since: datetime
    parked: list[datetime]
    failures: int = 1

    @property
    def until(self) -> datetime:
        return self.parked[-1]


class Courier:
    """One worker thread per process; replicas share the queue through the database."""

    def __init__(
        self,
        ctx: Context,
        client: WebClient,
        renderer: Renderer,
        *,
        batch: int = 20,
        lease: timedelta = timedelta(seconds=15),
        max_attempts: int = 8,
        channel_rate: float | None = None,
        burst: int = BURST,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        gather: float = 0.05,
    ) -> None:
        """`channel_rate` defaults to `BATON_SLACK_CHANNEL_RATE` (1 a second).

        The lease is short so that a crashed worker's rows go out again soon, which is safe
        because no request starts with less than its timeout (plus a second) of lease left.
        """
        self.ctx = ctx
        self.client = without_retries(client)
        self.renderer = renderer
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.gather = gather
        rate = configured_channel_rate() if channel_rate is None else channel_rate
        self.limits = Limits(rate=rate, burst=burst)
        self._margin = timedelta(seconds=self.client.timeout + 1)
        if lease <= self._margin:
            raise ValueError(f"the lease must be longer than the Slack timeout plus 1s ({lease})")
        self._slots: dict[int, _Slot] = {}
        self._outages: dict[str, _Outage] = {}
        self._try_at: datetime | None = None  # when a row may next try the failing methods
        self._trying: int | None = None  # the row trying them now
        self._waking = False  # a parked row was made due for this try and has not tried yet
        self._woken = 0  # the parked row last made due, to go round them in turn
        self._shown = False
        self._soonest: datetime | None = None
        self._unwritten: list[Callable[[Session], None]] = []
        self._links: dict[tuple[str, str], str | None] = {}
        self._workspace: str | None = None
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
        times = [slot.at for slot in self._slots.values()]
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

        Rows that have to wait for their channel or method are handed back with their time
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
        if len(seen) < self.batch:  # every due row was seen: a due slot not seen is stale
            self._slots = {k: v for k, v in self._slots.items() if v.at > now or k in seen}
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

    # pacing ----------------------------------------------------------------------------

    def _route(
        self, row: Outbox, placed: dict[str, tuple[str | None, str | None]]
    ) -> tuple[str, str | None] | None:
        """The Slack method and channel a row will use, or None when it calls nothing.

        `placed` is where the batch's leads have their cards (`leads.cards_of`)."""
        card = placed.get(row.lead_id) if row.lead_id else None
        if row.kind == messages.CARD:
            if card is None:
                return None
            if card[1]:
                return UPDATE, card[0]
            return POST_MESSAGE, self.ctx.agreement.channels.sales
        if row.kind == messages.REPLY:
            return POST_MESSAGE, card[0] if card else None
        if row.kind in (messages.ERASE, messages.DIGEST_UPDATE):
            return UPDATE, row.channel
        return POST_MESSAGE, row.channel

    def _plan(
        self, row: Outbox, now: datetime, placed: dict[str, tuple[str | None, str | None]]
    ) -> datetime | None:
        """When `row` may go, if not now: its method's hold, or its channel's next slot.

        A slot, once given, is the row's until it is used, so rows of one channel go out in
        the order they were first looked at, which is the order they were queued in.
        """
        route = self._route(row, placed)
        if route is None:
            return None
        method, channel = route
        held = self.limits.not_before(method, now)
        if held is not None and not self._may_try(method, row, now):
            self._slots.pop(row.id, None)
            metrics.OUTBOX_HELD.labels(reason="method_held").inc()
            return held
        if held is not None or method != POST_MESSAGE or not channel:
            return None
        slot = self._slots.get(row.id)
        if slot is not None:
            if slot.at <= now:
                del self._slots[row.id]
                return None
            return slot.at
        at = self._reserve(row, channel, now)
        if at <= now:
            return None
        if len(self._slots) > 10_000:  # rows another replica delivered leave their slots here
            self._slots = {k: v for k, v in self._slots.items() if v.at > now}
        self._slots[row.id] = _Slot(channel, row.priority, at)
        metrics.OUTBOX_HELD.labels(reason="pace").inc()
        return at

    def _reserve(self, row: Outbox, channel: str, now: datetime) -> datetime:
        """The channel's next slot for `row`, ahead of every less urgent row holding a later one.

        Rows are given slots as they are taken, so a bulk import's cards may hold the
        channel's next quarter of an hour by the time an urgent card comes. It takes the first
        of their slots, and each of them the next one's, the last a new one: they keep their
        order, one slot later, and are handed back again when their old slot comes."""
        at = self.limits.reserve(channel, now)
        if at <= now:
            return at
        behind = sorted(
            (slot.at, row_id)
            for row_id, slot in self._slots.items()
            if slot.channel == channel and slot.priority > row.priority and slot.at > now
        )
        if not behind:
            return at
        later = [when for when, _ in behind[1:]] + [at]
        for (_, row_id), when in zip(behind, later, strict=True):
            self._slots[row_id] = self._slots[row_id]._replace(at=when)
        return behind[0][0]

    def _hold_method(self, method: str, until: datetime) -> None:
        """Nothing goes to `method` before `until`; rows with a slot line up again after it."""
        self.limits.hold(method, until)
        if method == POST_MESSAGE:
            self._slots.clear()

    def _call(
        self,
        row: Outbox,
        method: str,
        send: Callable[[], SlackResponse],
        channel: str | None = None,
    ) -> SlackResponse:
        """Send, unless the method is held or the lease could run out during the request.

        `channel` is where a `chat.postMessage` goes, so a post that finds Slack back after
        an outage counts towards its channel's pace."""
        now = self.ctx.clock()
        held = self.limits.not_before(method, now)
        if held is not None and not self._may_try(method, row, now):
            raise _Held(held, "method_held")
        if row.taken_until is not None and row.taken_until - now < self._margin:
            raise _Held(now, "lease")
        try:
            response = send()
        except SlackApiError as error:
            if int(error.response.status_code or 0) < 500:
                self._answered(method, channel)
            raise _Failed(method, error) from error
        except (OSError, HTTPException) as error:
            raise _Failed(method, error) from error
        self._answered(method, channel)
        return response

    # outages ---------------------------------------------------------------------------

    def _unavailable(self, method: str, now: datetime, why: str) -> None:
        """Slack fails `method`: park its rows, and let one try again in a second."""
        outage = self._outages.get(method)
        if outage is None:
            outage = self._outages[method] = _Outage(since=now, parked=[now + PARK])
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

    def _answered(self, method: str, channel: str | None = None) -> None:
        """Slack answers `method` again: every row parked for it is due now."""
        outage = self._outages.pop(method, None)
        if outage is None:
            return
        if not self._outages:
            self._try_at = None
        now = self.ctx.clock()
        self.limits.release(method)
        if method == POST_MESSAGE and channel:
            self.limits.reserve(channel, now)  # the post that found Slack back
        self._write(lambda s: outbox.resume(session=s, parked=outage.parked, now=now))
        self._due_at(now)
        log.info(
            "outbox: Slack answers %s again after %.0fs (%d failed tries); delivering",
            method,
            (now - outage.since).total_seconds(),
            outage.failures,
        )

    # outcomes --------------------------------------------------------------------------

    def _attempt(self, row: Outbox) -> None:
        try:
            self._deliver(row)
        except _Held as held:
            metrics.OUTBOX_HELD.labels(reason=held.reason).inc()
            self._defer(row, held.until)
        except _Failed as failure:
            if isinstance(failure.cause, SlackApiError):
                self._refused(row, failure.method, failure.cause)
            else:
                self._unreachable(row, failure.method, failure.cause)
        except Undeliverable as error:
            self._failed(row, str(error), None)
        except Exception as error:  # a database hiccup, a template bug
            log.exception("outbox: row %s (%s) failed", row.id, row.kind)
            self._failed(row, f"{type(error).__name__}: {error}", self._backoff(row))
        finally:
            if self._trying == row.id:  # it answered, or did not get to try: another may
                self._trying = None

    def _refused(self, row: Outbox, method: str, error: SlackApiError) -> None:
        response = error.response
        status = int(response.status_code or 0)
        now = self.ctx.clock()
        if status == 429:
            wait = _retry_after(response.headers)
            until = now + wait
            metrics.SLACK_ERRORS.labels(method=method, error="ratelimited").inc()
            log.info(
                "outbox: %s rate limited; waiting %gs as Slack asks", method, wait.total_seconds()
            )
            self._hold_method(method, until)
            self._defer(row, until, f"ratelimited: Retry-After {wait.total_seconds():g}s")
            return
        if status >= 500:  # Slack is having trouble: the method waits until it answers again
            metrics.SLACK_ERRORS.labels(method=method, error=f"http_{status}").inc()
            self._not_answered(row, method, now, f"HTTP {status} from {method}")
            return
        code = str(response.get("error") or "unknown_error")
        metrics.SLACK_ERRORS.labels(method=method, error=code).inc()
        self._failed(row, code, None if code in PERMANENT else self._backoff(row, now))

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
        self._slots.pop(row.id, None)
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

    # delivery --------------------------------------------------------------------------

    def _deliver(self, row: Outbox) -> None:
        if row.kind in (messages.DIGEST, messages.DIGEST_UPDATE):
            self._digest(row)
            return
        with self.ctx.sessions() as session:
            lead = leads.get(session=session, lead_id=row.lead_id) if row.lead_id else None
            clocks = deadlines.of_lead(session=session, lead_id=lead.id) if lead else []
        if row.kind == messages.CARD:
            self._card(row, lead, clocks)
            return
        if row.kind == messages.ERASE:
            removed = self.renderer.message("removed")
            response = self._call(
                row,
                UPDATE,
                lambda: self.client.chat_update(
                    channel=row.channel, ts=row.payload["ts"], **removed
                ),
            )
            self._delivered(row, response.get("ts"))
            return
        if row.kind == messages.REPLY and (lead is None or not lead.card_ts):
            # The card is posted before any reply (they are taken in order); no card means
            # it was given up on, and `baton outbox retry` queues both again.
            raise Undeliverable("the lead's card was never posted")
        facts: dict[str, Any] = dict(row.payload.get("facts", {}))
        facts.update(lead=lead, card_link=self._permalink(lead))
        message = self.renderer.message(row.payload["template"], **facts)
        if row.kind == messages.REPLY:
            assert lead is not None and lead.card_channel is not None
            posted = self._post(row, message, lead.card_channel, thread_ts=lead.card_ts)
        else:
            assert row.channel is not None  # a DM or a post always names where it goes
            posted = self._post(row, message, row.channel)
        self._delivered(row, posted.ts, channel=posted.channel)

    def _digest(self, row: Outbox) -> None:
        """Post a digest, or bring the posted one up to date, as it stands now.

        Each row shows every change made before it was rendered; one made later has queued
        the next update (`bot.digests.shown`), so nothing is missed and each row is one call.
        """
        now = self.ctx.clock()
        with self.ctx.sessions() as session:
            shown = digests.view(
                session,
                row.payload["digest"],
                agreement=self.ctx.agreement,
                now=now,
                link=self._card_link,
            )
        if shown is None:
            self._delivered(row, None)
            return
        message = self.renderer.message(shown.template, **shown.facts)
        where: dict[str, str] = {}
        version = shown.version
        if row.kind == messages.DIGEST:
            posted = self._post(row, message, shown.conversation)
            where = {"channel": posted.channel, "ts": posted.ts}
            if posted.found:
                # Found in Slack as an earlier attempt rendered it, not as it is now: count
                # it as showing nothing, so an update follows with the digest as it is.
                version = 0
        elif shown.ts is None or shown.channel is None:
            raise Undeliverable("a digest update without its post")
        else:
            channel, ts = shown.channel, shown.ts
            self._call(
                row, UPDATE, lambda: self.client.chat_update(channel=channel, ts=ts, **message)
            )
        accepted = self.ctx.clock()

        def record(session: Session) -> None:
            outbox.delivered(
                session=session,
                row_id=row.id,
                at=accepted,
                ts=where.get("ts"),
                channel=where.get("channel"),
            )
            digests.shown(
                session,
                digest_id=shown.digest_id,
                version=version,
                at=accepted,
                item_ids=shown.item_ids,
                **where,
            )

        self._write(record)
        metrics.DELIVERY_LAG.observe(max(0.0, (accepted - row.created_at).total_seconds()))
        for planned in shown.first_shown:
            metrics.CLOCK_LAG.observe(max(0.0, (accepted - planned).total_seconds()))

    def _card(self, row: Outbox, lead: Lead | None, clocks: list) -> None:
        if lead is None:
            self._delivered(row, None)
            return
        with self.ctx.sessions() as session:
            latest = leads.latest_feedback(session=session, lead_id=lead.id)
        if lead.card_ts and lead.card_channel:
            message = self.renderer.card(lead, clocks, latest)
            response = self._call(
                row,
                UPDATE,
                lambda: self.client.chat_update(
                    channel=lead.card_channel, ts=lead.card_ts, **message
                ),
            )
            self._delivered(row, response.get("ts"))
            return
        # The first post says by when to claim, as the clocks will start once Slack has it.
        now = self.ctx.clock()
        message = self.renderer.card(
            lead, cards.preview(self.ctx.agreement, lead, clocks, now), latest
        )
        posted = self._post(row, message, self.ctx.agreement.channels.sales)
        metrics.LEADS_POSTED.inc()  # also when found: the attempt that posted it never counted it
        at = self.ctx.clock()
        if posted.found:  # in the channel since Slack took it, as far as our clock can tell
            at = min(at, max(row.created_at, _posted_at(posted.ts, at)))
        shown = _Shown(lead.id, posted.channel, at, lead.received_at)
        self._delivered(row, posted.ts, shown=shown)

    def _post(
        self, row: Outbox, message: dict[str, Any], channel: str, thread_ts: str | None = None
    ) -> _Posted:
        """Post `row`'s message, unless an earlier attempt already did; where it is, either way.

        A retry (`attempts > 1`: an earlier take sent, or died sending) or a row whose last
        attempt failed (a timeout, a dropped connection, a 5xx, or `baton outbox retry`) may
        be in Slack already; only those are looked for, so a first send costs one call.
        """
        if row.attempts > 1 or row.error is not None:
            found = self._find(row, channel, thread_ts)
            if found is not None:
                log.info("outbox: row %s was already in Slack; recorded, not posted again", row.id)
                metrics.OUTBOX_FOUND.inc()
                return _Posted(*found, found=True)
        response = self._call(
            row,
            POST_MESSAGE,
            lambda: self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, metadata=_stamp(row), **message
            ),
            channel,
        )
        return _Posted(response["channel"], response["ts"])

    def _find(self, row: Outbox, channel: str, thread_ts: str | None) -> tuple[str, str] | None:
        """The channel and ts of `row`'s message if Slack has it, newest first back to its queueing.

        A failed call raises like a failed post, so the row waits and nothing is posted blind.
        """
        if channel.startswith(("U", "W")):  # a DM by user id: its history is the D… channel's
            opened = self._call(row, OPEN, lambda: self.client.conversations_open(users=channel))
            channel = opened["channel"]["id"]
        method, read = HISTORY, self.client.conversations_history
        if thread_ts:
            method, read = REPLIES, partial(self.client.conversations_replies, ts=thread_ts)
        oldest = f"{(row.created_at - SKEW).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(PAGES):
            page = self._call(
                row,
                method,
                partial(
                    read,
                    channel=channel,
                    oldest=oldest,
                    limit=PAGE,
                    cursor=cursor,
                    include_all_metadata=True,
                ),
            )
            for message in page.get("messages") or []:
                if _stamped(message, row):
                    return channel, message["ts"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not (page.get("has_more") and cursor):
                return None
        raise Undeliverable(
            f"cannot tell whether an earlier attempt reached Slack: over {PAGE * PAGES} "
            f"messages in {channel} since it was queued; look there before posting it by hand"
        )

    def _delivered(
        self,
        row: Outbox,
        ts: str | None,
        shown: _Shown | None = None,
        channel: str | None = None,
    ) -> None:
        """Record what Slack took; a lead's first card, with the clocks it starts, in the same
        transaction."""
        now = self.ctx.clock()

        def record(session: Session) -> None:
            if shown and ts:
                leads.set_card(session=session, lead_id=shown.lead_id, channel=shown.channel, ts=ts)
                cards.shown(
                    session=session,
                    agreement=self.ctx.agreement,
                    lead_id=shown.lead_id,
                    at=shown.at,
                )
            outbox.delivered(session=session, row_id=row.id, at=now, ts=ts, channel=channel)

        self._write(record)
        metrics.DELIVERY_LAG.observe(max(0.0, (now - row.created_at).total_seconds()))
        if shown:
            metrics.CARD_DELAY.observe(max(0.0, (shown.at - shown.received_at).total_seconds()))
            self._shown = True
        planned = row.payload.get("facts", {}).get("planned")
        if planned:
            lag = now - datetime.fromisoformat(planned)
            metrics.CLOCK_LAG.observe(max(0.0, lag.total_seconds()))

    def _permalink(self, lead: Lead | None) -> str | None:
        """A link to the lead's card, asked of Slack once per card; None if Slack won't say."""
        if lead is None or not lead.card_ts or not lead.card_channel:
            return None
        key = (lead.card_channel, lead.card_ts)
        if key in self._links:
            return self._links[key]
        try:
            response = self.client.chat_getPermalink(
                channel=lead.card_channel, message_ts=lead.card_ts
            )
        except (SlackApiError, OSError, HTTPException):
            return None
        if len(self._links) > 10_000:
            self._links.clear()
        self._links[key] = response.get("permalink")
        return self._links[key]

    def _card_link(self, lead: Lead) -> str | None:
        """A link to the lead's card, made from the workspace's address, which Slack gives once
        (`auth.test`): a digest links dozens of cards, and asking for each would cost a call."""
        if not lead.card_ts or not lead.card_channel:
            return None
        if self._workspace is None:
            try:
                self._workspace = str(self.client.auth_test().get("url") or "")
            except (SlackApiError, OSError, HTTPException):
                return None
        if not self._workspace:
            return None
        stamp = lead.card_ts.replace(".", "")
        return f"{self._workspace.rstrip('/')}/archives/{lead.card_channel}/p{stamp}"


def _stamp(row: Outbox) -> Metadata:
    """The row's name on its message: its id, and when it was queued, so that another database's
    row of the same id (a staging Baton posting to the same channel) never matches."""
    return Metadata(
        event_type=STAMP,
        event_payload={"row": row.id, "queued": row.created_at.isoformat()},
    )


def _stamped(message: dict[str, Any], row: Outbox) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (
        metadata.get("event_type") == STAMP
        and str(payload.get("row")) == str(row.id)
        and payload.get("queued") == row.created_at.isoformat()
    )


def _posted_at(ts: str, fallback: datetime) -> datetime:
    """When Slack took a message, from its ts (seconds since the epoch, by Slack's clock)."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return fallback


def _retry_after(headers: dict[str, Any]) -> timedelta:
    """Slack's Retry-After in seconds, at least one and at most an hour; one if it is missing."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        seconds = 1.0
    return timedelta(seconds=min(3600.0, max(1.0, seconds)))
