"""What the benchmarks share: figures and their statistics, fresh databases, the running app,
the agreements, and a second process that plays the clients."""

from __future__ import annotations

import gc
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine, text
from sqlmodel import col, select

from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.demo.slack_standin import Call, FakeSlack
from bot.service.runtime import Runtime, build, settle
from bot.service.settings import Settings
from storage.db import make_engine, migrate
from storage.models import Deadline, DigestItem
from tests import support
from tests.support import (
    AGREEMENT,
    INTAKE_TOKEN,
    SIGNING_SECRET,
    Baton,
    baton_run,
    serve,
    slack_headers,
)

# Slack takes many connections at once; socketserver's default listen backlog of 5 would make
# the stand-in reset some of 50 simultaneous calls, which Slack itself does not do.
ThreadingHTTPServer.request_queue_size = 128

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SQLITE, POSTGRES = "SQLite", "PostgreSQL"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SELLERS = tuple(f"U0SELLER{n:02d}" for n in range(1, 51))
CLAIM = "baton.claim"


# statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the two nearest samples."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


@dataclass(frozen=True)
class Target:
    """What a figure should be: `stat` (median or p99) compared with `value`."""

    stat: str
    op: str
    value: float
    text: str

    def met(self, figure: Figure) -> bool | None:
        measured = figure.median if self.stat == "median" else figure.p99
        if measured is None or math.isnan(measured):
            return None
        if self.op == "<":
            return measured < self.value
        if self.op == "<=":
            return measured <= self.value
        if self.op == ">":
            return measured > self.value
        return measured >= self.value


@dataclass
class Figure:
    section: str
    label: str
    backend: str | None
    unit: str
    median: float | None
    p99: float | None
    samples: int
    target: Target | None = None
    note: str = ""

    @property
    def status(self) -> str | None:
        if self.target is None:
            return None
        met = self.target.met(self)
        return None if met is None else ("met" if met else "missed")


