"""Deliveries taken: the ids of events a chat platform sent (`InboundEvent`), each once.

As the consequence ledger (`storage.consequence_rows`): taking is an insert that does nothing
when the id is there already, so it can share the transaction of the work the delivery
asks for. On PostgreSQL a second taker waits for the first to commit or roll back; a rolled
back take leaves the delivery to be taken again.
"""

from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.db import connection
from storage.models import InboundEvent

_TABLE = InboundEvent.__table__
_TAKE = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(_TABLE)
    .values(
        platform=bindparam("platform"),
        event_id=bindparam("event_id"),
        received_at=bindparam("at"),
    )
    .on_conflict_do_nothing(index_elements=["platform", "event_id"])
    .returning(_TABLE.c.event_id)
    for dialect in (postgresql, sqlite)
}
"""Built once per dialect: a delivery is taken on the way to every click's answer."""


def take(*, session: Session, platform: str, event_id: str, at: datetime) -> bool:
    """Record that `platform` delivered `event_id`; False when it was recorded before."""
    on = connection(session)
    values = {"platform": platform, "event_id": event_id[:255], "at": at}
    return on.execute(_TAKE[on.dialect.name], values).first() is not None


def take_all(*, session: Session, platform: str, event_ids: list[str], at: datetime) -> set[str]:
    """`take` for several deliveries in one statement: those recorded now (the others were
    recorded before)."""
    wanted = list(dict.fromkeys(event_id[:255] for event_id in event_ids))
    if not wanted:
        return set()
    on = connection(session)
    values = [{"platform": platform, "event_id": event_id, "at": at} for event_id in wanted]
    return {row[0] for row in on.execute(_TAKE[on.dialect.name], values)}
