"""The Slack transport of the outbox: where each row goes in Slack, and how it gets there.

`bot.delivery` takes rows, keeps the pace, holds and retries; this module renders a row's
message (`bot.slack.render`), posts or updates it, and tells the worker what Slack took.

Exactly once: `chat.postMessage` has no idempotency key, so a crash between Slack accepting a
message and the database recording it, or an answer lost to a timeout or a dropped
connection, would otherwise post it twice. Every post therefore carries message metadata
naming its row, and a row that may already have gone out (it was taken before, or an earlier
attempt failed) is first looked for in Slack: `conversations.history` of its channel (a DM's
after `conversations.open`), or `conversations.replies` of its thread, from now back to a
minute before it was queued. Found, it is recorded as delivered with that ts and not posted.
A message that shows a chart uploads it first, unshared, and keeps its file id on the row
(`bot.slack.uploads`), so the upload never needs a lookup of its own.
A first attempt makes no such call. A lookup that fails is retried like any failed call, and
one that cannot finish (over 2,000 messages to read) parks the row; neither posts blind. The
one assumption left is Slack's: that a message it accepted shows in the conversation's
history by the time the row is tried again, a lease (15 s) after a crash, or a backoff after
a lost answer.
"""

import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from http.client import HTTPException
from typing import Any, NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from sqlmodel import Session

from bot import cards, digests, messages, metrics, routing
from bot.context import Context
from bot.delivery.interface import Answer, Call, Sent, Undeliverable
from bot.slack import digest_layout
from bot.slack.client import BURST, POST_MESSAGE, Limits, without_retries
from bot.slack.client import channel_rate as configured_channel_rate
from bot.slack.errors import PERMANENT
from bot.slack.render import Renderer
from bot.slack.uploads import ChartUploads
from storage import leads
from storage.db import reading
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


class _Posted(NamedTuple):
    channel: str
    ts: str
    found: bool = False
    """Found in Slack, posted by an earlier attempt whose answer was lost."""