def number(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit in ("ms", "s") and abs(value) < 10:
        text_ = f"{value:.2f}"
    elif unit in ("ms", "s", "×") and abs(value) < 100:
        text_ = f"{value:.1f}"
    else:
        text_ = f"{value:,.0f}"
    return f"{text_} {unit}" if unit else text_


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    hotspots: dict[str, list[str]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)

    def add(
        self,
        section: str,
        label: str,
        backend: str | None,
        unit: str,
        values: Sequence[float],
        *,
        target: Target | None = None,
        low_tail: bool = False,
        tail: bool = True,
        samples: int | None = None,
        note: str = "",
    ) -> Figure:
        """A figure from its samples: the median, and the p99 (for rates: the 1st percentile).

        `tail=False` is for a count, where only one number means anything.
        """
        values = [v for v in values if v is not None and not math.isnan(v)]
        tail_value = percentile(values, 1 if low_tail else 99) if values and tail else None
        figure = Figure(
            section=section,
            label=label,
            backend=backend,
            unit=unit,
            median=median(values) if values else None,
            p99=tail_value,
            samples=len(values) if samples is None else samples,
            target=target,
            note=note,
        )
        self.figures.append(figure)
        status = f"  target {target.text}: {figure.status or 'n/a'}" if target else ""
        print(
            f"  {backend or '':<10} {label:<58} median {number(figure.median, unit):>11}  "
            f"p99 {number(figure.p99, unit):>11}  (n={figure.samples}){status}",
            flush=True,
        )
        return figure

    def mark(self) -> tuple[int, int, dict[str, int]]:
        return len(self.figures), len(self.failures), {k: len(v) for k, v in self.notes.items()}

    def rollback(self, mark: tuple[int, int, dict[str, int]]) -> None:
        """Forget what was added since `mark` (a run that has to be measured again)."""
        figures, failures, notes = mark
        del self.figures[figures:]
        del self.failures[failures:]
        for section, lines in self.notes.items():
            del lines[notes.get(section, 0) :]

    def note(self, section: str, line: str) -> None:
        self.notes.setdefault(section, []).append(line)
        print(f"  note: {line}", flush=True)

    def failure(self, line: str) -> None:
        self.failures.append(line)
        print(f"FAILURE: {line}", flush=True)

    def missed(self, section: str) -> list[Figure]:
        return [f for f in self.figures if f.section == section and f.status == "missed"]


class Tally(logging.Handler):
    """Counts what the app logs at WARNING and above, to report it instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[tuple[str, str], int] = {}
        self.examples: dict[tuple[str, str], str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("slack_bolt") and record.levelno < logging.ERROR:
            return  # Bolt's note that the bot token comes from `authorize`
        import re

        message = record.getMessage().strip().splitlines()[0] if record.getMessage() else ""
        key = (record.name, re.sub(r"\d+", "N", message)[:100])
        self.counts[key] = self.counts.get(key, 0) + 1
        self.examples.setdefault(key, message[:200])

    def take(self) -> list[str]:
        lines = [
            f"{count} × {name}: {self.examples[(name, text_)]}"
            for (name, text_), count in sorted(self.counts.items(), key=lambda item: -item[1])
        ]
        self.counts.clear()
        self.examples.clear()
        return lines


class Outage:
    """Watches PostgreSQL while a benchmark runs: a restart in between spoils its figures."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.seen = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def up(self) -> bool:
        import psycopg

        assert self.url
        conninfo = self.url.replace("postgresql+psycopg://", "postgresql://").split("?", 1)[0]
        try:
            with psycopg.connect(conninfo, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def __enter__(self) -> Outage:
        if self.url:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            if not self.up():
                self.seen = True

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def wait(self, timeout: float = 300) -> bool:
        return wait_until(self.up, timeout=timeout, every=1)


# agreements ------------------------------------------------------------------------------


def agreement_text(**sla: str) -> str:
    """The test agreement with 50 sellers; `sla` replaces lines like `claim_within: 1h`."""
    text_ = AGREEMENT.replace(
        "sales: [U0SELLER1, U0SELLER2, U0SELLER3]", f"sales: [{', '.join(SELLERS)}]"
    )
    for key, value in sla.items():
        lines = []
        for line in text_.splitlines():
            if line.strip().startswith(f"{key}:"):
                indent = line[: len(line) - len(line.lstrip())]
                line = f"{indent}{key}: {value}"
            lines.append(line)
        text_ = "\n".join(lines) + "\n"
    return text_


def agreement(**sla: str) -> Agreement:
    return parse_agreement(agreement_text(**sla))


def seconds_agreement() -> str:
    """A claim clock of 2 s escalated at once to the sales manager; no reminders."""
    text_ = agreement_text(claim_within="2s", remind_before="2s")
    start = text_.index("  escalation:")
    end = text_.index("feedback_reasons:")
    return text_[:start] + "  escalation:\n    - {after: 0s, notify: sales_manager}\n" + text_[end:]


BUSINESS_HOURS = """business_hours:
  days: [mon, tue, wed, thu, fri]
  start: "08:00"
  end: "16:00"
  holidays: DK
  closed: ["12-24", "12-31"]
"""


def business_agreement() -> Agreement:
    """As a Danish company runs Baton: Copenhagen opening hours and public holidays."""
    text_ = agreement_text()
    return parse_agreement(text_.replace("channels:", BUSINESS_HOURS + "channels:", 1))


# databases -------------------------------------------------------------------------------


class Databases:
    """Fresh databases: SQLite files in a scratch folder, PostgreSQL schemas dropped after use."""

    def __init__(self, postgres: str | None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="baton-bench-"))
        self.postgres = postgres
        self._schemas: set[str] = set()
        self.backends = [SQLITE]
        self.postgres_version = None
        if postgres:
            try:
                admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    self.postgres_version = connection.execute(
                        text("SHOW server_version")
                    ).scalar_one()
                admin.dispose()
                self.backends.append(POSTGRES)
            except Exception as error:
                print(f"PostgreSQL at {postgres} is not reachable ({error}); SQLite only.")

    def create(self, backend: str, name: str, *, migrated: bool = True) -> str:
        tag = f"{name}_{uuid.uuid4().hex[:8]}"
        if backend == SQLITE:
            url = f"sqlite:///{self.folder / tag}.db"
        else:
            assert self.postgres
            schema = f"bench_{tag}"
            with self._admin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            self._schemas.add(schema)
            separator = "&" if "?" in self.postgres else "?"
            url = f"{self.postgres}{separator}options=-csearch_path%3D{schema}"
        if migrated:
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
        return url

    def drop(self, url: str) -> None:
        if url.startswith("sqlite"):
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        schema = url.rsplit("%3D", 1)[1]
        with self._admin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self._schemas.discard(schema)

    @contextmanager
    def fresh(self, backend: str, name: str, *, migrated: bool = True) -> Iterator[str]:
        url = self.create(backend, name, migrated=migrated)
        try:
            yield url
        finally:
            self.drop(url)

    @contextmanager
    def _admin(self):
        assert self.postgres
        engine = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def close(self) -> None:
        for schema in list(self._schemas):
            try:
                with self._admin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            except Exception as error:
                print(f"could not drop schema {schema}: {error}")
        shutil.rmtree(self.folder, ignore_errors=True)


# the app ---------------------------------------------------------------------------------

PACE = "BATON_SLACK_CHANNEL_RATE"


@contextmanager
def pace(rate: str | None) -> Iterator[None]:
    """The courier's per-channel pace for the app built inside the block (None: as configured)."""
    before = os.environ.get(PACE)
    if rate is not None:
        os.environ[PACE] = rate
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PACE, None)
        else:
            os.environ[PACE] = before


