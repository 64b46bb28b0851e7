"""8. The obvious alternative: one APScheduler 3.x job per deadline in an SQLAlchemyJobStore.

Side by side with Baton's deadline table: start-up time and memory with ~100k pending
deadlines, and two processes on one store. The subprocess side runs as
`python -m bench.naive aps-start|baton-start|aps-run …` and prints one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

FUNC = "bench.naive:send"
SENDS = "naive_send"


def _rss() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# the job each deadline would be, and what it does --------------------------------------


@cache
def _engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})


def send(deadline_id: int, url: str) -> None:
    """What the naive design's job does when a deadline passes: record one send (a DM)."""
    from sqlalchemy import text

    with _engine(url).begin() as connection:
        connection.execute(
            text(f"INSERT INTO {SENDS} (deadline_id, pid, at) VALUES (:d, :p, :a)"),
            {"d": deadline_id, "p": os.getpid(), "a": time.time()},
        )


def sends_table(url: str) -> None:
    from sqlalchemy import text

    with _engine(url).begin() as connection:
        connection.execute(
            text(f"CREATE TABLE IF NOT EXISTS {SENDS} (deadline_id integer, pid integer, at float)")
        )


def fill_jobstore(url: str, jobs: list[tuple[int, datetime]], *, send_url: str) -> None:
    """Store one job per deadline, pickled by APScheduler itself, with bulk inserts.

    `add_job()` would commit one job at a time; the rows are the same.
    """
    from apscheduler.job import Job
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.util import datetime_to_utc_timestamp

    store = SQLAlchemyJobStore(url=url)
    store.jobs_t.create(store.engine, checkfirst=True)
    scheduler = BackgroundScheduler(timezone=UTC)
    rows = []
    for deadline_id, run_at in jobs:
        job = Job(
            scheduler,
            id=f"deadline-{deadline_id}",
            func=FUNC,
            trigger=DateTrigger(run_date=run_at, timezone=UTC),
            executor="default",
            args=(deadline_id, send_url),
            kwargs={},
            name="send",
            misfire_grace_time=30,
            coalesce=True,
            max_instances=1,
            next_run_time=run_at,
        )
        rows.append(
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(run_at),
                "job_state": pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL),
            }
        )
    with store.engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(store.jobs_t.insert(), rows[start : start + 10_000])
    store.engine.dispose()


# subprocess side -------------------------------------------------------------------------


def aps_start(url: str) -> dict[str, Any]:
    """Start a scheduler on the store: until its first look at the jobs; then load them all."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    looked = threading.Event()

    class Scheduler(BackgroundScheduler):
        def _process_jobs(self):
            wait = super()._process_jobs()
            looked.set()
            return wait

    base = _rss()
    scheduler = Scheduler(jobstores={"default": SQLAlchemyJobStore(url=url)}, timezone=UTC)

    def start() -> None:
        scheduler.start()
        looked.wait(60)

    answer = _start_and_load(base, start, scheduler.get_jobs)
    scheduler.shutdown(wait=False)
    return answer


def baton_start(url: str) -> dict[str, Any]:
    """Baton's clock on its deadline table: the first sweep and arming the wake-up."""
    from sqlmodel import col, select

    from bench.common import agreement
    from bot.context import Context
    from bot.scheduler import DeadlineScheduler
    from storage.db import make_engine, session_factory
    from storage.models import Deadline

    base = _rss()
    ctx = Context(agreement=agreement(), sessions=session_factory(make_engine(url)))
    clock = DeadlineScheduler(ctx)

    def start() -> None:
        clock.jobs.start()
        clock.run_once()
        clock.arm()

    def load() -> Sequence[Deadline]:
        with ctx.sessions() as session:
            query = select(Deadline).where(col(Deadline.next_at).is_not(None))
            return session.exec(query).all()

    answer = _start_and_load(base, start, load)
    clock.stop()
    return answer


def _start_and_load(
    base: float, start: Callable[[], None], load: Callable[[], Sequence[object]]
) -> dict[str, Any]:
    """What a scheduler's start costs in time and memory, and then loading every pending
    deadline (held while the memory is read); `base` is the RSS before the scheduler."""
    began = time.perf_counter()
    start()
    started = time.perf_counter() - began
    after_start = _rss()
    began = time.perf_counter()
    pending = load()
    loaded = time.perf_counter() - began  # `pending` stays alive for the RSS below
    return {
        "start_s": started,
        "rss_base": base,
        "rss_started": after_start,
        "load_all_s": loaded,
        "rss_loaded": _rss(),
        "pending": len(pending),
    }


