"""9. `baton import`: rows a second of a CSV export, run as a user runs it.

The file is what Danish Excel saves: semicolons, Windows-1252, CRLF, realistic Nordic leads
(`bench/data.py`, about 40% qualified, no `external_id`). Each run is a `python -m bot import`
process on a fresh database: the file new (`--yes`), the same file again (every row already
known), and a dry run first. The rate is the one the command reports for its rows, without
the process's start-up; the import's own CPU time is given as well, as the machine is shared.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import resource
import tempfile
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from bench import data, profiling
from bench.common import ROOT, SQLITE, Databases, Results, Target
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.csvfile import open_csv
from bot.importing import Import
from storage.db import make_engine, session_factory
from tests.support import AGREEMENT, run_bot

SECTION = "import"
TARGET = Target("median", ">=", 2000, "≥ 2,000/s on SQLite")
COLUMNS = (
    *("name", "email", "company", "title", "phone", "country", "industry", "employees"),
    *("revenue", "profit", "buying_stage", "source", "challenges", "budget", "activity"),
)
HEADERS = {"email": "E-mail", "buying_stage": "Buying stage"}  # as people write them
_RATE = re.compile(r"([\d,]+) rows in ([\d.]+) s")


def export(path: Path, rows: int, *, seed: int = 9) -> Path:
    """A marketing tool's export of `rows` leads, saved by Excel in Denmark."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with path.open("w", newline="", encoding="cp1252", errors="replace") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow([HEADERS.get(name, name.replace("_", " ").title()) for name in COLUMNS])
        for _ in range(rows):
            lead = data.contact(rng, received=now)
            lead["activity"] = json.dumps(lead["activity"])
            writer.writerow(["" if lead.get(name) is None else lead[name] for name in COLUMNS])
    return path


def _import(url: str, agreement: Path, file: Path, *options: str) -> tuple[float, float]:
    """Rows a second as the command reports them, and rows per second of its own CPU time."""
    env = {**os.environ, "DATABASE_URL": url, "BATON_AGREEMENT": str(agreement)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run_bot("import", str(file), *options, env=env, cwd=ROOT, timeout=3600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = _RATE.search(" ".join(done.stdout.split()))
    if done.returncode != 0 or not found:
        raise RuntimeError(f"baton import failed ({done.returncode}): {done.stderr[-2000:]}")
    rows, seconds = int(found.group(1).replace(",", "")), float(found.group(2))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rows / seconds, rows / cpu


def throughput(results: Results, dbs: Databases, quick: bool, backend: str) -> None:
    rows = 10_000 if quick else 50_000
    runs = 2 if quick else 3
    with tempfile.TemporaryDirectory(prefix="baton-import-") as folder:
        agreement = Path(folder) / "agreement.yml"
        agreement.write_text(AGREEMENT, encoding="utf-8")
        file = export(Path(folder) / "leads.csv", rows)
        figures: dict[str, list[float]] = {}
        for _ in range(runs):
            with dbs.fresh(backend, "import") as url:
                for name, options in (
                    ("a dry run", ("--dry-run",)),
                    ("new leads", ("--yes",)),
                    ("the same file again, every row already known", ("--yes",)),
                ):
                    rate, cpu = _import(url, agreement, file, *options)
                    figures.setdefault(name, []).append(rate)
                    figures.setdefault(f"{name}, per second of its CPU time", []).append(cpu)
        for name, values in figures.items():
            label = f"`baton import` of {rows:,} rows (Danish Excel), {name}"
            target = TARGET if name == "new leads" and backend == SQLITE else None
            results.add(SECTION, label, backend, "/s", values, target=target, low_tail=True)
        size = file.stat().st_size / 1e6
    results.note(
        SECTION,
        f"{backend}: {rows:,} rows, {size:.1f} MB; {runs} runs, each on a fresh database; "
        f"the dry run before the import, the second import on the filled database.",
    )


PROFILED = 10_000


def profiled(dbs: Databases, backend: str) -> profiling.Profile:
    """An import of 10,000 rows in this thread, its rows checked in line (not in a second
    process), so that one profile shows all of a row's work: reading, checking, writing."""
    with tempfile.TemporaryDirectory(prefix="baton-import-") as folder:
        file = export(Path(folder) / "leads.csv", PROFILED)
        with dbs.fresh(backend, "import_profile") as url:
            engine = make_engine(url)
            try:
                ctx = Context(
                    agreement=parse_agreement(AGREEMENT), sessions=session_factory(engine)
                )
                rows = open_csv(file).rows()
                return profiling.profile("import", lambda: deque(Import(ctx).run(rows), maxlen=0))
            finally:
                engine.dispose()
