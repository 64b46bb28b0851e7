"""The outbox against a Slack that fails: each message arrives once, at Slack's pace.

Failures are injected into the fake Slack (5xx, dropped connections, 429 with Retry-After,
`ok: false`); the real app delivers through the real `WebClient`. What is asserted is the
protocol: how many calls, in which order, and how far apart, never how fast.
"""

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.models.metadata import Metadata
from sqlmodel import select

from bot import intake, messages
from bot.agreement import Agreement
from bot.demo.slack_standin import Call, FakeSlack
from bot.schemas import LeadIn
from bot.service.runtime import Runtime, build
from bot.service.settings import Settings
from bot.slack.client import POST_MESSAGE, Limits
from storage import leads, outbox
from storage.db import migrate, transaction
from storage.models import Outbox
from tests.support import Baton, eventually, lead, serve


def cards(slack: FakeSlack, *, include_failed: bool = False) -> list[Call]:
    """Lead cards: top-level posts to the sales channel."""
    return [
        c for c in slack.calls_to("chat.postMessage", include_failed=include_failed) if is_card(c)
    ]


def is_card(call: Call) -> bool:
    return call.params.get("channel") == "C0SALES" and "thread_ts" not in call.params


def name_on(card: Call) -> str:
    found = re.match(r"Lead: ([^,]+),", card.params.get("text", ""))
    assert found, card.summary()
    return found.group(1)


def rows(runtime: Runtime) -> list[Outbox]:
    with runtime.ctx.sessions() as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)).all())


def queue(runtime: Runtime) -> list[tuple[Any, ...]]:
    """The outbox as a list of tuples, for assertion messages."""
    fields = ("id", "kind", "recipient", "next_attempt_at", "taken_until", "sent_at", "attempts")
    return [tuple(getattr(r, name) for name in (*fields, "error")) for r in rows(runtime)]


def refresh_card(runtime: Runtime, lead_id: str) -> None:
    """Queue a card update the way every change to a lead does, and tell the courier."""
    with transaction(runtime.ctx.sessions) as session:
        messages.refresh_card(session=session, lead_id=lead_id, at=runtime.ctx.clock())
    runtime.wake()


def queue_reply(runtime: Runtime, lead_id: str) -> None:
    with transaction(runtime.ctx.sessions) as session:
        messages.reply_in_thread(
            session=session,
            lead_id=lead_id,
            template="released",
            at=runtime.ctx.clock(),
            by="U0SELLER1",
        )
    runtime.wake()


def queue_dm(runtime: Runtime, lead_id: str) -> None:
    with transaction(runtime.ctx.sessions) as session:
        messages.direct(
            session=session,
            user="U0SELLER1",
            template="assigned_to_you",
            lead_id=lead_id,
            at=runtime.ctx.clock(),
            by="U0MANAGER",
        )
    runtime.wake()


def stamp(row: Outbox) -> dict[str, Any]:
    """The metadata the courier puts on a row's message: how a retry recognises it."""
    return {
        "event_type": "baton_outbox",
        "event_payload": {"row": row.id, "queued": row.created_at.isoformat()},
    }


def lookups(slack: FakeSlack) -> list[Call]:
    """Every call Baton made to ask Slack whether a message is already there."""
    return [c for c in slack.calls if c.method.startswith("conversations.")]


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.ctx.sessions() as session:
        return outbox.count_pending(session=session), outbox.count_dead(session=session)


# Slack's limits, kept by the sender ---------------------------------------------------------


def test_a_channel_gets_a_burst_then_one_message_a_second_and_others_are_not_slowed():
    limits = Limits(rate=1.0, burst=3)
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    slots = [limits.reserve("C0SALES", start) for _ in range(6)]
    assert [(s - start).total_seconds() for s in slots] == [0, 0, 0, 1, 2, 3]
    assert limits.reserve("U0CEO", start) == start  # a DM is another channel
    later = start + timedelta(seconds=10)
    assert limits.reserve("C0SALES", later) == later  # a quiet channel has its burst again


def test_a_held_method_waits_alone_and_resumes_at_the_steady_pace():
    limits = Limits(rate=1.0, burst=3)
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    until = now + timedelta(seconds=5)
    limits.reserve("C0SALES", now)
    limits.hold(POST_MESSAGE, until)
    assert limits.not_before(POST_MESSAGE, now) == until
    assert limits.not_before("chat.update", now) is None
    assert limits.next_change(now) == until
    after = [limits.reserve("C0SALES", until) for _ in range(3)]
    assert [(s - until).total_seconds() for s in after] == [0, 1, 2]  # no burst after a 429
    assert limits.not_before(POST_MESSAGE, until) is None


