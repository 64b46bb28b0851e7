"""PostgreSQL's engine: a pool that replaces connections the server closed, without pinging at
every checkout."""

import select

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError


def postgres_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=10, max_overflow=20)
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
