"""Queries on sellers' availability and their place in the rotation (`SellerStatus`).
Callers own the transaction; nothing here commits."""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.models import SellerStatus

_C = SellerStatus.__table__.c
_ALL = select(
    _C.user_id, _C.away_since, _C.away_until, _C.out_of_rotation_since, _C.turns, _C.load_offset
)


def statuses(*, session: Session, sellers: Collection[str]) -> dict[str, Row[Any]]:
    """What a decision reads of these sellers' rows (not the reason, nor when fairness
    counts from), read-only; a seller without a row is missing. Plain rows, not ORM objects:
    a decision reads a hundred of them each time, and changes one now and then (`level`,
    `end_absence`). The whole table in one statement: it holds a row per seller who was
    ever chosen or away, a few hundred at most, and a statement without a list of ids is
    compiled once."""
    wanted = set(sellers)
    return {row.user_id: row for row in session.execute(_ALL).all() if row.user_id in wanted}


def status(*, session: Session, seller: str) -> SellerStatus | None:
    return session.get(SellerStatus, seller)


def _insert_missing(session: Session, seller: str, at: datetime) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(SellerStatus.__table__)
        .values(user_id=seller, updated_at=at)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )


def _row(session: Session, seller: str, at: datetime) -> SellerStatus:
    """The seller's row, made if there is none with an insert that does nothing when another
    process made it meanwhile: two replicas placing a new seller at once both go on."""
    row = session.get(SellerStatus, seller)
    if row is None:
        _insert_missing(session, seller, at)
        row = session.get(SellerStatus, seller)
        assert row is not None
    row.updated_at = at
    return row


def _rejoined(row: SellerStatus, at: datetime) -> None:
    """Back in the rotation: fairness counts from `at`; the next choice levels the turns."""
    row.counts_from = at
    row.turns = None
    row.load_offset = None


def set_away(*, session: Session, seller: str, until: datetime | None, at: datetime) -> None:
    """Away from `at` until `until` (None: until `set_back`); an absence already running
    keeps its start and takes the new end."""
    row = _row(session, seller, at)
    if row.away_since is None:
        row.away_since = at
    row.away_until = until


def set_back(*, session: Session, seller: str, at: datetime) -> bool:
    """The absence ends at `at`; False when the seller was not away."""
    row = session.get(SellerStatus, seller)
    if row is None or row.away_since is None:
        return False
    row.away_since = row.away_until = None
    row.updated_at = at
    if row.out_of_rotation_since is None:
        _rejoined(row, at)
    return True


def take_out_of_rotation(session: Session, seller: str, reason: str, at: datetime) -> bool:
    """No new leads for `seller` until `restore_to_rotation`; False when already out (the
    first reason and time are kept)."""
    row = _row(session, seller, at)
    if row.out_of_rotation_since is not None:
        return False
    row.out_of_rotation_since = at
    row.out_of_rotation_reason = reason[:1000]
    return True


def restore_to_rotation(session: Session, seller: str, by: str, at: datetime) -> bool:
    """`by` puts the seller back in the rotation at `at`; False when they were not out.

    Who restored the seller is the caller's event to record (`bot.routing.restore`)."""
    row = session.get(SellerStatus, seller)
    if row is None or row.out_of_rotation_since is None:
        return False
    row.out_of_rotation_since = None
    row.out_of_rotation_reason = None
    row.updated_at = at
    if row.away_since is None:
        _rejoined(row, at)
    return True


def end_absence(*, session: Session, seller: str, at: datetime) -> None:
    """An absence with an end date that has passed: back as of that date."""
    row = session.get(SellerStatus, seller)
    if row is not None and row.away_until is not None and row.away_until <= at:
        back = row.away_until
        row.away_since = row.away_until = None
        row.updated_at = at
        if row.out_of_rotation_since is None:
            _rejoined(row, back)


def clear_offset(*, session: Session, seller: str) -> None:
    row = session.get(SellerStatus, seller)
    if row is not None:
        row.load_offset = None


def level(
    *, session: Session, seller: str, turns: float, load_offset: float | None, at: datetime
) -> None:
    """Place a returning (or new) seller in the rotation level with the others, unless another
    process placed them meanwhile (its place stands, with the turns counted since)."""
    _insert_missing(session, seller, at)
    session.execute(
        update(SellerStatus)
        .where(col(SellerStatus.user_id) == seller, col(SellerStatus.turns).is_(None))
        .values(
            turns=turns,
            load_offset=load_offset,
            counts_from=func.coalesce(SellerStatus.counts_from, at),
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )


def took_turn(*, session: Session, seller: str, turns: float, at: datetime) -> None:
    """Baton gave `seller` a lead worth `turns` (1/weight): added in the database, so two
    choices at once both count."""
    session.execute(
        update(SellerStatus)
        .where(col(SellerStatus.user_id) == seller)
        .values(turns=func.coalesce(SellerStatus.turns, 0.0) + turns, updated_at=at)
        .execution_options(synchronize_session=False)
    )