def settings(url: str, slack: FakeSlack | SlackProcess, **more: Any) -> Settings:
    """The app's settings on the database at `url` and `slack`; `more` adds a CRM's."""
    return support.settings(slack.url, url, bot_token="xoxb-bench", **more)


class SlackProcess:
    """`FakeSlack` in a process of its own, as Slack is on machines of its own: its request
    parsing does not take turns with Baton's for one interpreter lock, which in-process it
    would, in the middle of the answers being timed.

    `calls` is what the fake recorded so far; each read fetches only the calls it has not
    seen yet. `Call.at` is `time.monotonic()`, one clock for every process on Linux.
    """

    def __init__(self, *, paced: bool = False) -> None:
        """`paced`: Slack refuses posts beyond its pace per conversation (`pace_posts`)."""
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=_serve_slack, args=(theirs, paced), daemon=True)
        self._process.start()
        self.url: str = self._pipe.recv()
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            self._pipe.send(len(self._calls))
            self._calls += self._pipe.recv()
            return self._calls

    def __enter__(self) -> SlackProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pipe.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


def _serve_slack(pipe: Any, paced: bool = False) -> None:
    with FakeSlack() as slack:
        if paced:
            slack.pace_posts()
        pipe.send(slack.url)
        while (seen := pipe.recv()) is not None:
            with slack._lock:
                pipe.send(slack.calls[seen:])


@dataclass
class App:
    baton: Baton
    slack: SlackProcess
    runtime: Runtime

    @property
    def url(self) -> str:
        return self.baton.url


@contextmanager
def running(url: str, agreement_: Agreement) -> Iterator[App]:
    """The real app under uvicorn on 127.0.0.1, in this process; its Slack in another."""
    with SlackProcess() as slack:
        runtime = build(settings(url, slack), agreement_)
        try:
            with serve(runtime) as baton:
                settle()  # as `baton run` does once it is up
                yield App(baton, slack, runtime)
        finally:
            gc.unfreeze()  # this process runs many apps, one after the other
            runtime.engine.dispose()


