"""The slots the courier hands out per conversation, in order, urgent rows ahead of bulk ones.

`Slots` keeps each conversation's held slots as a line found by bisection; these tests pin
that it hands out exactly the times the plain rule gives (look at every held slot of the
conversation, the urgent row takes the first a less urgent row holds after now, those move
one slot later), and the courier's side of it: under a backlog each row is taken once to be
given its slot and once to go.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.agreement import Agreement
from bot.context import Context
from bot.delivery.interface import Answer, Call, Sent
from bot.delivery.limits import Limits
from bot.delivery.pacing import Slots
from bot.delivery.worker import Courier
from storage import outbox
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
URGENT, BULK = 0, 2


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_rows_of_one_priority_keep_the_slots_they_are_given_in_order():
    slots = Slots()
    given_ = [slots.give(row, BULK, "C0SALES", at(row), at(0)) for row in range(1, 6)]
    assert given_ == [at(row) for row in range(1, 6)]
    assert [slots.at(row, at(0)) for row in range(1, 6)] == given_
    assert slots.soonest() == at(1)
    assert len(slots) == 5


def test_an_urgent_row_takes_the_first_slot_a_less_urgent_row_holds_and_they_move_up():
    slots = Slots()
    slots.give(1, URGENT, "C0SALES", at(1), at(0))
    for row in (2, 3, 4):
        slots.give(row, BULK, "C0SALES", at(row), at(0))
    slots.give(9, BULK, "C0OTHER", at(2), at(0))  # another conversation: untouched

    assert slots.give(5, URGENT, "C0SALES", at(5), at(0.5)) == at(2)
    assert [slots.at(row, at(0.5)) for row in (1, 5, 2, 3, 4)] == [at(s) for s in (1, 2, 3, 4, 5)]
    assert slots.at(9, at(0.5)) == at(2)
    assert slots.give(6, 1, "C0SALES", at(6), at(0.5)) == at(3)  # between the two: after 5
    assert [slots.at(row, at(0.5)) for row in (2, 3, 4)] == [at(4), at(5), at(6)]


def test_a_slot_that_has_come_stays_with_its_row_whatever_comes():
    slots = Slots()
    for row in (1, 2, 3):
        slots.give(row, BULK, "C0SALES", at(row), at(0))

    assert slots.give(4, URGENT, "C0SALES", at(4), at(1)) == at(2)  # row 1's time has come
    assert [slots.at(row, at(1)) for row in (1, 4, 2, 3)] == [at(1), at(2), at(3), at(4)]
    # A clock set back does not give row 1's slot to a later urgent row either.
    assert slots.give(5, URGENT, "C0SALES", at(5), at(0)) == at(3)
    assert slots.at(1, at(0)) == at(1)


def test_a_freed_slot_leaves_the_others_their_times():
    slots = Slots()
    for row in (1, 2, 3):
        slots.give(row, BULK, "C0SALES", at(row), at(0))
    slots.free(2)
    slots.free(2)  # freeing twice, or a row without a slot, changes nothing
    slots.free(7)
    assert [slots.at(row, at(0)) for row in (1, 2, 3)] == [at(1), None, at(3)]
    slots.free(1)
    slots.free(3)
    assert len(slots) == 0
    assert slots.soonest() is None


def test_slots_that_came_and_were_not_seen_are_forgotten_the_others_kept():
    slots = Slots()
    for row in (1, 2, 3, 4):
        slots.give(row, BULK, "C0SALES", at(row), at(0))
    slots.give(5, BULK, "C0OTHER", at(1), at(0))

    slots.forget_come(at(2), keep={2})  # rows 1 and 5 went elsewhere (another replica)
    assert [slots.at(row, at(2)) for row in (1, 2, 3, 4, 5)] == [None, at(2), at(3), at(4), None]
    assert slots.soonest() == at(2)
    slots.clear()
    assert len(slots) == 0


class _Plain:
    """The rule written plainly: every held slot of every conversation looked at."""

    def __init__(self) -> None:
        self.slots: dict[int, tuple[str, int, datetime]] = {}

    def give(self, row: int, priority: int, conversation: str, when: datetime, now: datetime):
        behind = sorted(
            (held, other)
            for other, (where, rank, held) in self.slots.items()
            if where == conversation and rank > priority and held > now
        )
        if not behind:
            self.slots[row] = (conversation, priority, when)
            return when
        later = [held for held, _ in behind[1:]] + [when]
        for (_, other), moved in zip(behind, later, strict=True):
            self.slots[other] = (*self.slots[other][:2], moved)
        self.slots[row] = (conversation, priority, behind[0][0])
        return behind[0][0]


steps = st.lists(
    st.tuples(
        st.sampled_from(["give", "give", "give", "free", "tick"]),
        st.integers(0, 3),  # priority
        st.sampled_from(["C0SALES", "C0OTHER"]),
        st.integers(0, 40),  # which held row to free
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_the_line_gives_every_row_the_time_the_plain_rule_gives(script):
    slots, plain = Slots(), _Plain()
    limits = Limits(rate=1.0, burst=1, paced="send")
    now = START
    for number, (step, priority, conversation, pick) in enumerate(script):
        if step == "tick":
            now += timedelta(seconds=0.7)
        elif step == "free" and plain.slots:
            row = sorted(plain.slots)[pick % len(plain.slots)]
            del plain.slots[row]
            slots.free(row)
        elif step == "give":
            when = limits.reserve(conversation, now)
            if when > now:
                assert slots.give(number, priority, conversation, when, now) == plain.give(
                    number, priority, conversation, when, now
                )
        assert {row: slots.at(row, now) for row in plain.slots} == {
            row: held for row, (_, _, held) in plain.slots.items()
        }
        assert slots.soonest() == min((held for _, _, held in plain.slots.values()), default=None)


# the courier under a backlog ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class OneChannel:
    """A transport whose every row is a paced post to its `recipient`, taken at once."""

    platform = "test"
    paced = "send"
    permanent: frozenset[str] = frozenset()
    timeout = 1.0

    def __init__(self) -> None:
        self.limits = Limits(rate=0.5, burst=5, paced="send")  # Teams' pace
        self.sent: list[int] = []
        self.looked: list[int] = []  # each row the courier took and planned, once a time

    def route(self, row: Outbox, placed: dict) -> tuple[str, str | None]:
        self.looked.append(row.id)
        return "send", row.recipient

    def deliver(self, row: Outbox, call: Call) -> Sent:
        call(row, "send", lambda: None, row.recipient)
        self.sent.append(row.id)
        return Sent(message_id=str(row.id), conversation=row.recipient)

    def answer(self, error: Exception) -> Answer | None:
        return None


@pytest.fixture
def courier(tmp_path, agreement: Agreement) -> Iterator[tuple[Courier, Clock, OneChannel]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'pace.db'}")
    migrate(engine)
    clock = Clock()
    ctx = Context(agreement=agreement, sessions=session_factory(engine), clock=clock)
    transport = OneChannel()
    yield Courier(ctx, transport), clock, transport
    engine.dispose()


def queue(courier: Courier, count: int, priority: int) -> list[int]:
    with transaction(courier.ctx.sessions) as session:
        outbox.enqueue_all(
            session=session,
            rows=[
                outbox.row(
                    kind="dm", at=courier.ctx.clock(), recipient="C0SALES", priority=priority
                )
                for _ in range(count)
            ],
        )
        return list(session.exec(select(Outbox.id).order_by(Outbox.id.desc()).limit(count)))[::-1]


def test_a_backlog_in_one_channel_is_taken_once_for_its_slots_and_once_to_go(courier):
    courier, clock, transport = courier
    rows = queue(courier, 60, BULK)
    while courier.run_once() >= courier.batch:
        pass
    assert transport.sent == rows[:5]  # the burst; the others hold the next 55 slots

    for _ in range(110):  # one slot every 2 s, looked at each second
        clock.now += timedelta(seconds=1)
        courier.run_once()

    assert transport.sent == rows
    assert sorted(transport.looked) == sorted(rows[:5] + rows[5:] * 2)  # never held twice


def test_urgent_rows_go_ahead_of_a_held_backlog_and_the_backlog_keeps_its_order(courier):
    courier, clock, transport = courier
    bulk = queue(courier, 20, BULK)
    while courier.run_once() >= courier.batch:
        pass
    clock.now += timedelta(seconds=1)
    urgent = queue(courier, 3, URGENT)
    courier.run_once()
    for _ in range(60):
        clock.now += timedelta(seconds=1)
        courier.run_once()

    assert transport.sent == [*bulk[:5], *urgent, *bulk[5:]]
    assert len(courier._slots) == 0


def test_past_ten_thousand_slots_those_that_came_are_forgotten_even_in_a_busy_pass(courier):
    courier, clock, transport = courier
    for row_id in range(1_000_000, 1_010_001):  # rows another replica sent: never seen here
        courier._slots.give(row_id, BULK, "C0OTHER", at(1), START)
    courier.batch = 1
    queue(courier, 2, URGENT)
    clock.now = at(2)

    assert courier.run_once() == courier.batch  # busy: not every due row was seen
    assert len(courier._slots) == 0
    courier.run_once()
    assert len(transport.sent) == 2
