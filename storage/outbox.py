"""The outbox: Slack writes stored with the change that causes them, taken by one worker each."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import Outbox


def enqueue(
    *,
    session: Session,
    kind: str,
    at: datetime,
    lead_id: str | None = None,
    channel: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    session.add(
        Outbox(
            kind=kind,
            lead_id=lead_id,
            channel=channel,
            payload=payload or {},
            created_at=at,
            next_attempt_at=at,
        )
    )


def take(
    *,
    session: Session,
    now: datetime,
    lease: timedelta,
    limit: int,
    in_order: tuple[str, ...] = (),
) -> list[Outbox]:
    """Lease due rows to this worker; rows of the `in_order` kinds go out one at a time per lead.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas take disjoint rows; on SQLite the
    write transaction is already exclusive. A lease that runs out (a crash between taking
    and sending) makes the row due again, so nothing is lost.
    """
    earlier = aliased(Outbox)
    blocked = (
        select(earlier.id)
        .where(
            earlier.lead_id == Outbox.lead_id,
            col(earlier.kind).in_(in_order),
            col(earlier.id) < col(Outbox.id),
            col(earlier.next_attempt_at).is_not(None),
        )
        .exists()
    )
    query = (
        select(Outbox)
        .where(
            col(Outbox.next_attempt_at) <= now,
            or_(col(Outbox.taken_until).is_(None), col(Outbox.taken_until) < now),
            or_(col(Outbox.lead_id).is_(None), col(Outbox.kind).not_in(in_order), ~blocked),
        )
        .order_by(col(Outbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Outbox)
    )
    rows = list(session.exec(query).all())
    for row in rows:
        row.taken_until = now + lease
        row.attempts += 1
    session.flush()
    return rows


def delivered(*, session: Session, row_id: int, at: datetime, ts: str | None) -> None:
    session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row_id)
        .values(sent_at=at, ts=ts, next_attempt_at=None, taken_until=None, error=None)
    )


def failed(*, session: Session, row_id: int, error: str, retry_at: datetime | None) -> None:
    """Schedule another attempt, or with `retry_at=None` park the row as dead."""
    session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row_id)
        .values(error=error[:1000], next_attempt_at=retry_at, taken_until=None)
    )


def next_due(*, session: Session) -> datetime | None:
    return session.exec(
        select(Outbox.next_attempt_at)
        .where(col(Outbox.next_attempt_at).is_not(None))
        .order_by(col(Outbox.next_attempt_at))
        .limit(1)
    ).first()


def dead(*, session: Session) -> list[Outbox]:
    return list(
        session.exec(
            select(Outbox).where(
                and_(col(Outbox.next_attempt_at).is_(None), col(Outbox.sent_at).is_(None))
            )
        ).all()
    )


def retry_dead(*, session: Session, now: datetime) -> int:
    result = session.execute(
        update(Outbox)
        .where(col(Outbox.next_attempt_at).is_(None), col(Outbox.sent_at).is_(None))
        .values(next_attempt_at=now, attempts=0)
    )
    return result.rowcount
