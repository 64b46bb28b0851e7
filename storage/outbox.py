"""The outbox: messages stored with the change that causes them, taken by one worker each."""

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import insert_rows
from storage.models import Outbox

# Built once: a statement made per call would be compiled (and its values coerced) each time;
# every change of a lead queues rows, as an INSERT: no caller needs them as objects.
_INSERT_OUTBOX = insert(Outbox.__table__)


def enqueue_all(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue `row()`s in one statement, in list order, which is the order they go out in
    (among rows of one priority)."""
    insert_rows(session, _INSERT_OUTBOX, rows)


def row(
    *,
    kind: str,
    at: datetime,
    lead_id: str | None = None,
    recipient: str | None = None,
    payload: dict[str, Any] | None = None,
    priority: int = 0,
) -> dict[str, Any]:
    """A message to queue, due at once; of the rows due, those of the smallest `priority`
    go first."""
    return {
        "kind": kind,
        "lead_id": lead_id,
        "recipient": recipient,
        "priority": priority,
        "payload": payload or {},
        "created_at": at,
        "next_attempt_at": at,
        "attempts": 0,
    }


def take(
    *,
    session: Session,
    now: datetime,
    lease: timedelta,
    limit: int,
    in_order: tuple[str, ...] = (),
    hold: Callable[[list[Outbox]], dict[int, datetime]] | None = None,
) -> list[Outbox]:
    """Lease due rows to this worker, most urgent first (smallest `priority`, then the order
    queued); rows of the `in_order` kinds go out one at a time per lead, in the order queued.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas take disjoint rows; on SQLite the
    write transaction is already exclusive. A lease that runs out (a crash between taking
    and sending) makes the row due again, so nothing is lost.

    `hold(rows)` may name a later time for some of the due rows, by id (Slack's pace for their
    channel, a Retry-After): such a row is not leased but made due then, in this same
    transaction and without counting an attempt. A slow channel's rows thereby leave the head
    of the queue, and the rows behind them, for other channels, are taken at once.
    """
    query = _due(in_order)
    rows = list(session.exec(query, params={"now": now, "limit": limit}).all())
    later = hold(rows) if hold and rows else {}
    taken = []
    for row in rows:
        until = later.get(row.id)
        if until is not None and until > now:
            row.next_attempt_at = until
            continue
        row.taken_until = now + lease
        row.attempts += 1
        taken.append(row)
    session.flush()
    return taken


@cache
def _due(in_order: tuple[str, ...]) -> Select:
    """The query for due rows, built once: the courier asks it many times a second."""
    now = bindparam("now")
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
    return (
        select(Outbox)
        .where(
            col(Outbox.next_attempt_at) <= now,
            or_(col(Outbox.taken_until).is_(None), col(Outbox.taken_until) < now),
            or_(col(Outbox.lead_id).is_(None), col(Outbox.kind).not_in(in_order), ~blocked),
        )
        # Most urgent first, then in the order queued, which is the order slots are handed out
        # in. `id + 0`, not `id`: ordered by the primary key itself, SQLite walks the whole
        # table in key order, sent rows included, while it holds the write lock; this way
        # both databases find the due rows by the index on `next_attempt_at` and sort those.
        .order_by(col(Outbox.priority), col(Outbox.id) + 0)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=Outbox)
    )


def delivered(
    *,
    session: Session,
    row_id: int,
    at: datetime,
    platform: str,
    message_id: str | None,
    conversation: str | None = None,
) -> None:
    """Record what the platform accepted: the message's id and the conversation it landed in
    (a DM's own conversation, not the person's id), which a later update of it needs."""
    values = {
        "sent_at": at,
        "platform": platform,
        "conversation": conversation,
        "message_id": message_id,
        "next_attempt_at": None,
        "taken_until": None,
        "error": None,
    }
    session.execute(update(Outbox).where(col(Outbox.id) == row_id).values(**values))


def failed(
    *,
    session: Session,
    row_id: int,
    error: str,
    retry_at: datetime | None,
    lease: datetime | None = None,
) -> None:
    """Schedule another attempt, or with `retry_at=None` park the row as dead.

    With `lease` (the `taken_until` this worker was given) nothing changes if the lease ran out
    and another worker took the row meanwhile: its lease is not ours to end.
    """
    query = update(Outbox).where(col(Outbox.id) == row_id)
    if lease is not None:
        query = query.where(col(Outbox.taken_until) == lease)
    session.execute(query.values(error=error[:1000], next_attempt_at=retry_at, taken_until=None))


def defer(
    *,
    session: Session,
    row_id: int,
    until: datetime,
    lease: datetime | None,
    error: str | None = None,
) -> None:
    """Give a taken row back, due at `until`; it was not sent, so the attempt does not count.

    For a 429 or a slot in a busy channel: Slack asked us to wait, the message is not at fault,
    and waiting must never walk it towards the dead letters.
    """
    query = update(Outbox).where(col(Outbox.id) == row_id, col(Outbox.sent_at).is_(None))
    if lease is not None:
        query = query.where(col(Outbox.taken_until) == lease)
    values: dict[str, Any] = {
        "next_attempt_at": until,
        "taken_until": None,
        "attempts": case((col(Outbox.attempts) > 0, col(Outbox.attempts) - 1), else_=0),
    }
    if error is not None:
        values["error"] = error[:1000]
    session.execute(query.values(**values))


def wake_next(*, session: Session, parked: list[datetime], after: int, now: datetime) -> int | None:
    """Make due now the next row after row `after` (past the last, the first again) of those
    waiting until one of the `parked` times: the one to try whether Slack answers again.

    In turn, so that a row Slack fails on by itself does not stand in front of the others.
    Returns its id, or None when no row is waiting."""
    if not parked:
        return None
    waiting = (
        select(Outbox.id)
        .where(*_parked_at(parked), col(Outbox.sent_at).is_(None))
        .order_by(col(Outbox.id) + 0)  # found by the index on `next_attempt_at`, as in take()
        .limit(1)
    )
    row_id = session.exec(waiting.where(col(Outbox.id) + 0 > after)).first()
    if row_id is None:
        row_id = session.exec(waiting).first()
    if row_id is None:
        return None
    session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row_id)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return row_id


def _parked_at(parked: list[datetime]) -> tuple[ColumnElement[bool], ...]:
    """Rows waiting until exactly one of the `parked` times. The range besides the list leads
    SQLite to the index even when most rows have no `next_attempt_at` (sent ones)."""
    return (
        col(Outbox.next_attempt_at).in_(parked),
        col(Outbox.next_attempt_at).between(min(parked), max(parked)),
    )


def resume(*, session: Session, parked: list[datetime], now: datetime) -> int:
    """Every row waiting until one of the `parked` times is due now: Slack answers again."""
    if not parked:
        return 0
    result = session.execute(
        update(Outbox)
        .where(*_parked_at(parked), col(Outbox.sent_at).is_(None))
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def count_pending(*, session: Session) -> int:
    """Messages still to deliver: queued, waiting for their slot or retry, or being sent now."""
    return session.exec(
        select(func.count()).select_from(Outbox).where(col(Outbox.next_attempt_at).is_not(None))
    ).one()


def count_dead(*, session: Session) -> int:
    """Messages given up on, waiting for `baton outbox retry`."""
    return session.exec(
        select(func.count())
        .select_from(Outbox)
        .where(col(Outbox.next_attempt_at).is_(None), col(Outbox.sent_at).is_(None))
    ).one()


def dead(*, session: Session) -> list[Outbox]:
    return list(
        session.exec(
            select(Outbox).where(
                and_(col(Outbox.next_attempt_at).is_(None), col(Outbox.sent_at).is_(None))
            )
        ).all()
    )


def retry_dead(*, session: Session, now: datetime) -> int:
    """Queue every dead message again, with a fresh count of attempts."""
    result = session.execute(
        update(Outbox)
        .where(col(Outbox.next_attempt_at).is_(None), col(Outbox.sent_at).is_(None))
        .values(next_attempt_at=now, attempts=0)
    )
    return result.rowcount


def remember(*, session: Session, row_id: int, key: str, value: Any) -> None:
    """Keep `value` under `key` in a row's payload, for the row's next attempt: what a
    platform gave back halfway through delivering it (an uploaded file's id)."""
    payload = session.exec(select(Outbox.payload).where(col(Outbox.id) == row_id)).one()
    changed = {**(payload or {}), key: value}
    session.execute(update(Outbox).where(col(Outbox.id) == row_id).values(payload=changed))
