"""3. Hand-overs a second through `POST /api/leads`, and 4. from the 201 to the card in Slack."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench import data
from bench.common import (
    PACE,
    SQLITE,
    App,
    Clients,
    Databases,
    Results,
    Target,
    agreement,
    calls_since,
    card_lead,
    hand_over_request,
    is_card,
    pace,
    percentile,
    processes,
    qualified_bodies,
    running,
    wait_healthy,
    wait_until,
)
from bot.demo.slack_standin import FakeSlack

CONCURRENCY = 8
REPLICAS = 2
INTAKE_TARGET = Target("median", ">=", 500, "≥ 500/s on SQLite")  # the whole burst
CARD_TARGET = Target("p99", "<", 1000, "p99 < 1 s")
UNPACED = "1000"


def _one_process(size: int) -> str:
    return f"Hand-overs a second, burst of {size:,} into one process ({CONCURRENCY} clients)"


def _warm(count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Hand-overs that warm the app up without a card: not qualified (the wrong country)."""
    return [hand_over_request({**body, "country": "US"}) for body in _bodies(count, seed="warm")]


def _bodies(count: int, *, seed: str) -> list[dict[str, Any]]:
    """A realistic mix: about 40% meet the definition and get a card, the rest go back."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [data.contact(rng, received=now, external_id=f"{seed}-{n}") for n in range(count)]


def _burst(
    app: App, clients: Clients, bodies: list[dict[str, Any]], within: float = 300
) -> dict[str, Any]:
    """Send the bodies CONCURRENCY at a time (for `within` seconds at most); what came back."""
    warm = _warm(5)
    clients.send(app.url, warm, concurrency=4)
    wait_until(lambda: len(calls_since(app.slack, 0)) >= len(warm), timeout=10)
    mark = len(app.slack.calls)
    answers = clients.send(
        app.url,
        [hand_over_request(b) for b in bodies],
        concurrency=CONCURRENCY,
        answers=True,
        within=within,
    )
    start = min(sent for sent, *_ in answers)
    end = max(done for _, done, *_ in answers)
    created: dict[str, float] = {}
    qualified: set[str] = set()
    statuses = Counter(status for _, _, status, _ in answers)
    for _, done, status, body in answers:
        if status == 201 and body:
            answer = json.loads(body)
            created[answer["id"]] = done
            if answer["qualified"]:
                qualified.add(answer["id"])
    seconds = int(end - start)
    per_second = [0] * max(1, seconds)
    for _, done, status, _ in answers:
        slot = int(done - start)
        if status == 201 and slot < seconds:
            per_second[slot] += 1
    return {
        "mark": mark,
        "start": start,
        "end": end,
        "created": created,
        "qualified": qualified,
        "statuses": statuses,
        "per_second": per_second if seconds else [],
    }


def _cards(app: App, mark: int, wanted: set[str]) -> dict[str, float]:
    """When each wanted lead's card reached Slack."""
    return {
        lead: call.at
        for call in calls_since(app.slack, mark)
        if is_card(call) and (lead := card_lead(call)) in wanted
    }