def env(url: str, slack: FakeSlack | None, agreement_file: Path) -> dict[str, str]:
    """The environment of a `python -m bot run` subprocess (with no `slack`, its Slack
    address is one where nothing listens: a Teams agreement's replicas never call Slack)."""
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url if slack else "http://127.0.0.1:9/",
        "DATABASE_URL": url,
        "BATON_AGREEMENT": str(agreement_file),
        "BATON_INTAKE_TOKEN": INTAKE_TOKEN,
        "PYTHONPATH": str(ROOT),
    }


@dataclass
class Process:
    popen: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def processes(
    url: str,
    slack: FakeSlack | None,
    count: int = 1,
    agreement_: str | None = None,
    environment: dict[str, str] | None = None,
) -> Iterator[list[Process]]:
    """`count` real `python -m bot run` replicas on one database, each on its own port, as
    the README's operations section runs them; stopped with SIGTERM after the block. The
    agreement is `agreement_text()` unless given; `environment` adds to each one's (the
    `TEAMS_…` settings of a Teams agreement, say)."""
    with tempfile.TemporaryDirectory() as folder:
        agreement_file = Path(folder) / "agreement.yml"
        agreement_file.write_text(agreement_ or agreement_text())
        log = (Path(folder) / "baton.log").open("w")
        started: list[Process] = []
        try:
            for _ in range(count):
                port = free_port()
                popen = subprocess.Popen(
                    baton_run(port),
                    env={**env(url, slack, agreement_file), **(environment or {})},
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
                started.append(Process(popen, port))
            yield started
        finally:
            for process in started:
                process.popen.send_signal(signal.SIGTERM)
            for process in started:
                try:
                    process.popen.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
            log.close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(port: int, timeout: float = 120) -> float:
    """Seconds until `GET /healthz` answers 200."""
    import httpx

    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return time.monotonic() - began
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"baton on port {port} did not become healthy in {timeout:.0f} s")


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process, in MB (MiB), from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """The CPU a process has used so far (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


# Slack side ------------------------------------------------------------------------------


def click(user: str, lead_id: str) -> tuple[str, bytes, dict[str, str]]:
    """A signed Claim click, as Slack sends it: (path, body, headers)."""
    from tests.support import block_action

    payload = block_action(user=user, action_id=CLAIM, value=lead_id)
    body = urlencode({"payload": json.dumps(payload)})
    return "/slack/events", body.encode(), slack_headers(body)


def hand_over_request(body: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}
    return "/api/leads", json.dumps(body).encode(), headers


def card_lead(call: Call) -> str | None:
    """The lead a card belongs to: the value its buttons carry."""
    import re

    match = re.search(r"value['\"]:\s*['\"]([0-9a-f]{32})", str(call.params.get("blocks", "")))
    return match.group(1) if match else None


def is_card(call: Call) -> bool:
    return (
        call.method == "chat.postMessage"
        and call.answered == "ok"
        and call.params.get("channel") == "C0SALES"
        and not call.params.get("thread_ts")
    )


CARD_LINK = r"/archives/C0SALES/p(\d{16})"


def cards_by_link(calls: Sequence[Call]) -> dict[str, str]:
    """Each posted card's lead, by the digits its link ends in (`…/archives/C…/p<digits>`)."""
    return {
        str(call.response["ts"]).replace(".", ""): lead
        for call in calls
        if is_card(call) and call.response and (lead := card_lead(call))
    }


def dm_leads(call: Call, by_link: dict[str, str]) -> set[str]:
    """The leads a DM (a new message or an update of a digest) names, by the links to their
    cards; empty for anything that is no DM."""
    import re

    if call.answered != "ok" or call.method not in ("chat.postMessage", "chat.update"):
        return set()
    if not str(call.params.get("channel", "")).startswith(("U", "D")):
        return set()
    text = str(call.params.get("blocks", "")) + str(call.params.get("text", ""))
    return {by_link[d] for d in re.findall(CARD_LINK, text) if d in by_link}


