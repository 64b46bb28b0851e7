"""The consequence ledger: each consequence of the agreement recorded once, by its key.

Recording is the taking: an insert that does nothing when the key is there already, in the
transaction that applies the consequence. Of two replicas (or a process and its restart)
that reach one occasion, one inserts and goes on; the other finds it taken and does nothing,
and on PostgreSQL it waits for the first to commit or roll back before it knows which.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.models import Consequence


def take(
    *,
    session: Session,
    key: str,
    kind: str,
    at: datetime,
    lead_id: str | None = None,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Record the consequence `key`; False when it was recorded before, by anyone."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = session.execute(
        dialect.insert(Consequence.__table__)
        .values(key=key, kind=kind, at=at, lead_id=lead_id, subject=subject, data=data or {})
        .on_conflict_do_nothing(index_elements=["key"])
        # The row it made, or none: a rowcount is not reported for this on every driver.
        .returning(Consequence.__table__.c.id)
    )
    return result.first() is not None


def count(*, session: Session, kind: str, subject: str | None = None) -> int:
    """How many of `kind` were ever recorded (for `subject`)."""
    query = select(func.count()).select_from(Consequence).where(Consequence.kind == kind)
    if subject is not None:
        query = query.where(Consequence.subject == subject)
    return int(session.exec(query).one())


def tally(
    *, session: Session, since: datetime, until: datetime
) -> list[tuple[str, str | None, int]]:
    """How many of each kind were applied in `[since, until)`, by whom they concern:
    `(kind, subject, count)`, counted in the database."""
    found = session.exec(
        select(Consequence.kind, Consequence.subject, func.count())
        .where(col(Consequence.at) >= since, col(Consequence.at) < until)
        .group_by(Consequence.kind, Consequence.subject)
    ).all()
    return [(kind, subject, int(count)) for kind, subject, count in found]


def latest(*, session: Session, kind: str, subject: str) -> Consequence | None:
    return session.exec(
        select(Consequence)
        .where(Consequence.kind == kind, Consequence.subject == subject)
        .order_by(col(Consequence.id).desc())
        .limit(1)
    ).first()
