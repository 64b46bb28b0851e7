"""1. How fast a Claim click is answered, and 2. the claim race: 50 sellers, one lead."""

from __future__ import annotations

import random
import time

from sqlalchemy import bindparam, text

from bench.common import (
    SELLERS,
    App,
    Clients,
    Databases,
    Results,
    Target,
    agreement,
    calls_since,
    click,
    running,
    seed_waiting,
    wait_until,
)

CLICK_TARGET = Target("p99", "<", 100, "p99 < 100 ms")


def _settled(app: App, lead_ids: list[str]) -> bool:
    """Every lead has its owner and every Slack message they caused has gone out."""
    owned = text("SELECT count(*) FROM lead WHERE owner IS NOT NULL AND id IN :ids")
    pending = text(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND next_attempt_at IS NOT NULL"
    )
    with app.runtime.engine.connect() as connection:
        claimed = connection.execute(
            owned.bindparams(bindparam("ids", expanding=True)), {"ids": lead_ids}
        ).scalar_one()
        queued = connection.execute(pending).scalar_one()
    return claimed == len(lead_ids) and queued == 0


def responsiveness(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    rounds = {1: 20, 10: 5, 50: 4} if quick else {1: 100, 10: 20, 50: 20}
    warm = 5
    needed = warm + sum(level * count for level, count in rounds.items())
    with dbs.fresh(backend, "clicks") as url:
        leads = iter(seed_waiting(url, needed, seed=1))
        with running(url, agreement()) as app:
            _round(app, clients, [next(leads) for _ in range(warm)])
            for level, count in rounds.items():
                samples: list[float] = []
                for number in range(count):
                    batch = [next(leads) for _ in range(level)]
                    samples += _round(app, clients, batch, offset=number * level)
                results.add(
                    "interaction",
                    f"Claim click → HTTP answer, {level} at once",
                    backend,
                    "ms",
                    samples,
                    target=CLICK_TARGET if level == 50 else None,
                )


def _round(app: App, clients: Clients, batch: list[str], offset: int = 0) -> list[float]:
    requests = [click(SELLERS[(offset + n) % len(SELLERS)], lead) for n, lead in enumerate(batch)]
    answers = clients.send(app.url, requests, concurrency=len(requests))
    failed = [status for _, _, status, _ in answers if status != 200]
    if failed:
        raise RuntimeError(f"clicks answered {failed}")
    if not wait_until(lambda: _settled(app, batch), timeout=60, every=0.005):
        raise RuntimeError("claims did not settle within 60 s")
    return [(answered - sent) * 1000 for sent, answered, _, _ in answers]


def claim_race(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    rounds = 10 if quick else 100
    rng = random.Random(11)
    with dbs.fresh(backend, "race") as url:
        leads = seed_waiting(url, rounds, seed=2)
        with running(url, agreement()) as app:
            _race(results, backend, app, clients, leads, rng)


def _race(
    results: Results,
    backend: str,
    app: App,
    clients: Clients,
    leads: list[str],
    rng: random.Random,
) -> None:
    one_owner = 0
    answered: list[float] = []
    told: list[float] = []
    for number, lead in enumerate(leads, 1):
        sellers = list(SELLERS)
        rng.shuffle(sellers)
        mark = len(app.slack.calls)
        answers = clients.send(
            app.url, [click(seller, lead) for seller in sellers], concurrency=len(sellers)
        )
        first = min(sent for sent, *_ in answers)
        answered += [(done - sent) * 1000 for sent, done, _, _ in answers]
        problems = _race_outcome(app, lead, mark, answers)
        if problems:
            results.failure(f"claim race on {backend}, round {number}: {'; '.join(problems)}")
        else:
            one_owner += 1
            told.append((max(call.at for call in _refusals(app, mark)) - first) * 1000)
    rounds = len(leads)
    results.add(
        "race",
        "Rounds with exactly one owner (50 sellers, one lead)",
        backend,
        f"of {rounds} rounds",
        [one_owner],
        target=Target("median", ">=", rounds, "every round"),
        tail=False,
        samples=rounds,
    )
    results.add("race", "Claim click → HTTP answer, 50 on one lead", backend, "ms", answered)
    results.add("race", "First click → all 49 others told who won", backend, "ms", told)


def _refusals(app: App, mark: int) -> list:
    return [
        call
        for call in calls_since(app.slack, mark)
        if call.method == "chat.postEphemeral" and call.answered == "ok"
    ]


def _race_outcome(app: App, lead: str, mark: int, answers: list) -> list[str]:
    """What went wrong in one round, if anything: exactly one owner and 49 told who it is."""
    problems = []
    statuses = [status for _, _, status, _ in answers]
    if any(status != 200 for status in statuses):
        problems.append(f"HTTP answers {sorted(set(statuses))}")

    def owner() -> str | None:
        with app.runtime.engine.connect() as connection:
            return connection.execute(
                text("SELECT owner FROM lead WHERE id = :id"), {"id": lead}
            ).scalar_one_or_none()

    done = wait_until(
        lambda: owner() is not None and len(_refusals(app, mark)) >= len(answers) - 1,
        timeout=30,
        every=0.005,
    )
    time.sleep(0.05)  # a second winner's work would land now, if there were one
    with app.runtime.engine.connect() as connection:
        winners = (
            connection.execute(
                text("SELECT actor FROM event WHERE lead_id = :id AND kind = 'claimed'"),
                {"id": lead},
            )
            .scalars()
            .all()
        )
    holder = owner()
    refused = [call.params.get("user") for call in _refusals(app, mark)]
    if holder is None:
        problems.append("nobody owns the lead")
    if len(winners) != 1:
        problems.append(f"{len(winners)} claims succeeded ({', '.join(winners)})")
    elif winners[0] != holder:
        problems.append(f"{winners[0]} claimed it but {holder} owns it")
    if not done or len(refused) != len(answers) - 1 or len(set(refused)) != len(refused):
        problems.append(f"{len(refused)} sellers told it was taken, expected {len(answers) - 1}")
    if holder in refused:
        problems.append(f"the owner {holder} was told someone else was first")
    return problems
