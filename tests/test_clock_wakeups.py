"""No lost wake-ups: a wake-up that arrives while a sweep runs leads to another look.

The safety sweep is an hour long in these tests, so a wake-up that got lost would leave its
deadline unmet for the whole test instead of being rescued 30 s later.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    JobExecutionEvent,
)
from sqlalchemy import update
from sqlmodel import col, select

from bot import intake
from bot.agreement import Agreement
from bot.context import Context
from bot.request_gate import MOST, Answers
from bot.scheduler import WAKE, DeadlineScheduler
from bot.schemas import LeadIn
from bot.service.runtime import Runtime, build
from bot.service.settings import Settings
from storage.db import transaction
from storage.models import Deadline, DigestItem, Event
from tests.support import eventually, lead, show_card

LONG = timedelta(hours=1)


def hand_over(ctx: Context, number: int) -> str:
    """A lead handed over with its card shown at once, so its clocks start now."""
    body = lead(email=f"wake{number}@nordlys.dk", name=f"Wake {number:03d}")
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(body), by="api").lead.id
    show_card(ctx, lead_id)
    return lead_id


def set_claim_due(ctx: Context, due: dict[str, datetime]) -> None:
    """Move these leads' claim deadlines (no reminder), as if they had been handed over so."""
    with transaction(ctx.sessions) as session:
        for lead_id, at in due.items():
            session.execute(
                update(Deadline)
                .where(col(Deadline.lead_id) == lead_id, Deadline.kind == "claim")
                .values(due_at=at, next_at=at, remind_at=None)
            )


def escalations(ctx: Context) -> Counter[str]:
    """How many times each lead's missed claim was escalated to the sales manager."""
    with ctx.sessions() as session:
        events = session.exec(select(Event).where(Event.kind == "escalated")).all()
    return Counter(
        event.lead_id
        for event in events
        if event.data.get("clock") == "claim" and event.data.get("step") == 0
    )


class HeldOpen(DeadlineScheduler):
    """Holds its first sweep open right after that sweep armed the wake-up, until the wake-up
    has fired and been run (or skipped): a wake-up arriving while a sweep still runs.

    `comes_due` makes a deadline due shortly, at that moment, so the wake-up is armed for it.
    """

    def __init__(self, ctx: Context, comes_due: Callable[[], None]) -> None:
        super().__init__(ctx, sweep_every=LONG)
        self.comes_due = comes_due
        self.caller = threading.current_thread()
        self.holding = False
        self.done_holding = False
        self.interleaved = False
        self.fired = threading.Event()
        self.released = threading.Event()
        self.jobs.add_listener(
            self._fired, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
        )

    def _fired(self, event: JobExecutionEvent) -> None:
        if event.job_id == WAKE and self.holding:
            self.fired.set()

    def arm(self) -> None:
        if self.done_holding or threading.current_thread() is self.caller:
            super().arm()
            return
        self.done_holding = True
        self.comes_due()
        self.holding = True
        super().arm()
        self.interleaved = self.fired.wait(timeout=30)
        self.holding = False
        self.released.set()


def test_a_wake_up_during_a_sweep_leads_to_another_look(ctx: Context):
    first, second = hand_over(ctx, 1), hand_over(ctx, 2)
    set_claim_due(ctx, {first: datetime.now(UTC) - timedelta(seconds=1)})
    scheduler = HeldOpen(
        ctx, lambda: set_claim_due(ctx, {second: datetime.now(UTC) + timedelta(seconds=0.3)})
    )
    scheduler.jobs.start()
    try:
        scheduler.arm()  # the first wake-up: the sweep it runs is held open
        assert scheduler.released.wait(timeout=60)
        assert scheduler.interleaved  # the second wake-up fired while the first sweep ran
        eventually(lambda: escalations(ctx)[second], timeout=10)
    finally:
        scheduler.stop()
    assert escalations(ctx) == {first: 1, second: 1}


class Looks(DeadlineScheduler):
    """Writes down each look at the deadlines, beside the gate's."""

    def __init__(self, ctx: Context, seen: list[str]) -> None:
        super().__init__(ctx, sweep_every=LONG)
        self.seen = seen

    def wake_up(self) -> None:
        self.seen.append("look")
        super().wake_up()


class Gate(Answers):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def let_through(self, most: float = MOST) -> None:
        self.seen.append("answers first")
        super().let_through(most)


def test_the_look_after_a_change_lets_the_answers_being_made_go_first(ctx: Context):
    """Fifty claims at once are fifty changes: the clock looks at them once the answers are
    made, as the courier does, not in the middle of making them."""
    seen: list[str] = []
    ctx.answers = Gate(seen)
    scheduler = Looks(ctx, seen)
    scheduler.jobs.start()
    try:
        scheduler.arm_soon()
        eventually(lambda: "look" in seen)
    finally:
        scheduler.stop()
    assert seen[:2] == ["answers first", "look"]


@pytest.fixture
def replicas(settings: Settings, agreement: Agreement) -> Iterator[Callable[[int], list[Runtime]]]:
    started: list[Runtime] = []

    def start(count: int) -> list[Runtime]:
        for _ in range(count):
            runtime = build(settings, agreement)
            runtime.scheduler.sweep_every = LONG
            runtime.start()
            started.append(runtime)
        return started

    yield start
    for runtime in started:
        runtime.stop()
        runtime.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 2])
def test_hundreds_of_deadlines_a_few_ms_apart_are_each_escalated_once(
    ctx: Context, replicas: Callable[[int], list[Runtime]], count: int
):
    """300 claim deadlines 3 ms apart, falling due while sweeps run, in one process and in
    two replicas on one database: each is escalated, once, without the safety sweep."""
    leads = [hand_over(ctx, number) for number in range(300)]
    running = replicas(count)
    start = datetime.now(UTC) + timedelta(seconds=1)
    due = {lead_id: start + timedelta(milliseconds=3 * n) for n, lead_id in enumerate(leads)}
    set_claim_due(ctx, due)
    for runtime in running:
        runtime.wake()  # as after a hand-over: each replica looks again and arms its wake-up
    assert eventually(lambda: len(escalations(ctx)) == len(leads), timeout=60), (
        f"{len(leads) - len(escalations(ctx))} of {len(leads)} deadlines were never escalated"
    )
    assert set(escalations(ctx).values()) == {1}
    with ctx.sessions() as session:
        items = session.exec(select(DigestItem).where(DigestItem.kind == "escalation")).all()
    assert sorted(item.lead_id for item in items) == sorted(leads)
    lag = max((item.added_at - due[item.lead_id]).total_seconds() for item in items)
    print(f"\n{count} replica(s): largest lag from a deadline to its escalation queued {lag:.3f} s")
