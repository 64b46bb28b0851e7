"""Statements that run while SQLite's one write lock is held, or over a window of a million
leads, must not read whole tables."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event

from bot import reports
from bot.agreement import Agreement
from storage import leads, outbox
from storage.db import make_engine, migrate, session_factory, transaction


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def plan(engine: Engine, run, table: str = "outbox") -> list[str]:
    """SQLite's plan for every statement `run` sends that touches `table`."""
    sent: list[tuple[str, tuple]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if table in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert sent
    with engine.connect() as connection:
        return [
            row[3]
            for statement, parameters in sent
            for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        ]


def test_taking_due_messages_searches_the_index_instead_of_scanning_the_outbox(engine):
    sessions = session_factory(engine)

    def take() -> None:
        with transaction(sessions) as session:
            outbox.take(
                session=session,
                now=datetime.now(UTC),
                lease=timedelta(seconds=15),
                limit=20,
                in_order=("card", "reply"),
            )

    steps = plan(engine, take)
    assert any("USING INDEX ix_outbox_next_attempt_at" in step for step in steps), steps
    assert not any(step.startswith("SCAN") for step in steps), steps


def test_the_scorecard_reads_its_window_through_the_index_instead_of_scanning_leads(
    engine, agreement: Agreement
):
    sessions = session_factory(engine)

    def score() -> None:
        with sessions() as session:
            reports.scorecard(
                session=session, agreement=agreement, since=datetime.now(UTC) - timedelta(days=7)
            )

    steps = plan(engine, score, table="lead")
    assert not any(step.startswith("SCAN") for step in steps), steps
    covered = [step for step in steps if "COVERING INDEX ix_lead_received_at_report" in step]
    assert len(covered) >= 2, steps  # the counts and the claims, without visiting the rows


def test_an_imports_check_for_open_leads_searches_the_email_index(engine):
    """An import asks, inside its write transaction, which of a chunk's people are open leads:
    on a million leads a scan would hold SQLite's write lock for every chunk."""
    sessions = session_factory(engine)

    def check() -> None:
        with transaction(sessions) as session:
            leads.open_by_email(session=session, emails=["Mette@Nordlys.dk", "sven@berg.se"])

    steps = plan(engine, check, table="lead")
    assert any("USING INDEX ix_lead_email_lower" in step for step in steps), steps
    assert not any(step.startswith("SCAN") for step in steps), steps
