"""5. The clock at scale, 6. the weekly figures at scale, 7. memory: on databases of 10k to 1M
leads, grown in steps and shared by the three."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select

from bench import data
from bench.common import (
    Clients,
    Databases,
    Results,
    Target,
    business_agreement,
    cards_by_link,
    claim_escalations,
    dm_leads,
    hand_over_request,
    hand_over_spaced,
    monotonic_offset,
    percentile,
    processes,
    qualified_bodies,
    rss_mb,
    running,
    seconds_agreement,
    wait_healthy,
    wait_until,
)
from bot.agreement_file import parse_agreement
from bot.demo.slack_standin import FakeSlack
from storage import deadlines
from storage.db import make_engine, session_factory
from storage.models import Deadline, Lead

QUERY_TARGET = Target("p99", "<", 10, "p99 < 10 ms")
FLAT_TARGET = Target("median", "<=", 2, "≤ 2× (flat)")
LAG_TARGET = Target("p99", "<", 2, "p99 < 2 s")
STATS_TARGET = Target("p99", "<", 1, "p99 < 1 s at 1M")
MEMORY_TARGET = Target("p99", "<", 200, "p99 < 200 MB")
SEED = 7


def label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1000}k"


class Scale:
    """One database per backend, grown from 10k leads towards 1M with `bench.data`."""

    def __init__(self, dbs: Databases, results: Results) -> None:
        self.dbs = dbs
        self.results = results
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.urls = {backend: dbs.create(backend, "scale") for backend in dbs.backends}
        self.size = 0

    def grow(self, size: int) -> None:
        """Add leads up to `size`; a database that already holds some (a retry) continues."""
        began = time.monotonic()
        print(f"  growing the databases to {size:,} leads …", flush=True)
        engines = {backend: data.loader(url) for backend, url in self.urls.items()}
        rows = 0
        try:
            starts: dict[int, list] = {}
            for engine in engines.values():
                starts.setdefault(data.lead_count(engine), []).append(engine)
            for start, group in sorted(starts.items()):
                rows += data.grow(
                    group, start=start, stop=size, seed=SEED, now=self.now, progress=True
                )
        finally:
            for engine in engines.values():
                engine.dispose()
        seconds = time.monotonic() - began
        self.results.note(
            "data",
            f"{self.size:,} → {size:,} leads: {rows:,} rows into {', '.join(self.urls)} "
            f"in {seconds:.0f} s",
        )
        self.size = size

    def close(self) -> None:
        for url in self.urls.values():
            self.dbs.drop(url)


def _timed(call: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` calls, after one untimed call to warm the caches."""
    call()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def full_batch(session: Any) -> datetime | None:
    """A moment at which 400 clocks are due: `due(limit=200)` then returns a full batch."""
    return session.exec(
        select(Deadline.next_at)
        .where(col(Deadline.next_at).is_not(None))
        .order_by(col(Deadline.next_at))
        .offset(399)
        .limit(1)
    ).first()


def clock_queries(results: Results, backend: str, url: str, size: int, repeat: int) -> dict:
    """`due()` (a full batch, and nothing due) inside a rolled-back transaction; `earliest()`."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            open_clocks = deadlines.count_open(session=session)
            full = full_batch(session)
            total = session.execute(text("SELECT count(*) FROM deadline")).scalar_one()
        now = datetime.now(UTC)

        def due(at: datetime) -> Callable[[], Any]:
            def call() -> None:
                with sessions() as session:
                    session.begin()
                    deadlines.due(session=session, now=at, limit=200)
                    session.rollback()

            return call

        def earliest() -> None:
            with sessions() as session:
                deadlines.earliest(session=session)

        figures = {
            "full": _timed(due(full), repeat) if full else [],
            "idle": _timed(due(now), repeat),
            "earliest": _timed(earliest, repeat),
        }
    finally:
        engine.dispose()
    results.note(
        "clock", f"{backend}, {label(size)} leads: {open_clocks:,} open clocks of {total:,}"
    )
    tag = label(size)
    results.add(
        "clock",
        f"deadlines.due(), a full batch of 200 due, {tag} leads",
        backend,
        "ms",
        figures["full"],
        target=QUERY_TARGET,
    )
    results.add(
        "clock",
        f"deadlines.due(), nothing due (the usual sweep), {tag} leads",
        backend,
        "ms",
        figures["idle"],
        target=QUERY_TARGET,
    )
    results.add(
        "clock",
        f"deadlines.earliest(), {tag} leads",
        backend,
        "ms",
        figures["earliest"],
        target=QUERY_TARGET,
    )
    return {key: percentile(values, 50) for key, values in figures.items() if values}


def flatness(results: Results, backend: str, small: dict, large: dict, sizes: str) -> None:
    for key, name in (("full", "due(), full batch"), ("earliest", "earliest()")):
        if key in small and key in large and small[key]:
            results.add(
                "clock",
                f"{name}: median at {sizes}",
                backend,
                "×",
                [large[key] / small[key]],
                target=FLAT_TARGET,
                tail=False,
            )


def lag(results: Results, backend: str, url: str, count: int) -> None:
    """Deadline to the sales manager's DM, with the app running on the big database."""
    agreement = parse_agreement(seconds_agreement())
    with running(url, agreement) as app:
        offset = monotonic_offset()
        bodies = qualified_bodies(count, seed=5, prefix=f"lag-{backend}")
        # one DM a second reaches one person (Slack's pace per channel): space the deadlines
        ids = list(hand_over_spaced(app.baton, bodies, every=1.1))
        wanted = set(ids)

        def dms() -> dict[str, float]:
            """When each lead first showed in the manager's DMs: its own DM, or an update of
            the digest it joined."""
            calls = list(app.slack.calls)
            by_link = cards_by_link(calls)
            found: dict[str, float] = {}
            for call in calls:
                for lead in dm_leads(call, by_link) & wanted:
                    found.setdefault(lead, call.at + offset)
            return found

        wait_until(lambda: len(dms()) >= len(wanted), timeout=60, every=0.05)
        arrived = dms()
        due, queued = claim_escalations(app.runtime.ctx, ids)
    missing = wanted - set(arrived)
    if missing:
        results.failure(f"clock on {backend}: {len(missing)} of {count} escalation DMs never came")
    results.add(
        "clock",
        "Claim deadline → sales manager's DM at Slack",
        backend,
        "s",
        [arrived[lead] - due[lead].timestamp() for lead in arrived if lead in due],
        target=LAG_TARGET,
    )
    results.add(
        "clock",
        "… of which deadline → DM queued (the clock's part)",
        backend,
        "s",
        [(at - due[lead]).total_seconds() for lead, at in queued.items() if lead in due],
    )
    results.add(
        "clock",
        "… of which DM queued → at Slack (the courier's part)",
        backend,
        "s",
        [arrived[lead] - at.timestamp() for lead, at in queued.items() if lead in arrived],
    )