def calls_since(slack: SlackProcess, start: int) -> list[Call]:
    return slack.calls[start:]


# the clients -----------------------------------------------------------------------------


class Clients:
    """A second process that sends the requests, so clients don't share the app's GIL."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(_warm).result()

    def send(
        self,
        base_url: str | list[str],
        requests: list[tuple[str, bytes, dict[str, str]]],
        *,
        concurrency: int,
        answers: bool = False,
        within: float | None = None,
    ) -> list[tuple[float, float, int, str | None]]:
        """Per request: (sent, answered) on time.monotonic(), the status, and the body.

        `within` caps the seconds spent starting requests (see `bench.load.send`).
        """
        from bench.load import send

        job = self._pool.submit(send, base_url, requests, concurrency, answers, within)
        return job.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _warm() -> None:
    import bench.load  # noqa: F401


def monotonic_offset() -> float:
    """time.time() - time.monotonic(), from the tightest of a few readings."""
    best = (math.inf, 0.0)
    for _ in range(20):
        before = time.monotonic()
        wall = time.time()
        after = time.monotonic()
        best = min(best, (after - before, wall - (before + after) / 2))
    return best[1]


# leads -----------------------------------------------------------------------------------


def qualified_bodies(count: int, *, seed: int, prefix: str) -> list[dict[str, Any]]:
    """Leads that meet the test agreement's definition, so each gets a card and a Claim button."""
    import random
    from datetime import UTC, datetime

    from bench import data

    rng = random.Random(f"{seed}:{prefix}")
    rules = data.default_rules()
    now = datetime.now(UTC)
    return [
        data.contact(rng, received=now, rules=rules, external_id=f"{prefix}-{n}")
        for n in range(count)
    ]


def seed_waiting(url: str, count: int, *, seed: int) -> list[str]:
    """Put `count` unclaimed leads, cards already posted, straight into the database."""
    from datetime import UTC, datetime

    from bench import data

    rows = data.waiting(count, seed=seed, now=datetime.now(UTC))
    engine = data.loader(url)
    try:
        data.write(engine, data.prepare(rows))
        data.finish(engine)
    finally:
        engine.dispose()
    return [row["id"] for row in rows.lead]


class HandsOver(Protocol):
    """The running app as a CRM reaches it, on Slack (`tests.support.Baton`) or Teams."""

    def hand_over(self, body: dict[str, Any]) -> httpx.Response: ...


def hand_over_spaced(
    baton: HandsOver, bodies: list[dict[str, Any]], every: float
) -> dict[str, str]:
    """Hand the leads over one every `every` seconds, so that their deadlines fall as far
    apart; the name of each lead, by its id."""
    names: dict[str, str] = {}
    for body in bodies:
        began = time.monotonic()
        answer = baton.hand_over(body)
        if answer.status_code != 201:
            raise RuntimeError(f"hand-over answered {answer.status_code}: {answer.text}")
        names[answer.json()["id"]] = body["name"]
        time.sleep(max(0.0, began + every - time.monotonic()))
    return names


def claim_escalations(
    ctx: Context, lead_ids: list[str]
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """Each lead's claim deadline, and when its escalation was queued (its digest item
    added): where a deadline-to-message lag splits into the clock's and the delivery's."""
    with ctx.sessions() as session:
        due = {
            clock.lead_id: clock.due_at
            for clock in session.exec(
                select(Deadline).where(
                    col(Deadline.lead_id).in_(lead_ids), Deadline.kind == "claim"
                )
            )
        }
        queued = {
            item.lead_id: item.added_at
            for item in session.exec(
                select(DigestItem).where(col(DigestItem.lead_id).in_(lead_ids))
            )
        }
    return due, queued
