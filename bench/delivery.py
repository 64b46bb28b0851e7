"""9. Cards after a Slack outage, and 10. an API card behind a bulk import's backlog.

Real `baton run` replicas (`bench.common.processes`) at Slack's own pace, one message a
second per channel, against the fake Slack in this process, which can be down as a whole
(`FakeSlack.outage()`: every method answers 503 until `recover()`). Beside them, the
courier's own CPU per row under a backlog, measured in this process pass by pass.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select

from bench.common import (
    Clients,
    Databases,
    Process,
    Results,
    Target,
    agreement,
    card_lead,
    hand_over_request,
    is_card,
    pace,
    processes,
    qualified_bodies,
    wait_healthy,
    wait_until,
)
from bot import intake
from bot.context import Context
from bot.delivery import interface
from bot.delivery.limits import Limits
from bot.delivery.worker import Courier
from bot.demo.slack_standin import Call, FakeSlack
from bot.schemas import LeadIn
from bot.slack.client import posting_time
from storage import outbox
from storage.db import make_engine, session_factory, transaction
from storage.models import Outbox

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SLACK_PACE = "1"  # BATON_SLACK_CHANNEL_RATE: Slack's own, one message a second per channel
RESUME_TARGET = Target("median", "<", 2.0, "< 2 s")
URGENT_TARGET = Target("p99", "<", 2000, "p99 < 2 s")


def _cards(slack: FakeSlack) -> list[Call]:
    return [call for call in slack.calls_to("chat.postMessage") if is_card(call)]


def _replicas(count: int) -> str:
    return "one process" if count == 1 else f"{count} replicas"


@contextmanager
def _batons(
    dbs: Databases, backend: str, name: str, count: int
) -> Iterator[tuple[str, FakeSlack, list[Process]]]:
    """`count` `baton run` processes at Slack's pace on a fresh database, each answering."""
    with (
        dbs.fresh(backend, name) as url,
        pace(SLACK_PACE),
        FakeSlack() as slack,
        processes(url, slack, count) as batons,
    ):
        for baton in batons:
            wait_healthy(baton.port)
        yield url, slack, batons


def outage(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str, count: int
) -> None:
    """Cards queued while Slack is down; from Slack's return to the first and the last card."""
    cards, down = (30, 10.0) if quick else (200, 60.0)
    with _batons(dbs, backend, "outage", count) as (url, slack, batons):
        slack.outage()
        went_down = time.monotonic()
        bodies = qualified_bodies(cards, seed=9, prefix=f"outage-{backend}-{count}")
        answers = clients.send(
            [baton.url for baton in batons],
            [hand_over_request(body) for body in bodies],
            concurrency=8,
        )
        handed = sum(1 for _, _, status, _ in answers if status == 201)
        time.sleep(max(0.0, went_down + down - time.monotonic()))
        tries = len(slack.calls)
        slack.recover()
        back = time.monotonic()
        wait_until(lambda: len(_cards(slack)) >= handed, timeout=cards * 1.2 + 60, every=0.2)
        posted = _cards(slack)
        engine = make_engine(url)
        with engine.connect() as connection:
            dead = connection.execute(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.next_attempt_at.is_(None), Outbox.sent_at.is_(None))
            ).scalar_one()
        engine.dispose()
    where = f"{backend}, {_replicas(count)}"
    if not posted:
        results.failure(f"outage on {where}: no card after Slack came back")
        return
    label = f"{cards} cards queued during a {down:.0f} s outage, {_replicas(count)}"
    results.add(
        "outage",
        f"Slack back → first card ({label})",
        backend,
        "s",
        [posted[0].at - back],
        target=RESUME_TARGET,
        tail=False,
    )
    results.add(
        "outage",
        f"Slack back → last card ({label})",
        backend,
        "s",
        [posted[-1].at - back],
        tail=False,
    )
    doubled = sum(n - 1 for n in Counter(card_lead(call) for call in posted).values() if n > 1)
    results.note(
        "outage",
        f"{where}: {handed} of {cards} hand-overs answered 201 while Slack was down; "
        f"{tries} calls to Slack during the {down:.0f} s outage ({tries / down:.1f} a second); "
        f"{len(posted)} cards posted, {doubled} twice, {dead} given up on.",
    )


