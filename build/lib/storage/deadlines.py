"""The lead clocks as rows: one per clock, `next_at` says when it next needs attention."""

from datetime import datetime

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from storage.models import Breach, Deadline

# Built once: a statement made per call would be compiled (and its values coerced) each time.
_INSERT_DEADLINE = insert(Deadline.__table__)


def open_clock(
    *,
    session: Session,
    lead_id: str,
    kind: str,
    opened_at: datetime,
    due_at: datetime,
    remind_at: datetime | None,
) -> None:
    """An INSERT, not an object in the session: no caller needs the clock as an object, and a
    later query in the transaction sees it."""
    session.execute(
        _INSERT_DEADLINE,
        {
            "lead_id": lead_id,
            "kind": kind,
            "opened_at": opened_at,
            "due_at": due_at,
            "remind_at": remind_at,
            "next_at": remind_at or due_at,
            "steps_done": 0,
        },
    )


def resolve(*, session: Session, lead_id: str, kinds: tuple[str, ...], at: datetime) -> int:
    """Stop these clocks and close their breaches; the ladder reads `next_at` and stops too."""
    session.execute(
        update(Breach)
        .where(
            col(Breach.lead_id) == lead_id,
            col(Breach.kind).in_(kinds),
            col(Breach.resolved_at).is_(None),
        )
        .values(resolved_at=at)
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        update(Deadline)
        .where(
            col(Deadline.lead_id) == lead_id,
            col(Deadline.kind).in_(kinds),
            col(Deadline.resolved_at).is_(None),
        )
        .values(resolved_at=at, next_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def of_lead(*, session: Session, lead_id: str) -> list[Deadline]:
    return list(
        session.exec(
            select(Deadline).where(Deadline.lead_id == lead_id).order_by(col(Deadline.id))
        ).all()
    )


def open_clock_of(*, session: Session, lead_id: str, kind: str) -> Deadline | None:
    return session.exec(
        select(Deadline)
        .where(
            Deadline.lead_id == lead_id, Deadline.kind == kind, col(Deadline.resolved_at).is_(None)
        )
        .with_for_update()
    ).first()


def due(*, session: Session, now: datetime, limit: int) -> list[Deadline]:
    """Lock the clocks that need work now; other replicas skip them instead of waiting.

    The caller does the work and commits in the same transaction, so a crash before the
    commit leaves the clock due, and another process (or this one, restarted) takes it.
    """
    return list(
        session.exec(
            select(Deadline)
            .where(col(Deadline.next_at) <= now)
            .order_by(col(Deadline.next_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )


def earliest(*, session: Session) -> Deadline | None:
    """The clock that needs work first; served by the index on `next_at`."""
    return session.exec(
        select(Deadline)
        .where(col(Deadline.next_at).is_not(None))
        .order_by(col(Deadline.next_at))
        .limit(1)
    ).first()


def count_open(*, session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(Deadline).where(col(Deadline.next_at).is_not(None))
    ).one()