def test_cards_keep_slacks_pace_and_their_order_while_other_channels_go_at_once(
    runtime: Runtime, slack: FakeSlack
):
    runtime.courier.limits = Limits(rate=1.0, burst=3)  # Slack's own pace, whatever the env says
    names = [f"Pace Lead {number:02d}" for number in range(1, 11)]
    with serve(runtime) as baton:
        for number, name in enumerate(names, start=1):
            answer = baton.hand_over(lead(name=name, email=f"pace{number}@nordlys.dk"))
            assert answer.status_code == 201
        handed_back_at = time.monotonic()
        assert baton.hand_over(lead(name="Elsewhere", country="US")).status_code == 201
        posted = slack.wait_for("chat.postMessage", 10, where=is_card, timeout=30)
        marketing = slack.wait_for(
            "chat.postMessage", where=lambda c: c.params["channel"] == "C0MKTG"
        )
        time.sleep(1.5)  # a duplicate would show up by now

    assert [name_on(c) for c in cards(slack)] == names  # complete, once each, in hand-over order
    span = posted[-1].at - posted[0].at
    assert span >= 5, f"10 cards in {span:.2f}s: faster than about one a second"
    for i in range(len(posted)):
        for j in range(i + 1, len(posted)):
            window = posted[j].at - posted[i].at
            assert j - i + 1 <= 3 + 1.0 * (window + 0.5), (i, j, window)
    assert marketing[0].at - handed_back_at < 2.0  # not queued behind the sales channel
    assert marketing[0].at < posted[-1].at
    print(
        f"\npacing: 10 cards to C0SALES over {span:.1f}s; after the burst of 3, "
        f"{6 / (posted[-1].at - posted[3].at):.2f} msg/s (Slack: 1 msg/s per channel); "
        f"the marketing post went out {marketing[0].at - handed_back_at:.2f}s after hand-over"
    )


# Failures Slack recovers from ---------------------------------------------------------------


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda s: s.server_error("chat.postMessage", status=503), id="5xx"),
        pytest.param(lambda s: s.disconnect("chat.postMessage"), id="dropped-connection"),
    ],
)
def test_a_card_that_failed_in_transit_is_delivered_once(
    baton: Baton, slack: FakeSlack, outage: Callable[[FakeSlack], None]
):
    baton.runtime.courier.backoff = 0.25  # 0.25 s x 2^attempts, jittered: a test's worth
    outage(slack)
    lead_id = baton.hand_over(lead()).json()["id"]
    slack.wait_for("chat.postMessage", where=is_card, timeout=15)
    time.sleep(0.5)
    attempts = cards(slack, include_failed=True)
    assert [c.answered for c in attempts] in (["5xx", "ok"], ["dropped", "ok"])
    assert attempts[1].at - attempts[0].at >= 0.2  # backed off, not hammered
    (row,) = [r for r in rows(baton.runtime) if r.lead_id == lead_id]
    assert row.sent_at is not None and row.message_id == attempts[1].response["ts"]
    assert row.attempts == 2
    assert eventually(lambda: counts(baton.runtime) == (0, 0)), queue(baton.runtime)
    (lookup,) = lookups(slack)  # not in Slack after all: looked for once, then posted
    assert lookup.method == "conversations.history" and lookup.at < attempts[1].at


def test_a_429_waits_for_retry_after_for_that_method_only(baton: Baton, slack: FakeSlack):
    first = baton.hand_over(lead(name="First Lead", email="first@nordlys.dk")).json()["id"]
    slack.wait_for("chat.postMessage", where=is_card)

    slack.rate_limit("chat.postMessage", retry_after=2, times=1)
    second = baton.hand_over(lead(name="Second Lead", email="second@nordlys.dk")).json()["id"]
    limited = slack.wait_for(
        "chat.postMessage", where=lambda c: c.answered == "429", include_failed=True
    )[0]
    refresh_card(baton.runtime, first)  # chat.update is another method: it is not held
    update = slack.wait_for("chat.update")[0]
    posted = slack.wait_for("chat.postMessage", 2, where=is_card)[1]
    time.sleep(0.5)

    assert update.at - limited.at < 1.5
    assert posted.at - limited.at >= 1.95, "Retry-After was not waited out"
    assert [name_on(c) for c in cards(slack)] == ["First Lead", "Second Lead"]
    (row,) = [r for r in rows(baton.runtime) if r.lead_id == second]
    assert row.attempts == 1  # being told to wait is not a failed attempt
    assert row.sent_at is not None