def backlog(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str, count: int
) -> None:
    """A bulk import queues 1,000 cards; then leads come through the API, one at a time. With
    one process, the courier's own CPU under such a backlog and one five times as long."""
    if count == 1:
        for held in (1_000, 5_000):
            courier_cpu(results, dbs, backend, held)
    imported, samples = (300, 3) if quick else (1000, 10)
    waits: list[float] = []
    with _batons(dbs, backend, "backlog", count) as (url, slack, batons):
        engine = make_engine(url)
        ctx = Context(agreement=agreement(), sessions=session_factory(engine))
        began = time.monotonic()
        for body in qualified_bodies(imported, seed=10, prefix=f"import-{backend}-{count}"):
            intake.hand_over(ctx, LeadIn.model_validate(body), by="csv")  # as `baton import`
        queued = time.monotonic() - began
        engine.dispose()
        time.sleep(3)  # the courier has given the import's cards their slots
        with httpx.Client(timeout=30) as http:
            for number, body in enumerate(
                qualified_bodies(samples, seed=11, prefix=f"api-{backend}-{count}")
            ):
                baton = batons[number % len(batons)]
                request = hand_over_request(body)
                answer = http.post(baton.url + request[0], content=request[1], headers=request[2])
                answered = time.monotonic()
                lead = answer.json()["id"]
                arrived = wait_until(
                    lambda lead=lead: any(card_lead(c) == lead for c in _cards(slack)),
                    timeout=30,
                    every=0.01,
                )
                if not arrived:
                    results.failure(f"backlog on {backend}: no card for API lead {lead} in 30 s")
                    continue
                at = next(c.at for c in _cards(slack) if card_lead(c) == lead)
                waits.append((at - answered) * 1000)
                time.sleep(max(0.0, answered + 3 - time.monotonic()))
        posted = len(_cards(slack)) - len(waits)
        spent = time.monotonic() - began
    results.add(
        "backlog",
        f"Hand-over (201) → card, behind a {imported:,}-card import, {_replicas(count)}",
        backend,
        "ms",
        waits,
        target=URGENT_TARGET,
    )
    results.note(
        "backlog",
        f"{backend}, {_replicas(count)}: the import queued its {imported:,} cards in "
        f"{queued:.1f} s; {posted} of them were posted in the {spent:.0f} s the run lasted "
        f"(`bot.slack.client.posting_time({imported})` tells `baton import` "
        f"{posting_time(imported, rate=float(SLACK_PACE)).total_seconds():.0f} s for all).",
    )


class _OneChannel:
    """A transport whose every row is a post to one channel at Teams' pace (a burst of five,
    then one every 2 s), taken at once: what is left is the courier's own work."""

    platform = "bench"
    paced = "send"
    permanent: frozenset[str] = frozenset()
    timeout = 1.0

    def __init__(self) -> None:
        self.limits = Limits(rate=0.5, burst=5, paced=self.paced)

    def route(
        self, row: Outbox, placed: dict[str, tuple[str | None, str | None]]
    ) -> tuple[str, str | None]:
        return self.paced, row.recipient

    def deliver(self, row: Outbox, call: interface.Call) -> interface.Sent:
        call(row, self.paced, lambda: None, row.recipient)
        return interface.Sent()

    def answer(self, error: Exception) -> interface.Answer | None:
        return None


def courier_cpu(results: Results, dbs: Databases, backend: str, held: int) -> None:
    """The courier thread's CPU per row with `held` rows waiting for one channel: giving each
    its slot, then, while they wait, for each row that comes (one a slot) and goes."""
    with dbs.fresh(backend, "courier") as url:
        engine = make_engine(url)
        now = [START]
        ctx = Context(agreement=agreement(), sessions=session_factory(engine), clock=lambda: now[0])
        transport = _OneChannel()
        courier = Courier(ctx, transport)

        def queue(count: int) -> None:
            rows = [outbox.row(kind="dm", at=now[0], recipient="C0SALES") for _ in range(count)]
            with transaction(ctx.sessions) as session:
                outbox.enqueue_all(session=session, rows=rows)

        queue(held)
        began = time.thread_time()
        while courier.run_once() >= courier.batch:
            pass
        slots = (time.thread_time() - began) * 1000 / held
        came, spent = 200, 0.0
        for _ in range(came):
            now[0] += transport.limits.interval
            queue(1)
            began = time.thread_time()
            courier.run_once()
            spent += time.thread_time() - began
        going = spent * 1000 / came
        engine.dispose()
    label = f"{held:,} rows held for one channel"
    for what, value in (("given its slot", slots), ("that comes and goes", going)):
        results.add(
            "backlog", f"Courier CPU per row {what}, {label}", backend, "ms", [value], tail=False
        )