def _reports() -> list[tuple[str, Callable[..., Any]]]:
    """bot.reports' functions of (session, agreement, since): the scorecard and what joins it."""
    from bot import reports

    found = []
    for name, function in vars(reports).items():
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        if function.__module__ != reports.__name__:
            continue
        parameters = inspect.signature(function).parameters
        required = {p.name for p in parameters.values() if p.default is inspect.Parameter.empty}
        if {"session", "agreement", "since"} <= set(parameters) and required <= {
            "session",
            "agreement",
            "since",
        }:
            found.append((name, function))
    return found


USES = {"scorecard": "baton report (lead quality)"}
WINDOWS = {"last 7 days": 7, "last 30 days": 30}
"""The two-sided scorecard over a week (`/baton stats`, App Home, the weekly message) and a
month (the default of `baton report`)."""


def stats(results: Results, backend: str, url: str, size: int, repeat: int, judged: bool) -> None:
    from bot import scorecard

    agreement = business_agreement()
    engine = make_engine(url)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    since = now - timedelta(days=7)
    try:
        with sessions() as session:
            window = session.exec(
                select(func.count()).select_from(Lead).where(col(Lead.received_at) >= since)
            ).one()
        results.note(
            "stats", f"{backend}, {label(size)} leads: {window:,} leads in the last 7 days"
        )
        timed: list[tuple[str, Callable[[], None]]] = []
        for name, function in _reports():

            def call(function: Callable[..., Any] = function) -> None:
                with sessions() as session:
                    function(session=session, agreement=agreement, since=since)

            use = f"{USES[name]}: " if name in USES else ""
            timed.append((f"{use}reports.{name}(), last 7 days", call))
        for words, days in WINDOWS.items():

            def full(days: int = days) -> None:
                with sessions() as session:
                    scorecard.compute(
                        session=session,
                        agreement=agreement,
                        since=now - timedelta(days=days),
                        until=now,
                        now=now,
                    )

            use = "/baton stats, App Home, weekly message" if days == 7 else "baton report"
            timed.append((f"{use}: the full scorecard, scorecard.compute(), {words}", full))
        for title, call in timed:
            samples = [ms / 1000 for ms in _timed(call, repeat)]
            results.add(
                "stats",
                f"{title}, {label(size)} leads",
                backend,
                "s",
                samples,
                target=STATS_TARGET if judged else None,
            )
    finally:
        engine.dispose()


def memory(
    results: Results, backend: str, url: str, size: int, clients: Clients, quick: bool
) -> None:
    """VmRSS of `python -m bot run` on the big database: idle, then during a burst."""
    burst = 250 if quick else 1_000
    with FakeSlack() as slack, processes(url, slack) as [baton]:
        started = wait_healthy(baton.port)
        time.sleep(2)
        idle = []
        for _ in range(20):
            idle.append(rss_mb(baton.popen.pid))
            time.sleep(0.25)
        during: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                value = rss_mb(baton.popen.pid)
                if value:
                    during.append(value)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        bodies = qualified_bodies(burst, seed=9, prefix=f"memory-{backend}")
        answers = clients.send(
            baton.url,
            [hand_over_request(body) for body in bodies],
            concurrency=8,
            within=120,
        )
        time.sleep(3)
        done.set()
        sampler.join()
    tag = label(size)
    created = [done for _, done, status, _ in answers if status == 201]
    if created:
        began = min(sent for sent, *_ in answers)
        results.add(
            "intake",
            f"Hand-overs a second into `baton run` on the {tag}-lead database (8 clients)",
            backend,
            "/s",
            [len(created) / (max(created) - began)],
            tail=False,
        )
        if len(answers) < burst:
            results.note(
                "intake",
                f"{backend}: into `baton run` on the {tag}-lead database, {len(answers):,} of "
                f"{burst:,} hand-overs were sent in the 120 s allowed",
            )
    results.add("memory", f"Start-up until healthy, {tag} leads", backend, "s", [started])
    results.add(
        "memory",
        f"RSS of baton run, idle, {tag} leads",
        backend,
        "MB",
        [value for value in idle if value],
        target=MEMORY_TARGET,
    )
    results.add(
        "memory",
        f"RSS of baton run during a burst of hand-overs, {tag} leads",
        backend,
        "MB",
        during,
        target=MEMORY_TARGET,
    )