def test_a_posted_card_is_updated_in_place_even_when_the_update_fails_once(
    baton: Baton, slack: FakeSlack
):
    lead_id = baton.hand_over(lead()).json()["id"]
    card = slack.wait_for("chat.postMessage", where=is_card)[0]
    baton.runtime.courier.backoff = 0.25
    slack.server_error("chat.update", times=1)
    refresh_card(baton.runtime, lead_id)
    updates = slack.wait_for("chat.update", timeout=15)
    time.sleep(0.5)
    assert len(cards(slack, include_failed=True)) == 1  # posted once, never again
    assert [c.answered for c in slack.calls_to("chat.update", include_failed=True)] == ["5xx", "ok"]
    assert updates[0].params["ts"] == card.response["ts"]
    assert eventually(lambda: counts(baton.runtime) == (0, 0)), queue(baton.runtime)


# Lost answers: Slack took the message, Baton never heard ----------------------------------------


@pytest.mark.parametrize("kind", ["card", "reply", "dm"])
def test_a_post_slack_took_whose_answer_was_lost_is_recorded_not_posted_again(
    baton: Baton, slack: FakeSlack, kind: str
):
    baton.runtime.courier.backoff = 0.25
    if kind == "card":
        slack.disconnect("chat.postMessage", after_accepting=True)
    lead_id = baton.hand_over(lead()).json()["id"]
    slack.wait_for("chat.postMessage", where=is_card, include_failed=True)
    if kind == "reply":
        slack.disconnect("chat.postMessage", after_accepting=True)
        queue_reply(baton.runtime, lead_id)
    if kind == "dm":
        slack.disconnect("chat.postMessage", after_accepting=True)
        queue_dm(baton.runtime, lead_id)
    assert eventually(lambda: counts(baton.runtime) == (0, 0)), queue(baton.runtime)
    time.sleep(0.5)  # a second post would have shown up by now

    card_ts = slack.messages("C0SALES")[0]["ts"]
    where = {
        "card": ("C0SALES", slack.messages("C0SALES")),
        "reply": ("C0SALES", slack.replies("C0SALES", card_ts)),
        "dm": (slack.dm_channel("U0SELLER1"), slack.messages(slack.dm_channel("U0SELLER1"))),
    }
    channel, (message,) = where[kind]  # in Slack once, and once only
    row = rows(baton.runtime)[-1]
    assert message["metadata"] == stamp(row)
    assert (row.platform, row.conversation, row.message_id) == ("slack", channel, message["ts"])
    assert (row.attempts, row.error) == (2, None)
    posts = [c.answered for c in slack.calls_to("chat.postMessage", include_failed=True)]
    assert posts == (["dropped"] if kind == "card" else ["ok", "dropped"])  # never again
    method = "conversations.replies" if kind == "reply" else "conversations.history"
    expected = ["conversations.open", method] if kind == "dm" else [method]
    assert [c.method for c in lookups(slack)] == expected
    read = lookups(slack)[-1]
    assert read.params["include_all_metadata"] in ("1", "true")
    assert float(read.params["oldest"]) < row.created_at.timestamp()
    if kind == "card":  # the card is the lead's: it is updated in place, never posted again
        with baton.runtime.ctx.sessions() as session:
            found = leads.get(session=session, lead_id=lead_id)
        assert (found.card_conversation, found.card_message_id) == ("C0SALES", message["ts"])
        refresh_card(baton.runtime, lead_id)
        assert slack.wait_for("chat.update")[0].params["ts"] == message["ts"]
        assert len(slack.messages("C0SALES")) == 1


