"""Deliveries taken: the ids of events a chat platform sent (`InboundEvent`), each once.

As the consequence ledger (`storage.consequence_rows`): taking is an insert that does nothing
when the id is there already, so it can share the transaction of the work the delivery
asks for. On PostgreSQL a second taker waits for the first to commit or roll back; a rolled
back take leaves the delivery to be taken again.
"""

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import InboundEvent


def take(*, session: Session, platform: str, event_id: str, at: datetime) -> bool:
    """Record that `platform` delivered `event_id`; False when it was recorded before."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = InboundEvent.__table__
    result = session.execute(
        dialect.insert(table)
        .values(platform=platform, event_id=event_id[:255], received_at=at)
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
        .returning(table.c.event_id)
    )
    return result.first() is not None