def aps_run(url: str, until: float) -> dict[str, Any]:
    """Run a scheduler on the shared store until `until` (wall clock)."""
    import logging

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.basicConfig(level=logging.WARNING)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)}, timezone=UTC
    )
    scheduler.start()
    time.sleep(max(0.0, until - time.time()))
    alive = scheduler._thread is not None and scheduler._thread.is_alive()
    scheduler.shutdown(wait=True)
    return {"alive": alive}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive")
    parser.add_argument("command", choices=("aps-start", "baton-start", "aps-run"))
    parser.add_argument("url")
    parser.add_argument("--until", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.command == "aps-start":
        answer = aps_start(args.url)
    elif args.command == "baton-start":
        answer = baton_start(args.url)
    else:
        answer = aps_run(args.url, args.until)
    print(json.dumps(answer), flush=True)
    return 0


# the benchmark ---------------------------------------------------------------------------


def _child(command: str, url: str, *extra: str) -> dict[str, Any]:
    from bench.common import ROOT

    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bench.naive", command, url, *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr[-2000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    answer["process_s"] = time.monotonic() - began
    return answer


# What each run of a scheduler is measured by: the figure, its unit, its value in one answer.
_FIGURES: tuple[tuple[str, str, Callable[[dict[str, float]], float]], ...] = (
    ("process start to clock running", "s", lambda a: a["process_s"] - a["load_all_s"]),
    ("clock start (first look at the deadlines)", "ms", lambda a: a["start_s"] * 1000),
    ("RSS with the clock running", "MB", lambda a: a["rss_started"]),
    ("RSS added by starting the clock", "MB", lambda a: a["rss_started"] - a["rss_base"]),
    ("load every pending deadline", "s", lambda a: a["load_all_s"]),
    (
        "RSS added by loading every pending deadline",
        "MB",
        lambda a: a["rss_loaded"] - a["rss_started"],
    ),
)


def compare(results, dbs, quick: bool, backend: str, scale=None) -> None:
    """Start-up and memory with ~100k pending deadlines; then two processes on one store."""
    from sqlmodel import col, select

    from bench import data
    from bench.common import percentile
    from storage.db import make_engine, session_factory
    from storage.models import Deadline

    repeat = 1 if quick else 3
    own = 20_000 if quick else 100_000
    reused = scale is not None and backend in scale.urls
    url = scale.urls[backend] if reused else dbs.create(backend, "naive_baton")
    store = dbs.create(backend, "naive_aps", migrated=False)
    try:
        if not reused:
            engine = data.loader(url)
            data.grow(
                [engine],
                start=0,
                stop=own,
                seed=8,
                now=datetime.now(UTC),
                open_share=1.0,
                qualified_share=1.0,
            )
            engine.dispose()
        engine = make_engine(url)
        with session_factory(engine)() as session:
            pending = [
                (deadline_id, next_at)
                for deadline_id, next_at in session.exec(
                    select(Deadline.id, Deadline.next_at).where(col(Deadline.next_at).is_not(None))
                )
            ]
        engine.dispose()
        fill_jobstore(store, pending, send_url=store)
        runs = {
            "APScheduler": [_child("aps-start", store) for _ in range(repeat)],
            "Baton": [_child("baton-start", url) for _ in range(repeat)],
        }
    finally:
        if not reused:
            dbs.drop(url)
        dbs.drop(store)
    results.note(
        "naive",
        f"{backend}: {len(pending):,} pending deadlines, the same due times in both "
        f"(Baton's table: {scale.size if reused else own:,} leads).",
    )
    medians: dict[str, dict[str, float]] = {}
    for name, answers in runs.items():
        medians[name] = {
            key: percentile([a[key] for a in answers], 50)
            for key in ("process_s", "start_s", "rss_started", "rss_base", "load_all_s")
        }
        medians[name]["rss_loaded"] = percentile([a["rss_loaded"] for a in answers], 50)
        for figure, unit, value in _FIGURES:
            results.add("naive", f"{name}: {figure}", backend, unit, [value(a) for a in answers])
    aps, baton = medians["APScheduler"], medians["Baton"]
    for key, name in (
        ("start_s", "clock start"),
        ("rss_started", "RSS with the clock running"),
        ("rss_loaded", "RSS with every pending deadline loaded"),
    ):
        if baton[key]:
            print(f"  {backend:<10} APScheduler ÷ Baton, {name}: {aps[key] / baton[key]:.2f}×")
    _twins(results, dbs, backend, 10 if quick else 50)


def _twins(results, dbs, backend: str, count: int) -> None:
    """Two processes, one store, `count` deadlines due within seconds: how many sends each?"""
    from bench.common import ROOT

    store = dbs.create(backend, "twins_aps", migrated=False)
    try:
        sends_table(store)
        start = datetime.now(UTC) + timedelta(seconds=6)
        jobs = [(n, start + timedelta(seconds=3 * n / count)) for n in range(count)]
        fill_jobstore(store, jobs, send_url=store)
        until = (start + timedelta(seconds=8)).timestamp()
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.naive", "aps-run", store, "--until", str(until)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        errors = 0
        stopped = 0
        for child in children:
            out, err = child.communicate(timeout=120)
            errors += err.count("JobLookupError")
            lines = out.strip().splitlines()
            if lines and not json.loads(lines[-1]).get("alive", True):
                stopped += 1
        from sqlalchemy import text

        with _engine(store).connect() as connection:
            sent = Counter(
                connection.execute(text(f"SELECT deadline_id FROM {SENDS}")).scalars().all()
            )
        _engine(store).dispose()
    finally:
        dbs.drop(store)
    aps = _outcome(sent, count)
    baton = _baton_twins(dbs, backend, count)
    for name, (duplicates, missed, total) in (("APScheduler", aps), ("Baton", baton)):
        results.add(
            "naive",
            f"{name}: duplicate sends, two processes, {count} deadlines",
            backend,
            f"of {count}",
            [duplicates],
            tail=False,
            samples=count,
        )
        if missed or duplicates:
            results.note(
                "naive",
                f"{backend}, {name}: {total} sends for {count} deadlines, "
                f"{duplicates} of them duplicates, {missed} deadlines never sent",
            )
    if errors or stopped:
        results.note(
            "naive",
            f"{backend}: the two APScheduler processes logged {errors} JobLookupError "
            f"(removing a job the other had already run and removed); in {stopped} of the 2 "
            f"the error ended the scheduler's thread, so it ran no job after that",
        )


def _outcome(sent: Counter, count: int) -> tuple[int, int, int]:
    duplicates = sum(n - 1 for n in sent.values() if n > 1)
    missed = count - len(sent)
    return duplicates, missed, sum(sent.values())


def _baton_twins(dbs, backend: str, count: int) -> tuple[int, int, int]:
    """Two `baton run` processes on one database; each claim deadline escalated by DM once?

    The escalations of leads falling due together go out as a digest, one message kept up to
    date: a lead counts as sent once for each DM message that names it, as the messages stand
    at the end (named by the lead's name: its card, and so its link, may not be posted yet).
    """
    import re

    import httpx

    from bench.common import (
        hand_over_request,
        processes,
        qualified_bodies,
        seconds_agreement,
        wait_healthy,
        wait_until,
    )
    from bot.demo.slack_standin import FakeSlack

    url = dbs.create(backend, "twins_baton")
    try:
        with (
            FakeSlack() as slack,
            processes(url, slack, 2, agreement_=seconds_agreement()) as batons,
        ):
            for baton in batons:
                wait_healthy(baton.port)
            bodies = qualified_bodies(count, seed=6, prefix=f"twins-{backend}")
            for number, body in enumerate(bodies):
                body["name"] = f"Twin {number:04d}"
                path, content, headers = hand_over_request(body)
                httpx.post(
                    f"{batons[number % 2].url}{path}", content=content, headers=headers, timeout=30
                )

            def sent() -> Counter:
                messages: dict[tuple[str, str], set[str]] = {}
                for call in list(slack.calls):
                    channel = str(call.params.get("channel", ""))
                    if (
                        call.answered != "ok"
                        or call.method not in ("chat.postMessage", "chat.update")
                        or not channel.startswith(("U", "D"))
                    ):
                        continue
                    ts = str(call.params.get("ts") or (call.response or {}).get("ts"))
                    text = str(call.params.get("blocks", "")) + str(call.params.get("text", ""))
                    messages[("D" + channel[1:], ts)] = set(re.findall(r"Twin \d{4}", text))
                return Counter(name for names in messages.values() for name in names)

            wait_until(lambda: len(sent()) >= count, timeout=180, every=0.2)
            time.sleep(3)  # long enough for a duplicate to arrive, if there were one
            counted = sent()
    finally:
        dbs.drop(url)
    return _outcome(counted, count)


if __name__ == "__main__":
    sys.exit(main())
