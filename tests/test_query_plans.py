"""Statements that run while SQLite's one write lock is held, or over a window of a million
leads, must not read whole tables."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, insert

from bot import reports, scorecard
from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from storage import leads, outbox
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox
from tests.support import AGREEMENT


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


def test_the_two_sided_scorecard_reads_leads_and_clocks_from_indexes_alone(engine):
    """The full scorecard over a window of a million leads: the waits, the clocks kept and the
    leads waiting for feedback come from indexes, without a lead's or a clock's row (each a
    random read in a large table); only the figures by source read the window's rows."""
    office = parse_agreement(
        AGREEMENT
        + 'business_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}\n'
    )
    steps: list[tuple[str, list[str]]] = []

    def explain(_conn, cursor, statement, parameters, _context, _many) -> None:
        # On the statement's own connection: the business-day table is that connection's.
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "lead" in statement:
            found = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            steps.append((statement, [str(row[3]) for row in found]))

    now = datetime.now(UTC)
    event.listen(engine, "before_cursor_execute", explain)
    try:
        with session_factory(engine)() as session:
            scorecard.compute(
                session=session,
                agreement=office,
                since=now - timedelta(days=30),
                until=now,
                now=now,
            )
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    every = [step for _, plan in steps for step in plan]
    assert not any(step.startswith(("SCAN lead", "SCAN deadline")) for step in every), every
    for statement, plan in steps:
        if "lead.source" in statement:
            continue  # a source may be longer than an index entry may be on PostgreSQL
        reads = [step for step in plan if step.startswith("SEARCH lead")]
        assert all("COVERING INDEX" in step for step in reads), (statement, plan)
        clocks = [step for step in plan if step.startswith("SEARCH deadline")]
        assert all("COVERING INDEX ix_deadline_lead_id" in step for step in clocks), plan
    waits = next(plan for statement, plan in steps if "moments" in statement)
    assert any("COVERING INDEX ix_lead_received_at_report" in step for step in waits), waits