class SlackTransport:
    """Renders and sends outbox rows to Slack through a client that never sleeps on a retry."""

    platform = "slack"
    paced = POST_MESSAGE
    """The method Slack paces per channel; the worker keeps `limits` for it."""
    permanent = PERMANENT

    def __init__(
        self,
        ctx: Context,
        client: WebClient,
        renderer: Renderer,
        *,
        channel_rate: float | None = None,
        burst: int = BURST,
    ) -> None:
        """`channel_rate` defaults to `BATON_SLACK_CHANNEL_RATE` (1 a second)."""
        self.ctx = ctx
        self.client = without_retries(client)
        self.renderer = renderer
        self.timeout = float(self.client.timeout)
        rate = configured_channel_rate() if channel_rate is None else channel_rate
        self.limits = Limits(rate=rate, burst=burst)
        self.uploads = ChartUploads(ctx, self.client, renderer.message)
        self._links: dict[tuple[str, str], str | None] = {}
        self._workspace: str | None = None

    def answer(self, error: Exception) -> Answer | None:
        """How Slack answered a failed call: its HTTP status, error code and Retry-After; a
        connection that failed is status 0. None: no call failed, a bug to raise."""
        if isinstance(error, SlackApiError):
            response = error.response
            return Answer(
                status=int(response.status_code or 0) or 200,
                code=str(response.get("error") or "unknown_error"),
                retry_after=_retry_after(response.headers),
            )
        if isinstance(error, (OSError, HTTPException)):
            return Answer(status=0, code="connection_error", retry_after=None)
        return None

    def route(
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
            return UPDATE, row.recipient
        return POST_MESSAGE, row.recipient

    def deliver(self, row: Outbox, call: Call) -> Sent:
        """Send `row` (every Slack call through `call`); what Slack took, to record."""
        if row.kind in (messages.DIGEST, messages.DIGEST_UPDATE):
            return self._digest(row, call)
        lead, clocks = cards.of_row(self.ctx, row.lead_id)
        if row.kind == messages.CARD:
            return self._card(row, lead, clocks, call)
        if row.kind == messages.ERASE:
            removed = self.renderer.message("removed")
            response = call(
                row,
                UPDATE,
                lambda: self.client.chat_update(
                    channel=row.recipient, ts=row.payload["message_id"], **removed
                ),
            )
            return Sent(message_id=response.get("ts"), conversation=row.recipient)
        if row.kind == messages.REPLY and (lead is None or not lead.card_message_id):
            # The card is posted before any reply (they are taken in order); no card means
            # it was given up on, and `baton outbox retry` queues both again.
            raise Undeliverable("the lead's card was never posted")
        facts: dict[str, Any] = dict(row.payload.get("facts", {}))
        facts.update(lead=lead, card_link=self._permalink(lead))
        facts = self.uploads.facts(row, facts, call)  # a chart it shows, uploaded first
        message = self.renderer.message(row.payload["template"], **facts)
        if row.kind == messages.REPLY:
            assert lead is not None and lead.card_conversation is not None
            posted = self._post(
                row, message, lead.card_conversation, call, thread_ts=lead.card_message_id
            )
        else:
            assert row.recipient is not None  # a DM or a post always names where it goes
            posted = self._post(row, message, row.recipient, call)
        planned = row.payload.get("facts", {}).get("planned")
        lags = [datetime.fromisoformat(planned)] if planned else []
        return Sent(message_id=posted.ts, conversation=posted.channel, planned=lags)

    def _digest(self, row: Outbox, call: Call) -> Sent:
        """Post a digest, or bring the posted one up to date, as it stands now.

        Each row shows every change made before it was rendered; one made later has queued
        the next update (`bot.digests.shown`), so nothing is missed and each row is one call.
        """
        shown = digests.current(
            self.ctx, row.payload["digest"], link=self._card_link, pack=digest_layout.pack
        )
        if shown is None:
            return Sent()
        message = self.renderer.message(shown.template, **shown.facts)
        where: tuple[str, str, str] | None = None
        version = shown.version
        if row.kind == messages.DIGEST:
            posted = self._post(row, message, shown.recipient, call)
            where = (self.platform, posted.channel, posted.ts)
            if posted.found:
                # Found in Slack as an earlier attempt rendered it, not as it is now: count
                # it as showing nothing, so an update follows with the digest as it is.
                version = 0
        elif shown.message_id is None or shown.conversation is None:
            raise Undeliverable("a digest update without its post")
        else:
            channel, ts = shown.conversation, shown.message_id
            call(row, UPDATE, lambda: self.client.chat_update(channel=channel, ts=ts, **message))
        return digests.sent(shown, version=version, where=where, at=self.ctx.clock())

    def _card(self, row: Outbox, lead: Lead | None, clocks: list, call: Call) -> Sent:
        if lead is None:
            return Sent()
        with reading(self.ctx.sessions) as session:
            latest = leads.latest_feedback(session=session, lead_id=lead.id)
            routed = routing.why(session, lead_id=lead.id)
        if lead.card_message_id and lead.card_conversation:
            message = self.renderer.card(lead, clocks, latest, routed)
            channel, ts = lead.card_conversation, lead.card_message_id
            response = call(
                row, UPDATE, lambda: self.client.chat_update(channel=channel, ts=ts, **message)
            )
            return Sent(message_id=response.get("ts"), conversation=channel)
        # The first post says by when to claim, as the clocks will start once Slack has it.
        now = self.ctx.clock()
        message = self.renderer.card(
            lead, cards.preview(self.ctx.agreement, lead, clocks, now), latest, routed
        )
        posted = self._post(row, message, self.ctx.agreement.channels.sales, call)
        metrics.LEADS_POSTED.inc()  # also when found: the attempt that posted it never counted it
        at = self.ctx.clock()
        if posted.found:  # in the channel since Slack took it, as far as our clock can tell
            at = min(at, max(row.created_at, _posted_at(posted.ts, at)))
        lead_id, channel, ts = lead.id, posted.channel, posted.ts

        def record(session: Session) -> None:
            """The card is where it is, and the clocks start: Sales can see the lead."""
            leads.set_card(
                session=session,
                lead_id=lead_id,
                platform=self.platform,
                conversation=channel,
                message_id=ts,
            )
            cards.shown(session=session, agreement=self.ctx.agreement, lead_id=lead_id, at=at)

        metrics.CARD_DELAY.observe(max(0.0, (at - lead.received_at).total_seconds()))
        return Sent(message_id=ts, conversation=channel, record=record, started_clocks=True)

    def _post(
        self,
        row: Outbox,
        message: dict[str, Any],
        channel: str,
        call: Call,
        thread_ts: str | None = None,
    ) -> _Posted:
        """Post `row`'s message, unless an earlier attempt already did; where it is, either way.

        A retry (`attempts > 1`: an earlier take sent, or died sending) or a row whose last
        attempt failed (a timeout, a dropped connection, a 5xx, or `baton outbox retry`) may
        be in Slack already; only those are looked for, so a first send costs one call.
        """
        if row.attempts > 1 or row.error is not None:
            found = self._find(row, channel, thread_ts, call)
            if found is not None:
                log.info("outbox: row %s was already in Slack; recorded, not posted again", row.id)
                metrics.OUTBOX_FOUND.inc()
                return _Posted(*found, found=True)
        response = call(
            row,
            POST_MESSAGE,
            lambda: self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, metadata=_stamp(row), **message
            ),
            channel,
        )
        return _Posted(response["channel"], response["ts"])

    def _find(
        self, row: Outbox, channel: str, thread_ts: str | None, call: Call
    ) -> tuple[str, str] | None:
        """The channel and ts of `row`'s message if Slack has it, newest first back to its queueing.

        A failed call raises like a failed post, so the row waits and nothing is posted blind.
        """
        if channel.startswith(("U", "W")):  # a DM by user id: its history is the D… channel's
            opened = call(row, OPEN, lambda: self.client.conversations_open(users=channel))
            channel = opened["channel"]["id"]
        method, read = HISTORY, self.client.conversations_history
        if thread_ts:
            method, read = REPLIES, partial(self.client.conversations_replies, ts=thread_ts)
        oldest = f"{(row.created_at - SKEW).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(PAGES):
            page = call(
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

    def _permalink(self, lead: Lead | None) -> str | None:
        """A link to the lead's card, asked of Slack once per card; None if Slack won't say."""
        if lead is None or not lead.card_message_id or not lead.card_conversation:
            return None
        key = (lead.card_conversation, lead.card_message_id)
        if key in self._links:
            return self._links[key]
        try:
            response = self.client.chat_getPermalink(
                channel=lead.card_conversation, message_ts=lead.card_message_id
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
        if not lead.card_message_id or not lead.card_conversation:
            return None
        if self._workspace is None:
            try:
                self._workspace = str(self.client.auth_test().get("url") or "")
            except (SlackApiError, OSError, HTTPException):
                return None
        if not self._workspace:
            return None
        stamp = lead.card_message_id.replace(".", "")
        return f"{self._workspace.rstrip('/')}/archives/{lead.card_conversation}/p{stamp}"


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
