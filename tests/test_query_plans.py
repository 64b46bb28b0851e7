"""Statements that run while SQLite's one write lock is held must not read whole tables."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event

from storage import outbox
from storage.db import make_engine, migrate, session_factory, transaction


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def plan(engine: Engine, run) -> list[str]:
    """SQLite's plan for every statement `run` sends that touches the outbox."""
    sent: list[tuple[str, tuple]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "outbox" in statement and statement.lstrip().upper().startswith("SELECT"):
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