def test_a_first_send_asks_slack_nothing_and_names_its_row(baton: Baton, slack: FakeSlack):
    lead_id = baton.hand_over(lead()).json()["id"]
    slack.wait_for("chat.postMessage", where=is_card)
    queue_reply(baton.runtime, lead_id)
    queue_dm(baton.runtime, lead_id)
    slack.wait_for("chat.postMessage", 3)
    assert eventually(lambda: counts(baton.runtime) == (0, 0)), queue(baton.runtime)

    assert lookups(slack) == []
    card, reply, dm = rows(baton.runtime)
    assert slack.messages("C0SALES")[0]["metadata"] == stamp(card)
    assert slack.replies("C0SALES", card.message_id)[0]["metadata"] == stamp(reply)
    assert slack.messages(slack.dm_channel("U0SELLER1"))[0]["metadata"] == stamp(dm)
    assert all(r.attempts == 1 for r in (card, reply, dm))
    shown = re.search(
        r"^baton_card_delay_seconds_count (\S+)$", baton.http.get("/metrics").text, re.M
    )
    assert shown and float(shown.group(1)) >= 1  # hand-over to card, its own figure


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda s: s.server_error("conversations.history", times=2), id="5xx"),
        pytest.param(lambda s: s.rate_limit("conversations.history", retry_after=1), id="429"),
        pytest.param(lambda s: s.disconnect("conversations.history"), id="dropped-connection"),
    ],
)
def test_a_lookup_that_fails_is_retried_and_never_posts_blind(
    baton: Baton, slack: FakeSlack, outage: Callable[[FakeSlack], None]
):
    baton.runtime.courier.backoff = 0.25
    slack.disconnect("chat.postMessage", after_accepting=True)
    outage(slack)
    baton.hand_over(lead())
    assert eventually(lambda: counts(baton.runtime) == (0, 0), 20), queue(baton.runtime)
    time.sleep(0.5)

    assert len(slack.messages("C0SALES")) == 1
    assert len(slack.calls_to("chat.postMessage", include_failed=True)) == 1  # the lost one
    reads = slack.calls_to("conversations.history", include_failed=True)
    assert [c.answered for c in reads][-1] == "ok" and len(reads) >= 2
    (row,) = rows(baton.runtime)
    assert row.message_id == slack.messages("C0SALES")[0]["ts"]


def test_a_lookup_slack_refuses_is_a_dead_letter_until_retried_not_a_second_post(
    baton: Baton, slack: FakeSlack
):
    baton.runtime.courier.backoff = 0.25
    slack.disconnect("chat.postMessage", after_accepting=True)
    slack.fail("conversations.history", "missing_scope")  # installed before the read scopes
    baton.hand_over(lead())
    assert eventually(lambda: counts(baton.runtime) == (0, 1), 15), queue(baton.runtime)
    (row,) = rows(baton.runtime)
    assert row.error == "missing_scope"

    with transaction(baton.runtime.ctx.sessions) as session:  # what `baton outbox retry` does
        assert outbox.retry_dead(session=session, now=baton.runtime.ctx.clock()) == 1
    baton.runtime.wake()
    assert eventually(lambda: counts(baton.runtime) == (0, 0)), queue(baton.runtime)
    time.sleep(0.5)
    assert len(slack.messages("C0SALES")) == 1
    assert len(slack.calls_to("chat.postMessage", include_failed=True)) == 1
    (row,) = rows(baton.runtime)
    assert row.message_id == slack.messages("C0SALES")[0]["ts"]


# Dead letters ----------------------------------------------------------------------------------


def test_a_permanent_error_is_a_dead_letter_at_once_until_retried(baton: Baton, slack: FakeSlack):
    slack.fail("chat.postMessage", "channel_not_found", times=1)
    lead_id = baton.hand_over(lead()).json()["id"]
    assert eventually(lambda: counts(baton.runtime) == (0, 1))
    time.sleep(1)
    assert len(slack.calls_to("chat.postMessage", include_failed=True)) == 1  # no retries
    (row,) = [r for r in rows(baton.runtime) if r.lead_id == lead_id]
    assert (row.next_attempt_at, row.sent_at, row.error) == (None, None, "channel_not_found")
    assert "baton_outbox_dead 1.0" in baton.http.get("/metrics").text

    with transaction(baton.runtime.ctx.sessions) as session:  # what `baton outbox retry` does
        assert outbox.retry_dead(session=session, now=baton.runtime.ctx.clock()) == 1
    baton.runtime.wake()
    slack.wait_for("chat.postMessage", where=is_card)
    time.sleep(0.5)
    assert len(cards(slack)) == 1
    assert eventually(lambda: counts(baton.runtime) == (0, 0)), queue(baton.runtime)
    assert "baton_outbox_dead 0.0" in baton.http.get("/metrics").text


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("chat.postMessage", "not_allowed_token_type"),  # a user or app token in SLACK_BOT_TOKEN
        ("chat.postMessage", "token_expired"),
        ("chat.postMessage", "restricted_action_read_only_channel"),
        ("chat.postMessage", "messages_tab_disabled"),
        ("conversations.history", "not_allowed_token_type"),
        ("conversations.history", "not_in_channel"),  # a lookup where Baton was never invited
        ("conversations.replies", "thread_not_found"),  # the card's thread was deleted
    ],
)
def test_an_error_no_retry_can_fix_parks_the_row_at_once(
    baton: Baton, slack: FakeSlack, method: str, error: str
):
    """Never retried: each attempt would only earn the same answer until an operator acts."""
    baton.runtime.courier.backoff = 0.05
    if method == "conversations.replies":
        lead_id = baton.hand_over(lead()).json()["id"]
        slack.wait_for("chat.postMessage", where=is_card)
        assert eventually(lambda: counts(baton.runtime) == (0, 0))
    if method != "chat.postMessage":  # the post's answer is lost, so its retry looks first
        slack.disconnect("chat.postMessage", after_accepting=True)
    if method == "conversations.replies":
        with transaction(baton.runtime.ctx.sessions) as session:  # a reply in the card's thread
            messages.reply_in_thread(
                session=session,
                lead_id=lead_id,
                template="released",
                at=baton.runtime.ctx.clock(),
                by="U0SELLER1",
            )
        baton.runtime.wake()
    slack.fail(method, error)
    if method != "conversations.replies":
        baton.hand_over(lead())
    assert eventually(lambda: counts(baton.runtime)[1] == 1), queue(baton.runtime)
    time.sleep(0.5)
    assert len(slack.calls_to(method, include_failed=True)) == 1  # no retries
    (dead,) = [r for r in rows(baton.runtime) if r.error == error]
    assert (dead.next_attempt_at, dead.sent_at) == (None, None)


