"""Engine, sessions and migrations for SQLite (default) and PostgreSQL."""

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, Insert, create_engine, event, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from storage.postgres import postgres_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
WRITES = "baton_writes"

# One writer at a time per SQLite database, queued in this process. SQLite lets one write
# transaction in and makes the others poll, sleeping up to 100 ms between tries, so a writer
# could sleep long after the lock was free; here the next one is woken the moment it is.
_writers: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_unit: ContextVar[Session | None] = ContextVar("baton_unit", default=None)
_CONNECTION = "baton.connection"
_HELD = "baton.held"


def make_engine(url: str) -> Engine:
    """SQLite gets WAL and write transactions that queue instead of failing under contention."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            # A deferred transaction that reads, then writes, fails at once with SQLITE_BUSY
            # when another writer got in between; a unit of work begins IMMEDIATE and waits its
            # turn instead. Reads stay deferred, so in WAL mode they never wait for a writer.
            # Straight to the driver: every transaction begins so, and the way through the
            # engine (events, a result) costs more than the statement.
            writes = connection.get_execution_options().get(WRITES, False)
            connection.connection.driver_connection.execute(
                "BEGIN IMMEDIATE" if writes else "BEGIN"
            )

        _writers[engine] = threading.Lock()
        return engine
    return postgres_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


def joined(sessions: sessionmaker[Session]) -> Session | None:
    """The `one_transaction` a `transaction` opened now would join (it commits what is done
    in it, so whoever opened it announces the changes once they are committed), or None."""
    unit = _unit.get()
    return unit if unit is not None and unit.get_bind() is sessions.kw["bind"] else None


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back when it raises. Inside
    `one_transaction` on the same database it is that one's: committed with it, not before."""
    unit = joined(sessions)
    if unit is not None:
        yield unit
        return
    writer = _writers.get(sessions.kw["bind"])
    with writer or nullcontext(), sessions() as session:
        try:
            with session.begin():
                session.info[_CONNECTION] = session.connection(execution_options={WRITES: True})
                yield session
        finally:
            session.info.pop(_CONNECTION, None)


@contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads that ends its transaction with COMMIT, not ROLLBACK.

    Nothing was written, so either ends it alike, but psycopg forgets every statement it
    prepared on a connection at a ROLLBACK: a read of the courier or the clock between two
    clicks would have PostgreSQL parse and plan the next click's statements again. Reads
    that come many times a minute (the courier's, the clock's, a click's) go through here.
    A block that raises is rolled back as any session's."""
    with sessions() as session:
        yield session
        session.commit()


@contextmanager
def inserting_together(session: Session) -> Iterator[None]:
    """The rows `insert_rows` is given within the block are inserted at its end, one statement per
    table, in the order given: claims decided together write their events and outbox rows in
    two statements instead of two each. Nothing in the block may read what it inserts so. A
    block that raises inserts nothing (its transaction is rolled back)."""
    held: dict[Insert, list[dict[str, Any]]] = {}
    session.info[_HELD] = held
    try:
        yield
    finally:
        session.info.pop(_HELD, None)
    for statement, rows in held.items():
        connection(session).execute(statement, rows)


def insert_rows(session: Session, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """`statement` with `rows`, now, or with the others at the end of `inserting_together`.
    No rows insert nothing: an INSERT executed with an empty list would write one row of
    defaults."""
    if not rows:
        return
    held = session.info.get(_HELD)
    if held is not None:
        held.setdefault(statement, []).extend(rows)
    else:
        connection(session).execute(statement, rows)


def connection(session: Session) -> Connection:
    """The connection of the session's transaction, for statements that want no ORM objects
    back (the inserts, updates and reads a click waits for): through it a statement skips the
    session's own work (finding the connection, its events, the ORM's look at the statement),
    which costs a good part of what a short statement costs. The one `transaction` took is
    kept, not asked for again; a session outside one asks."""
    found = session.info.get(_CONNECTION)
    return found if found is not None else session.connection()


@contextmanager
def one_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that every `transaction` opened inside it (in this thread) joins: what a
    request does in several services is one commit, and one turn at the write lock, instead
    of one each. Raising anywhere inside rolls all of it back."""
    with transaction(sessions) as session:
        token = _unit.set(session)
        try:
            yield session
        finally:
            _unit.reset(token)


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema up to date; safe to run on every start and from several replicas.

    One line says so when the schema changed (Alembic's own lines are kept out of the log)."""
    with _one_migrator(engine):
        before, head, _ = schema_state(engine)
        command.upgrade(_alembic_config(engine), "head")
    if before != head:
        log.info("the database schema was at %s and is now at %s", before or "nothing", head)


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """Of several processes starting at once on one SQLite file, one migrates at a time.

    SQLite's own locks do not order them: two that read the version before either wrote it
    both create the tables, and one fails. A lock file beside the database does. PostgreSQL
    is ordered by an advisory lock in the migration environment.
    """
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def schema_is_current(engine: Engine) -> bool:
    current, head, _ = schema_state(engine)
    return current == head


def schema_state(engine: Engine) -> tuple[str | None, str, bool]:
    """The database's schema revision (None before the first migration), the one this Baton
    needs, and whether this Baton knows the database's (a newer Baton may have migrated it)."""
    script = ScriptDirectory.from_config(_alembic_config(engine))
    head = script.get_current_head()
    assert head is not None
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    try:
        known = current is None or script.get_revision(current) is not None
    except CommandError:
        known = False
    return current, head, known


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
