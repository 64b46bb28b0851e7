"""Delivers the outbox to Slack: each row once, in order per lead, retried until Slack takes it."""

import logging
import random
import threading
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages, metrics
from bot.context import Context
from bot.rendering import Renderer
from storage import deadlines, leads, outbox
from storage.db import transaction
from storage.models import Lead, Outbox

log = logging.getLogger(__name__)

# Errors that another attempt cannot fix; the row is parked until `baton outbox retry`.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "no_permission",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "cannot_dm_bot",
        "invalid_arguments",
        "message_not_found",
        "cant_update_message",
        "restricted_action",
    }
)


class Courier:
    def __init__(
        self,
        ctx: Context,
        client: WebClient,
        renderer: Renderer,
        *,
        batch: int = 20,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.renderer = renderer
        self.batch = batch
        self.lease = lease
        self.max_attempts = max_attempts
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

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() == self.batch
            except Exception:
                log.exception("outbox: could not read the queue; trying again shortly")
                busy = False
            if not busy:
                self._wake.wait(timeout=1.0)
                self._wake.clear()

    def run_once(self) -> int:
        """Take a batch of due rows and deliver them; return how many were taken."""
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            rows = outbox.take(
                session=session,
                now=now,
                lease=self.lease,
                limit=self.batch,
                in_order=(messages.CARD, messages.REPLY),
            )
        for row in rows:
            self._attempt(row)
        return len(rows)

    def _attempt(self, row: Outbox) -> None:
        try:
            self._deliver(row)
        except SlackApiError as error:
            code = str(error.response.get("error", "unknown_error"))
            method = str(getattr(error.response, "api_url", "")).rsplit("/", 1)[-1]
            metrics.SLACK_ERRORS.labels(method=method or "unknown", error=code).inc()
            self._failed(row, code, permanent=code in PERMANENT)
        except OSError as error:  # Slack unreachable: say so in one line, try again later
            log.warning("outbox: row %s (%s) not delivered: %s", row.id, row.kind, error)
            self._failed(row, f"{type(error).__name__}: {error}", permanent=False)
        except Exception as error:  # a database hiccup, a template bug
            log.exception("outbox: row %s (%s) failed", row.id, row.kind)
            self._failed(row, f"{type(error).__name__}: {error}", permanent=False)

    def _failed(self, row: Outbox, error: str, *, permanent: bool) -> None:
        now = self.ctx.clock()
        retry_at: datetime | None = None
        if not permanent and row.attempts < self.max_attempts:
            delay = min(300.0, 2.0**row.attempts) * random.uniform(0.5, 1.5)
            retry_at = now + timedelta(seconds=delay)
        else:
            log.error("outbox: giving up on row %s (%s): %s", row.id, row.kind, error)
        with transaction(self.ctx.sessions) as session:
            outbox.failed(session=session, row_id=row.id, error=error, retry_at=retry_at)

    def _deliver(self, row: Outbox) -> None:
        with self.ctx.sessions() as session:
            lead = leads.get(session=session, lead_id=row.lead_id) if row.lead_id else None
            clocks = deadlines.of_lead(session=session, lead_id=lead.id) if lead else []
        if row.kind == messages.CARD:
            self._card(row, lead, clocks)
            return
        facts: dict[str, Any] = dict(row.payload.get("facts", {}))
        facts.update(lead=lead, card_link=self._permalink(lead))
        message = self.renderer.message(row.payload["template"], **facts)
        if row.kind == messages.REPLY:
            if lead is None or not lead.card_ts:
                raise RuntimeError("the lead's card is not posted yet")
            response = self.client.chat_postMessage(
                channel=lead.card_channel, thread_ts=lead.card_ts, **message
            )
        else:
            response = self.client.chat_postMessage(channel=row.channel, **message)
        self._delivered(row, response.get("ts"))

    def _card(self, row: Outbox, lead: Lead | None, clocks: list) -> None:
        if lead is None:
            self._delivered(row, None)
            return
        with self.ctx.sessions() as session:
            latest = leads.latest_feedback(session=session, lead_id=lead.id)
        message = self.renderer.card(lead, clocks, latest)
        if lead.card_ts and lead.card_channel:
            response = self.client.chat_update(
                channel=lead.card_channel, ts=lead.card_ts, **message
            )
            self._delivered(row, response.get("ts"))
            return
        response = self.client.chat_postMessage(
            channel=self.ctx.agreement.channels.sales, **message
        )
        metrics.LEADS_POSTED.inc()
        self._delivered(row, response["ts"], card=(lead.id, response["channel"]))

    def _delivered(self, row: Outbox, ts: str | None, card: tuple[str, str] | None = None) -> None:
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            if card and ts:
                leads.set_card(session=session, lead_id=card[0], channel=card[1], ts=ts)
            outbox.delivered(session=session, row_id=row.id, at=now, ts=ts)
        metrics.DELIVERY_LAG.observe(max(0.0, (now - row.created_at).total_seconds()))
        planned = row.payload.get("facts", {}).get("planned")
        if planned:
            lag = now - datetime.fromisoformat(planned)
            metrics.CLOCK_LAG.observe(max(0.0, lag.total_seconds()))

    def _permalink(self, lead: Lead | None) -> str | None:
        if lead is None or not lead.card_ts:
            return None
        try:
            response = self.client.chat_getPermalink(
                channel=lead.card_channel, message_ts=lead.card_ts
            )
        except SlackApiError:
            return None
        return response.get("permalink")
