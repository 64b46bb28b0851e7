"""The courier driven by an injected clock, one pass at a time, against the fake Slack.

Urgent cards go first, the clocks start when a card is in the sales channel, and delivery
resumes the moment Slack answers again. Time is the test's: each pass runs at a moment the
test sets, and what is asserted is which calls Slack saw by then, in which order.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from sqlmodel import select

from bot import cards, intake, metrics
from bot.agreement import Agreement
from bot.demo.slack_standin import Call, FakeSlack
from bot.schemas import LeadIn
from bot.service.runtime import Runtime, build
from bot.service.settings import Settings
from bot.slack.client import Limits, posting_time
from storage import deadlines, leads, outbox
from storage.db import migrate, transaction
from storage.models import Event, Outbox
from tests.support import lead

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday; the test agreement runs 24/7


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = START + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def courier_at(settings: Settings, agreement: Agreement, clock: Clock) -> Iterator[Runtime]:
    """Baton, not started: the test runs the courier's passes itself, at Slack's pace."""
    runtime = build(settings, agreement, clock=clock)
    migrate(runtime.engine)
    runtime.courier.limits = Limits(rate=1.0, burst=3)
    yield runtime
    runtime.engine.dispose()


def hand_over(runtime: Runtime, name: str, by: str = "api") -> str:
    body = lead(name=name, email=f"{name.lower().replace(' ', '.')}@nordlys.dk")
    return intake.hand_over(runtime.ctx, LeadIn.model_validate(body), by=by).lead.id


def run(runtime: Runtime, clock: Clock, seconds: float) -> None:
    """Every pass the courier makes at this moment: until one finds nothing due."""
    clock.at(seconds)
    for _ in range(10):
        if not runtime.courier.run_once():
            return


def card_names(slack: FakeSlack) -> list[str]:
    """The leads whose cards Slack accepted, in order."""
    return [
        re.match(r"Lead: ([^,]+),", call.params["text"]).group(1)
        for call in slack.calls_to("chat.postMessage")
        if call.params.get("channel") == "C0SALES" and "thread_ts" not in call.params
    ]


def posts(slack: FakeSlack) -> list[Call]:
    return slack.calls_to("chat.postMessage", include_failed=True)


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.ctx.sessions() as session:
        return outbox.count_pending(session=session), outbox.count_dead(session=session)


def clocks_of(runtime: Runtime, lead_id: str) -> dict[str, tuple[datetime, datetime]]:
    with runtime.ctx.sessions() as session:
        return {
            clock.kind: (clock.opened_at, clock.due_at)
            for clock in deadlines.of_lead(session=session, lead_id=lead_id)
        }


# urgency ---------------------------------------------------------------------------------


def test_an_api_card_goes_out_next_even_behind_an_import(courier_at: Runtime, clock, slack):
    imported = [f"Imported {n:02d}" for n in range(1, 11)]
    for name in imported:
        hand_over(courier_at, name, by="csv")
    run(courier_at, clock, 0)  # the burst of three; the other seven hold the next slots
    assert card_names(slack) == imported[:3]

    clock.at(0.5)
    hand_over(courier_at, "Website Lead")
    run(courier_at, clock, 0.5)
    for second in range(1, 9):
        run(courier_at, clock, second)

    assert card_names(slack) == [*imported[:3], "Website Lead", *imported[3:]]
    assert counts(courier_at) == (0, 0)


def test_of_the_cards_waiting_together_the_urgent_go_first(courier_at: Runtime, clock, slack):
    imported = [f"Imported {n:02d}" for n in range(1, 6)]
    for name in imported:
        hand_over(courier_at, name, by="csv")
    hand_over(courier_at, "Form Lead", by="U0MKTG1")  # `/baton lead` in Slack
    hand_over(courier_at, "Website Lead")
    for second in range(0, 6):
        run(courier_at, clock, second)

    assert card_names(slack) == ["Form Lead", "Website Lead", *imported]


def test_an_import_says_how_long_its_cards_take_at_slacks_pace():
    assert posting_time(1, rate=1.0) == timedelta(0)
    assert posting_time(3, rate=1.0) == timedelta(0)  # a burst of three goes at once
    assert posting_time(1000, rate=1.0) == timedelta(seconds=997)
    assert posting_time(1000, rate=50.0) == timedelta(seconds=997 / 50)
    limits = Limits(rate=1.0, burst=3)  # the pace the courier keeps, slot by slot
    slots = [limits.reserve("C0SALES", START) for _ in range(1000)]
    assert slots[-1] - START == posting_time(1000, rate=1.0)


def test_the_estimate_reads_the_configured_pace(monkeypatch):
    monkeypatch.setenv("BATON_SLACK_CHANNEL_RATE", "2")
    assert posting_time(103) == timedelta(seconds=50)


# the clocks start at the card ------------------------------------------------------------


def test_the_clocks_start_when_the_card_is_in_the_channel(courier_at: Runtime, clock, slack):
    delays = metrics.REGISTRY.get_sample_value("baton_card_delay_seconds_sum") or 0.0
    lead_id = hand_over(courier_at, "Waiting Lead")
    assert clocks_of(courier_at, lead_id) == {}  # handed over, but nobody can see it yet

    run(courier_at, clock, 5)

    card_at = START + timedelta(seconds=5)
    assert clocks_of(courier_at, lead_id) == {
        "claim": (card_at, card_at + timedelta(hours=1)),
        "contact": (card_at, card_at + timedelta(hours=4)),
    }
    with courier_at.ctx.sessions() as session:
        stored = leads.get(session=session, lead_id=lead_id)
        events = session.exec(select(Event).where(Event.lead_id == lead_id)).all()
    assert stored.card_at == card_at
    assert [(e.kind, e.data.get("delay_seconds")) for e in events] == [
        ("handed_over", None),
        ("card_posted", 5.0),
    ]
    (card,) = slack.calls_to("chat.postMessage")
    deadline = courier_at.renderer.when(card_at + timedelta(hours=1))
    blocks = json.dumps(card.json("blocks"), ensure_ascii=False)
    assert f"claim by {deadline}" in blocks  # the card says what the clock says
    after = metrics.REGISTRY.get_sample_value("baton_card_delay_seconds_sum")
    assert after - delays == pytest.approx(5.0)


@pytest.mark.parametrize(
    "held",
    [
        pytest.param(lambda s: s.rate_limit("chat.postMessage", retry_after=30), id="429"),
        pytest.param(lambda s: s.outage(), id="outage"),
    ],
)
def test_a_card_slack_holds_back_starts_no_clock(courier_at: Runtime, clock, slack, held):
    lead_id = hand_over(courier_at, "Held Lead")
    held(slack)
    for second in (0, 1, 10, 29):
        run(courier_at, clock, second)
        assert clocks_of(courier_at, lead_id) == {}
    slack.recover()
    run(courier_at, clock, 30)

    assert card_names(slack) == ["Held Lead"]
    card_at = START + timedelta(seconds=30)
    assert clocks_of(courier_at, lead_id)["claim"] == (card_at, card_at + timedelta(hours=1))


def test_a_card_found_by_the_lookup_starts_its_clocks_once(courier_at: Runtime, clock, slack):
    slack.disconnect("chat.postMessage", after_accepting=True)  # Slack took it; we never heard
    lead_id = hand_over(courier_at, "Found Lead")
    run(courier_at, clock, 0)
    assert clocks_of(courier_at, lead_id) == {}
    run(courier_at, clock, 2)  # tried again: found in the channel's history, not posted again

    assert len(slack.messages("C0SALES")) == 1
    assert len(posts(slack)) == 1
    assert [c.method for c in slack.calls][-1] == "conversations.history"
    clocks = clocks_of(courier_at, lead_id)
    assert sorted(clocks) == ["claim", "contact"]
    opened, due = clocks["claim"]
    assert START <= opened <= START + timedelta(seconds=2)  # Slack took it, by its ts
    assert due == opened + timedelta(hours=1)

    with transaction(courier_at.ctx.sessions) as session:  # reported again: nothing changes
        again = cards.shown(
            session=session, agreement=courier_at.agreement, lead_id=lead_id, at=clock()
        )
    assert again is False
    assert clocks_of(courier_at, lead_id) == clocks


def test_a_lead_claimed_before_its_card_is_seen_starts_only_its_contact_clock(
    courier_at: Runtime, clock, slack
):
    from bot import ownership

    lead_id = hand_over(courier_at, "Quick Lead")
    ownership.claim(courier_at.ctx, lead_id=lead_id, user="U0SELLER1")  # from `/baton open`
    run(courier_at, clock, 3)
    card_at = START + timedelta(seconds=3)
    assert clocks_of(courier_at, lead_id) == {"contact": (card_at, card_at + timedelta(hours=4))}


# Slack away and back -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["5xx", "dropped"])
def test_after_an_outage_the_cards_go_on_at_once_and_none_is_given_up(
    courier_at: Runtime, clock, slack, kind: Literal["5xx", "dropped"]
):
    names = [f"Queued {n}" for n in range(1, 6)]
    for name in names:
        hand_over(courier_at, name)
    slack.outage(kind)
    run(courier_at, clock, 0)
    assert len(slack.calls) == 1  # one card found Slack down; the others wait

    for second in range(1, 61):  # a minute of outage: one try a second, never more
        run(courier_at, clock, second - 0.5)
        assert len(slack.calls) == second
        run(courier_at, clock, second)
        assert len(slack.calls) == second + 1  # a post, or a look for one that may be there
        assert counts(courier_at) == (5, 0)  # waiting, none given up
    assert card_names(slack) == []

    slack.recover()
    run(courier_at, clock, 60.4)  # Slack is back; the next try is at 61
    assert card_names(slack) == []
    run(courier_at, clock, 61)
    assert len(card_names(slack)) == 3  # the first try finds Slack back, and a burst follows
    run(courier_at, clock, 62)
    run(courier_at, clock, 63)

    # Each once; the one that found Slack back went first, the others in the order queued.
    assert sorted(card_names(slack)) == names
    assert card_names(slack)[1:] == [name for name in names if name != card_names(slack)[0]]
    assert counts(courier_at) == (0, 0)
    with courier_at.ctx.sessions() as session:
        tried = [row.attempts for row in session.exec(select(Outbox).order_by(Outbox.id))]
    assert max(tried) <= 2  # the tries while Slack was down were not the messages' attempts


def test_a_429_holds_its_method_until_retry_after_and_not_a_moment_longer(
    courier_at: Runtime, clock, slack
):
    hand_over(courier_at, "First Lead")
    hand_over(courier_at, "Second Lead")
    slack.rate_limit("chat.postMessage", retry_after=5)
    run(courier_at, clock, 0)
    assert [c.answered for c in posts(slack)] == ["429"]
    run(courier_at, clock, 4.9)
    assert len(posts(slack)) == 1
    run(courier_at, clock, 5)
    assert card_names(slack) == ["First Lead"]
    run(courier_at, clock, 6)
    assert card_names(slack) == ["First Lead", "Second Lead"]  # at the steady pace, no burst