def throughput(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    size = 1_000 if quick else 10_000
    runs = 1  # the spread comes from the one-second windows
    rates: list[float] = []
    seconds: list[float] = []
    delivery: list[float] = []
    backlog: list[float] = []
    for run in range(runs):
        with dbs.fresh(backend, "intake") as url, running(url, agreement()) as app:
            burst = _burst(app, clients, _bodies(size, seed=f"burst{run}"))
            duration = burst["end"] - burst["start"]
            rates.append(len(burst["created"]) / duration)
            seconds += burst["per_second"]
            cards = _cards(app, burst["mark"], burst["qualified"])
            during = [at for at in cards.values() if at <= burst["end"]]
            delivery.append(len(during) / duration)
            backlog.append(len(burst["qualified"]) - len(during))
            _check_statuses(results, backend, burst["statuses"], size)
            sent = sum(burst["statuses"].values())
            if sent < size:
                results.note("intake", f"{backend}: only {sent:,} of {size:,} sent in 300 s")
    results.add(
        "intake",
        _one_process(size),
        backend,
        "/s",
        rates,
        target=INTAKE_TARGET if backend == SQLITE else None,
        tail=False,
    )
    results.add(
        "intake", "Hand-overs a second, one-second windows", backend, "/s", seconds,
        low_tail=True,
    )  # fmt: skip
    results.add(
        "card", f"Cards posted a second during the burst of {size:,}", backend, "/s", delivery,
        tail=False,
    )  # fmt: skip
    results.note(
        "card",
        f"{backend}: at the end of a burst of {size:,}, "
        f"{percentile(backlog, 50):,.0f} qualified leads were still waiting for their card "
        f"(Slack takes about one message a second per channel, which the courier keeps).",
    )


def replicas(results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str) -> None:
    """The same burst into two `baton run` replicas on one database, half the clients each.

    One process is held to about one core by its interpreter lock, so more hand-overs a
    second take more processes. PostgreSQL writes for both at once; SQLite lets one writer in
    at a time, and a replica waiting for the other's lock polls for it.
    """
    size = 1_000 if quick else 10_000
    clients_ = REPLICAS * CONCURRENCY
    with (
        dbs.fresh(backend, "replicas") as url,
        FakeSlack() as slack,
        processes(url, slack, REPLICAS) as batons,
    ):
        for baton in batons:
            wait_healthy(baton.port)
        urls = [baton.url for baton in batons]
        clients.send(urls, _warm(20), concurrency=clients_)
        answers = clients.send(
            urls,
            [hand_over_request(body) for body in _bodies(size, seed="replicas")],
            concurrency=clients_,
            answers=True,
            within=300,
        )
    _check_statuses(results, backend, Counter(status for _, _, status, _ in answers), size)
    created = [done for _, done, status, _ in answers if status == 201]
    if not created:
        return
    rate = len(created) / (max(created) - min(sent for sent, *_ in answers))
    label = _one_process(size)
    one = [f.median for f in results.figures if f.backend == SQLITE and f.label == label]
    target = None
    if backend != SQLITE and one and one[0]:
        target = Target("median", ">", one[0], f"> SQLite in one process ({one[0]:,.0f}/s)")
    results.add(
        "intake",
        f"Hand-overs a second, burst of {size:,} into {REPLICAS} `baton run` replicas "
        f"({clients_} clients)",
        backend,
        "/s",
        [rate],
        target=target,
        tail=False,
    )


def _check_statuses(results: Results, backend: str, statuses: dict[int, int], size: int) -> None:
    wrong = {status: count for status, count in statuses.items() if status != 201}
    if wrong:
        listed = ", ".join(f"{count} × {status or 'no answer'}" for status, count in wrong.items())
        sent = sum(statuses.values())
        results.failure(f"intake on {backend}: {listed} of {sent:,} hand-overs were not a 201")


def capacity(results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str) -> None:
    """The courier's own speed: the same kind of burst with Slack's per-channel pace lifted."""
    size = 300 if quick else 1_000
    with (
        dbs.fresh(backend, "capacity") as url,
        pace(UNPACED),
        running(url, agreement()) as app,
    ):
        burst = _burst(app, clients, _bodies(size, seed="capacity"))
        wanted = burst["qualified"]
        wait_until(
            lambda: len(_cards(app, burst["mark"], wanted)) >= len(wanted),
            timeout=120,
            every=0.2,
        )
        cards = _cards(app, burst["mark"], wanted)
    if not cards:
        results.note("card", f"{backend}: no card arrived with the pace lifted")
        return
    last = max(cards.values())
    results.add(
        "card",
        f"Cards a second, burst of {size:,}, Slack's pace lifted ({PACE}={UNPACED})",
        backend,
        "/s",
        [len(cards) / (last - burst["start"])],
        tail=False,
    )
    results.add(
        "card",
        "Hand-over (201) → card during that burst",
        backend,
        "ms",
        [(at - burst["created"][lead]) * 1000 for lead, at in cards.items()],
    )
    if len(cards) < len(wanted):
        results.note(
            "card",
            f"{backend}: {len(wanted) - len(cards)} cards had not arrived 2 minutes on",
        )


def card_latency(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    """One lead at a time, a little over a second apart (Slack's pace for one channel)."""
    count = 8 if quick else 50
    warm = 2
    samples: list[float] = []
    from_sent: list[float] = []
    with dbs.fresh(backend, "card") as url, running(url, agreement()) as app:
        for number, body in enumerate(qualified_bodies(count + warm, seed=3, prefix="card")):
            began = time.monotonic()
            mark = len(app.slack.calls)
            sent = time.monotonic()
            answer = app.baton.hand_over(body)
            answered = time.monotonic()
            lead = answer.json()["id"]
            arrived = wait_until(
                lambda lead=lead, mark=mark: lead in _cards(app, mark, {lead}),
                timeout=20,
                every=0.002,
            )
            if not arrived:
                results.failure(f"card on {backend}: no card for lead {lead} within 20 s")
            elif number >= warm:
                at = _cards(app, mark, {lead})[lead]
                samples.append((at - answered) * 1000)
                from_sent.append((at - sent) * 1000)
            time.sleep(max(0.0, began + 1.05 - time.monotonic()))
    results.add(
        "card", "Hand-over (201) → card in Slack, one at a time", backend, "ms", samples,
        target=CARD_TARGET,
    )  # fmt: skip
    results.add("card", "Hand-over sent → card in Slack, one at a time", backend, "ms", from_sent)
