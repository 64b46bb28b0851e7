"""Statements that run while SQLite's one write lock is held, or over a window of a million
leads, must not read whole tables."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, insert

from bot import reports
from bot.agreement import Agreement
from storage import leads, outbox
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def plan(engine: Engine, run, table: str = "outbox") -> list[str]:
    """The database's plan for every statement `run` sends that reads `table`."""
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
    sqlite = engine.dialect.name == "sqlite"
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with engine.connect() as connection:
        return [
            str(row[3] if sqlite else row[0])
            for statement, parameters in sent
            for row in connection.exec_driver_sql(explain + statement, parameters)
        ]


@pytest.fixture
def busy_outbox(database_url: str) -> Iterator[Engine]:
    """20,000 messages sent long ago and 50 due, of both priorities, with the planner's
    statistics: the shape that tempts a database to read the whole table."""
    engine = make_engine(database_url)
    migrate(engine)
    long_ago = datetime.now(UTC) - timedelta(days=300)
    sent = [
        {**outbox.row(kind="dm", at=long_ago, recipient="U0SELLER1"), "next_attempt_at": None}
        for _ in range(20_000)
    ]
    due = [
        outbox.row(kind="dm", at=long_ago, recipient="U0SELLER1", priority=n % 2) for n in range(50)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Outbox.__table__), sent)
        connection.execute(insert(Outbox.__table__), due)
        connection.exec_driver_sql("ANALYZE")
    yield engine
    engine.dispose()


def test_the_due_messages_are_found_by_their_index_most_urgent_first(busy_outbox: Engine):
    sessions = session_factory(busy_outbox)
    now = datetime.now(UTC)

    def take() -> None:
        with transaction(sessions) as session:
            taken = outbox.take(
                session=session,
                now=now,
                lease=timedelta(seconds=15),
                limit=20,
                in_order=("card", "reply"),
            )
            assert [row.priority for row in taken] == [0] * 20
            ids = [row.id for row in taken]
            assert ids == sorted(ids)  # and in the order queued
            parked = [now + timedelta(seconds=30)]  # after an outage: the next to try
            outbox.wake_next(session=session, parked=parked, after=0, now=now)

    steps = plan(busy_outbox, take)
    if busy_outbox.dialect.name == "sqlite":
        assert any("USING INDEX ix_outbox_next_attempt_at" in step for step in steps), steps
        assert not any(step.startswith("SCAN") for step in steps), steps
    else:
        assert any("ix_outbox_next_attempt_at on outbox " in step for step in steps), steps
        assert not any("Seq Scan on outbox" in step for step in steps), steps


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
    assert covered, steps  # the counts, without visiting the rows


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
