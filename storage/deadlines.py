"""The lead clocks as rows: one per clock, `next_at` says when it next needs attention."""

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import Deadline


def open_clock(
    *,
    session: Session,
    lead_id: str,
    kind: str,
    opened_at: datetime,
    due_at: datetime,
    remind_at: datetime | None,
) -> Deadline:
    deadline = Deadline(
        lead_id=lead_id,
        kind=kind,
        opened_at=opened_at,
        due_at=due_at,
        remind_at=remind_at,
        next_at=remind_at or due_at,
    )
    session.add(deadline)
    return deadline


def resolve(*, session: Session, lead_id: str, kinds: tuple[str, ...], at: datetime) -> int:
    """Stop these clocks; the escalation ladder reads `next_at` and so stops with them."""
    result = session.execute(
        update(Deadline)
        .where(
            col(Deadline.lead_id) == lead_id,
            col(Deadline.kind).in_(kinds),
            col(Deadline.resolved_at).is_(None),
        )
        .values(resolved_at=at, next_at=None, taken_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def of_lead(*, session: Session, lead_id: str) -> list[Deadline]:
    return list(
        session.exec(
            select(Deadline).where(Deadline.lead_id == lead_id).order_by(col(Deadline.id))
        ).all()
    )