def test_a_message_slack_keeps_refusing_is_given_up_after_its_attempts(
    baton: Baton, slack: FakeSlack
):
    baton.runtime.courier.max_attempts = 3
    baton.runtime.courier.backoff = 0.05
    slack.fail("chat.postMessage", "internal_error", times=3)  # an answer, not an outage
    baton.hand_over(lead())
    assert eventually(lambda: counts(baton.runtime) == (0, 1))
    time.sleep(1)
    assert [c.answered for c in slack.calls_to("chat.postMessage", include_failed=True)] == [
        "error"
    ] * 3


# Crashes -----------------------------------------------------------------------------------


def test_rows_taken_by_a_worker_that_died_go_out_once_when_its_lease_runs_out(
    settings: Settings, agreement: Agreement, slack: FakeSlack
):
    offset = [timedelta(0)]
    runtime = build(settings, agreement, clock=lambda: datetime.now(UTC) + offset[0])
    try:
        migrate(runtime.engine)
        intake.hand_over(runtime.ctx, LeadIn.model_validate(lead()), by="api")
        with transaction(runtime.ctx.sessions) as session:  # a worker takes the card, then dies
            taken = outbox.take(
                session=session,
                now=runtime.ctx.clock(),
                lease=runtime.courier.lease,
                limit=10,
                in_order=(messages.CARD, messages.REPLY),
            )
        assert len(taken) == 1
        with serve(runtime):
            time.sleep(1.5)
            assert not slack.calls_to("chat.postMessage", include_failed=True)  # still leased
            offset[0] = runtime.courier.lease + timedelta(seconds=1)
            slack.wait_for("chat.postMessage", where=is_card, timeout=10)
            time.sleep(1)
        assert len(cards(slack, include_failed=True)) == 1
        (row,) = rows(runtime)
        assert row.sent_at is not None
        assert row.attempts == 2  # the dead worker's attempt, then the live one's
    finally:
        runtime.engine.dispose()


def test_a_worker_that_died_after_slack_took_its_card_leaves_it_posted_once(
    settings: Settings, agreement: Agreement, slack: FakeSlack
):
    """The kill -9 case in one process: the card is in Slack, the database never heard."""
    offset = [timedelta(0)]
    runtime = build(settings, agreement, clock=lambda: datetime.now(UTC) + offset[0])
    try:
        migrate(runtime.engine)
        intake.hand_over(runtime.ctx, LeadIn.model_validate(lead()), by="api")
        with transaction(runtime.ctx.sessions) as session:
            (taken,) = outbox.take(
                session=session,
                now=runtime.ctx.clock(),
                lease=runtime.courier.lease,
                limit=10,
                in_order=(messages.CARD, messages.REPLY),
            )
        meta = stamp(taken)  # posted as the dying worker did, with the row's name on it
        posted = WebClient(token="xoxb-test", base_url=slack.url).chat_postMessage(
            channel="C0SALES", text="Lead: Mette Hansen, CIO", metadata=Metadata(**meta)
        )
        with serve(runtime):
            offset[0] = runtime.courier.lease + timedelta(seconds=1)
            slack.wait_for("conversations.history")
            assert eventually(lambda: counts(runtime) == (0, 0)), queue(runtime)
            time.sleep(1)
        assert len(slack.messages("C0SALES")) == 1
        (row,) = rows(runtime)
        assert (row.message_id, row.attempts) == (posted["ts"], 2)
        with runtime.ctx.sessions() as session:
            assert leads.get(session=session, lead_id=row.lead_id).card_message_id == posted["ts"]
    finally:
        runtime.engine.dispose()
