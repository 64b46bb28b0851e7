"""The PostgreSQL engine: a pooled connection the server ended is replaced before anyone uses
it, though no checkout pings the server; reads keep the statements psycopg prepared."""

import time

import pytest
from sqlalchemy import Engine, text

from storage.db import make_engine, reading, session_factory
from tests.conftest import POSTGRES

pytestmark = pytest.mark.skipif(not POSTGRES, reason="needs BATON_TEST_POSTGRES_URL")


def _backend(engine: Engine) -> int:
    with engine.begin() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _end(pid: int) -> None:
    """End one backend from another connection, as a server restart would, and wait until
    it is gone."""
    assert POSTGRES
    admin = make_engine(POSTGRES)
    try:
        with admin.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):
            with admin.begin() as connection:
                gone = not connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).scalar_one()
            if gone:
                return
            time.sleep(0.05)
        raise AssertionError(f"backend {pid} is still there")
    finally:
        admin.dispose()


def test_a_connection_the_server_ended_is_replaced_at_checkout() -> None:
    assert POSTGRES
    engine = make_engine(POSTGRES)
    try:
        first = _backend(engine)
        _end(first)
        assert _backend(engine) != first  # no error: the pool gave a new connection
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_a_read_keeps_what_psycopg_prepared_where_a_rollback_forgets_it() -> None:
    assert POSTGRES
    engine = make_engine(POSTGRES)
    sessions = session_factory(engine)
    count = text("SELECT count(*) FROM pg_prepared_statements")
    try:
        for _ in range(6):  # psycopg prepares a statement from its fifth run on
            with reading(sessions) as session:
                session.execute(text("SELECT 41 + 1")).scalar_one()
        with reading(sessions) as session:
            assert session.execute(count).scalar_one() >= 1
        with sessions() as session:  # ends in ROLLBACK
            session.execute(text("SELECT 41 + 1")).scalar_one()
        with reading(sessions) as session:
            assert session.execute(count).scalar_one() == 0
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()
