"""PostgreSQL's engine: a pool that replaces connections the server closed without pinging at
every checkout, and cursors that describe a result only when asked."""

import select
from collections.abc import Iterator, Sequence
from typing import Any, overload

from psycopg import Column, Connection, Cursor
from psycopg.adapt import AdaptersMap
from psycopg.pq import ExecStatus
from psycopg.pq.abc import PGresult
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError

_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


def postgres_engine(url: str) -> Engine:
    engine = create_engine(
        url, pool_size=10, max_overflow=20, connect_args={"cursor_factory": _Cursor}
    )
    event.listen(engine, "checkout", _hung_up)
    return engine


def _hung_up(dbapi_connection, _record, _proxy) -> None:
    """A pooled connection that the server closed is swapped for a new one before anyone uses
    it, without a round trip to ask.

    An idle connection has nothing to read: a server that shuts down or ends the backend
    says so ("terminating connection") and closes it, so its socket reads. Looking costs a
    poll; a ping would cost a round trip at every checkout, which is every transaction. The
    pool retries a checkout refused so with a new connection. A connection lost silently
    still fails its first statement, which invalidates it and all those pooled with it.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection was already closed")
    idle = select.poll()
    idle.register(dbapi_connection.fileno(), select.POLLIN)
    if idle.poll(0):
        raise DisconnectionError("the server closed the connection while it sat in the pool")


class _Cursor(Cursor[Any]):
    """A result's description is made of its columns when it is first read, not at once.

    SQLAlchemy asks every statement for its description, but once a statement's result
    columns are cached it only looks whether there is one; making a `Column` for every
    column of every result was a third of the driver's own work on a claim."""

    @property
    def description(self) -> Sequence[Column] | None:  # type: ignore[override]
        result = self.pgresult
        if result and (result.nfields or result.status in _ROWS):
            return _Description(_Result(result, self.adapters, self.connection))
        return None


class _Result:
    """What psycopg's `Column` reads from its cursor, kept for the one result it describes, so
    a description read after the cursor moved on is still its own result's.
    `tests/test_postgres_engine.py` holds it to the driver's own description."""

    __slots__ = ("adapters", "connection", "pgresult")

    def __init__(self, pgresult: PGresult, adapters: AdaptersMap, connection: Connection) -> None:
        self.pgresult = pgresult
        self.adapters = adapters
        self.connection = connection

    @property
    def _encoding(self) -> str:
        return self.connection.info.encoding


class _Description(Sequence[Column]):
    __slots__ = ("_columns", "_result")

    def __init__(self, result: _Result) -> None:
        self._result = result
        self._columns: list[Column] | None = None

    def _made(self) -> list[Column]:
        if self._columns is None:
            result = self._result
            self._columns = [
                Column(result, i)  # type: ignore[arg-type]
                for i in range(result.pgresult.nfields)
            ]
        return self._columns

    @overload
    def __getitem__(self, index: int) -> Column: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Column]: ...
    def __getitem__(self, index):
        return self._made()[index]

    def __len__(self) -> int:
        return self._result.pgresult.nfields

    def __iter__(self) -> Iterator[Column]:
        return iter(self._made())

    def __repr__(self) -> str:
        return repr(self._made())
