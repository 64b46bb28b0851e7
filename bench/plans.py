"""Which of Baton's statements read a whole table: EXPLAIN on the largest database.

The statements are the ones Baton really runs for one hand-over, its card, a claim and a
clock sweep, caught as they go to the database; each is then explained with its own
parameters (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`), nothing executed twice.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

from sqlalchemy import event, text

from bench.common import ROOT, SELLERS, SQLITE, Results, qualified_bodies

LARGE = ("lead", "event", "deadline", "outbox", "breach", "feedback")
BATON = tuple(str(ROOT / name) + "/" for name in ("bot", "storage"))


def _caller() -> str:
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(BATON):
            return f"{frame.filename[len(str(ROOT)) + 1 :]}:{frame.name}"
    return "?"


def _scans(backend: str, plan: list[str]) -> list[str]:
    """The large tables a plan reads from end to end."""
    found = []
    for line in plan:
        if backend == SQLITE:
            match = re.search(r"\bSCAN (\w+)(?! USING)", line)
            if match and match.group(1) in LARGE and "USING" not in line:
                found.append(match.group(1))
        else:
            match = re.search(r"Seq Scan on (\w+)", line)
            if match and match.group(1) in LARGE:
                found.append(match.group(1))
    return sorted(set(found))


def audit(results: Results, backend: str, url: str, size_label: str) -> None:
    from bench.profiling import _runtime
    from bot import intake, ownership
    from bot.schemas import LeadIn

    captured: dict[str, tuple[Any, str]] = {}

    def capture(_conn, _cursor, statement, parameters, _context, executemany) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb in ("SELECT", "UPDATE", "DELETE") and not executemany:
            captured.setdefault(statement, (parameters, _caller()))

    with _runtime(url) as (runtime, _slack):
        event.listen(runtime.engine, "before_cursor_execute", capture)
        try:
            body = qualified_bodies(1, seed=12, prefix=f"plans-{backend}")[0]
            made = intake.hand_over(runtime.ctx, LeadIn.model_validate(body), by="api")
            while runtime.courier.run_once():
                pass
            ownership.claim(runtime.ctx, lead_id=made.lead.id, user=SELLERS[0])
            while runtime.courier.run_once():
                pass
            runtime.scheduler.run_once()
            runtime.scheduler.next_deadline()
        finally:
            event.remove(runtime.engine, "before_cursor_execute", capture)
        explain = "EXPLAIN QUERY PLAN " if backend == SQLITE else "EXPLAIN "
        flagged = []
        with runtime.engine.connect() as connection:
            sizes = {
                table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in LARGE
            }
            for statement, (parameters, caller) in captured.items():
                try:
                    rows = connection.exec_driver_sql(explain + statement, parameters).all()
                except Exception as error:
                    flagged.append(f"`{caller}`: could not explain ({type(error).__name__})")
                    continue
                plan = [str(row[-1]) if backend == SQLITE else str(row[0]) for row in rows]
                for table in _scans(backend, plan):
                    sql = " ".join(statement.split())
                    flagged.append(
                        f"`{caller}` scans `{table}` ({sizes[table]:,} rows) instead of "
                        f"using an index ({'; '.join(p.strip() for p in plan if table in p)}): "
                        f"`{sql[:160]}…`"
                    )
    if flagged:
        for line in flagged:
            results.note("plans", f"{backend}, {size_label} leads: {line}")
    else:
        results.note(
            "plans",
            f"{backend}, {size_label} leads: none of the {len(captured)} statements reads a "
            f"whole large table",
        )
