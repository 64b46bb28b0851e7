"""Queries for erasing a person's data. Callers own the transaction; nothing here commits.

Every query that returns rows to be rewritten locks them, so an erasure and a claim, a
delivery or a second erasure of the same lead never interleave: a lead is erased whole or not
at all, and only once. Leads are locked `FOR NO KEY UPDATE` (`key_share=True`): an erasure
never changes a lead's id, so a sweep that meanwhile records an event for the lead (a foreign
key check, `FOR KEY SHARE`) goes on instead of deadlocking with it.
"""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.models import Deadline, Event, Feedback, Lead, Outbox


def _like_suffix(text: str) -> str:
    """`%@<domain>` for LIKE, with LIKE's own wildcards in the domain taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%@{escaped}"


def leads_with_email(*, session: Session, address: str, lock: bool = True) -> list[Lead]:
    """Leads not yet forgotten whose email is `address`, in any letter case.

    The database narrows by domain (stored addresses have a lower-case domain, as the intake
    normalises them); the exact comparison is Python's `casefold`, because SQLite's `lower()`
    leaves non-ASCII letters alone and a missed `Jürgen@…` would be a failed erasure.
    """
    domain = address.rpartition("@")[2].strip().casefold()
    if not domain:
        return []
    query = select(Lead).where(
        col(Lead.forgotten_at).is_(None),
        func.lower(Lead.email).like(_like_suffix(domain), escape="\\"),
    )
    if lock:
        query = query.with_for_update(key_share=True)
    wanted = address.strip().casefold()
    return [lead for lead in session.exec(query).all() if lead.email.casefold() == wanted]


def received_before(*, session: Session, before: datetime, limit: int) -> list[Lead]:
    """Leads past their retention, oldest first; rows another process is erasing are skipped."""
    return list(
        session.exec(
            select(Lead)
            .where(col(Lead.forgotten_at).is_(None), col(Lead.received_at) < before)
            .order_by(col(Lead.received_at))
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        ).all()
    )


def events_of(*, session: Session, lead_id: str) -> list[Event]:
    return list(session.exec(select(Event).where(Event.lead_id == lead_id)).all())


def feedback_of(*, session: Session, lead_id: str) -> list[Feedback]:
    return list(session.exec(select(Feedback).where(Feedback.lead_id == lead_id)).all())


def clocks_of(*, session: Session, lead_id: str) -> list[Deadline]:
    """Locked, so a sweep that is advancing one of them finishes before the erasure stops it."""
    return list(
        session.exec(select(Deadline).where(Deadline.lead_id == lead_id).with_for_update()).all()
    )


def outbox_of(*, session: Session, lead_id: str) -> list[Outbox]:
    """Locked, so a courier taking a row right now either has it already or never gets it."""
    return list(
        session.exec(
            select(Outbox)
            .where(Outbox.lead_id == lead_id)
            .order_by(col(Outbox.id))
            .with_for_update()
        ).all()
    )
