"""Queries on leads and their history. Callers own the transaction; nothing here commits."""

from collections.abc import Collection, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Update,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session, SQLModel, col, select

from storage.db import connection, insert_rows
from storage.models import Deadline, Event, Feedback, Lead, Person, SellerStatus, external_key

# Built once: a statement made per call would be compiled (and its values coerced) each time.
_INSERT_EVENT = insert(Event.__table__)
_INSERT_LEAD = insert(Lead.__table__)
_LEAD_MAPPER = inspect(Lead)
T = TypeVar("T", bound=SQLModel)


def get(*, session: Session, lead_id: str) -> Lead | None:
    return session.get(Lead, lead_id)


def get_all(*, session: Session, lead_ids: Collection[str]) -> list[Lead]:
    """Load leads into the session in one query; `get` then finds them without another."""
    if not lead_ids:
        return []
    return list(session.exec(select(Lead).where(col(Lead.id).in_(lead_ids))).all())


def insert_all(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert leads (their column values, `id` included) in one statement: an ORM object per
    lead costs several times its row, which a bulk import of thousands would feel."""
    if rows:
        session.execute(_INSERT_LEAD, rows)


def as_inserted(row: dict[str, Any]) -> Lead:
    """A lead from the values `insert_all` was given: it reads like any lead, belongs to no
    session, and costs a fraction of an ORM object."""
    return detached(Lead, row)


def by_external_id(*, session: Session, external_id: str) -> Lead | None:
    """Found by the indexed key; the id itself is compared too, so only the same id matches."""
    return session.exec(
        select(Lead).where(
            Lead.external_key == external_key(external_id), Lead.external_id == external_id
        )
    ).first()


# A lead in one of these stages is over: the same person coming again is a new lead.
CLOSED = ("rejected", "won", "lost")


def known_external_ids(*, session: Session, external_ids: Collection[str]) -> set[str]:
    """Which of these `external_id`s a lead already has, in one query (the unique index)."""
    if not external_ids:
        return set()
    found = session.execute(
        select(Lead.external_id).where(col(Lead.external_id).in_(external_ids))
    ).scalars()
    return {external_id for external_id in found if external_id is not None}


def open_by_email(*, session: Session, emails: Collection[str]) -> list[tuple[str, str, str]]:
    """(email, company, id) of the open leads (not closed, not forgotten) whose email may be
    one of these in another letter case, in one query through the index on `lower(email)`.

    The database lowers ASCII only (SQLite) or all of Unicode (PostgreSQL, by its locale), so
    each email is asked for both ways and the caller compares what comes back."""
    if not emails:
        return []
    spellings = {spelling for email in emails for spelling in (email.lower(), _ascii_lower(email))}
    rows = session.execute(
        select(Lead.email, Lead.company, Lead.id).where(
            func.lower(Lead.email).in_(spellings),
            col(Lead.stage).not_in(CLOSED),
            col(Lead.forgotten_at).is_(None),
        )
    ).all()
    return [(email, company, lead_id) for email, company, lead_id in rows]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def record(
    *,
    session: Session,
    lead_id: str | None,
    at: datetime,
    actor: str,
    kind: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one event; every state change of a lead writes exactly one in its transaction.

    An INSERT rather than an object in the session, which would cost more than the row."""
    insert_rows(
        session, _INSERT_EVENT, [event(lead_id=lead_id, at=at, actor=actor, kind=kind, data=data)]
    )


def record_all(*, session: Session, events: list[dict[str, Any]]) -> None:
    """Append `event()`s in one statement."""
    insert_rows(session, _INSERT_EVENT, events)


def event(
    *, lead_id: str | None, at: datetime, actor: str, kind: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"lead_id": lead_id, "at": at, "actor": actor, "kind": kind, "data": data or {}}


OPEN = ("claimed", "contacted")
"""The stages of a lead its owner still works on: what `routing.max_open` counts."""
_LEADS = Lead.__table__
_HELD = _LEADS.alias("held")
_STATUS = SellerStatus.__table__


def _claiming(lead: ColumnElement[bool], user: ColumnElement[Any]) -> Update:
    """A claim as one statement: the leads `lead` picks, unowned, handed over and not erased,
    owned from now on by `user`, when that seller is in the rotation."""
    out_of_rotation = (
        select(_STATUS.c.user_id)
        .where(_STATUS.c.user_id == user, _STATUS.c.out_of_rotation_since.is_not(None))
        .exists()
    )
    return (
        update(_LEADS)
        .where(
            lead,
            _LEADS.c.owner.is_(None),
            _LEADS.c.stage == "handed_over",
            _LEADS.c.forgotten_at.is_(None),
            ~out_of_rotation,
        )
        .values(owner=user, stage="claimed", claimed_at=bindparam("at"))
        .returning(*_LEADS.c)
    )


_CLAIM = _claiming(_LEADS.c.id == bindparam("lead_id"), bindparam("user"))
_CLAIM_CAPPED = _CLAIM.where(
    select(func.count())
    .select_from(_HELD)
    .where(_HELD.c.stage.in_(OPEN), _HELD.c.owner == bindparam("user"))
    .scalar_subquery()
    < bindparam("cap")
)
"""Built once, with their values as parameters: a claim answers a click, and building and
coercing the statement each time would cost more than running it."""
_SELLER_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('baton.claim'), hashtext(:user))")
"""A seller's capped claims one at a time on PostgreSQL: under READ COMMITTED two at once
would each count the other's lead as unowned and pass `routing.max_open`; the count, a
statement after the lock, sees what the first committed. SQLite has one writer at a time."""


def claim(
    *, session: Session, lead_id: str, user: str, at: datetime, cap: int | None = None
) -> Lead | None:
    """Compare and set: only the first of many simultaneous claims finds the lead unowned, and
    only a seller in the rotation, holding fewer than `cap` open leads (when there is a cap),
    claims. The lead as it now is (not an object of the session), or None: one statement, as
    the answer to a click waits for it."""
    on = connection(session)
    values: dict[str, Any] = {"lead_id": lead_id, "user": user, "at": at}
    if cap is not None:
        values["cap"] = cap
        if on.dialect.name == "postgresql":
            on.execute(_SELLER_LOCK, {"user": user})
    row = on.execute(_CLAIM if cap is None else _CLAIM_CAPPED, values).first()
    return None if row is None else as_inserted(dict(row._mapping))


@cache
def _claiming_together(count: int) -> Update:
    """`_CLAIM` for `count` leads at once, each for its own seller (a `CASE` on the lead),
    built once for each count: the claims of a batch are one statement, not one each."""
    ids = [bindparam(f"lead_{n}", type_=_LEADS.c.id.type) for n in range(count)]
    users = [bindparam(f"user_{n}", type_=_LEADS.c.owner.type) for n in range(count)]
    owner = case(*((_LEADS.c.id == lead, user) for lead, user in zip(ids, users, strict=True)))
    return _claiming(_LEADS.c.id.in_(ids), owner)


def claim_all(*, session: Session, owners: Mapping[str, str], at: datetime) -> dict[str, Lead]:
    """`claim` of several leads in one statement, each lead (the key) for its seller (the
    value), with no cap: the leads claimed, as they now are, by id. A lead left out was not
    claimable, or its seller is out of the rotation."""
    if not owners:
        return {}
    values: dict[str, Any] = {"at": at}
    for n, (lead_id, user) in enumerate(owners.items()):
        values[f"lead_{n}"], values[f"user_{n}"] = lead_id, user
    rows = connection(session).execute(_claiming_together(len(owners)), values)
    return {row.id: as_inserted(dict(row._mapping)) for row in rows}


_HOLDS = (
    select(func.count())
    .select_from(_LEADS)
    .where(_LEADS.c.stage.in_(OPEN), _LEADS.c.owner == bindparam("owner"))
)


def held(*, session: Session, owner: str) -> int:
    """How many open leads `owner` holds (from the index on stage and owner)."""
    return int(session.execute(_HOLDS, {"owner": owner}).scalar_one())


def set_owner(
    *,
    session: Session,
    lead_id: str,
    owner: str | None,
    stage: str,
    expected_owner: str | None,
    at: datetime | None = None,
) -> bool:
    """Move ownership only if nobody changed it since it was read (assign, release)."""
    condition = (
        col(Lead.owner).is_(None) if expected_owner is None else Lead.owner == expected_owner
    )
    values: dict[str, Any] = {"owner": owner, "stage": stage}
    if at is not None:
        values["claimed_at"] = at
    result = session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_contacted(*, session: Session, lead_id: str, owner: str | None, at: datetime) -> bool:
    result = session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id, Lead.owner == owner, Lead.stage == "claimed")
        .values(stage="contacted", contacted_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def move(*, session: Session, lead_id: str, from_stage: str, to_stage: str, **values: Any) -> bool:
    """Change stage only if nobody moved the lead since it was read."""
    result = session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id, Lead.stage == from_stage)
        .values(stage=to_stage, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def due_for_recheck(*, session: Session, today: date) -> list[Lead]:
    return list(
        session.exec(
            select(Lead)
            .where(Lead.stage == "nurture", col(Lead.recheck_on) <= today)
            .with_for_update(skip_locked=True)
        ).all()
    )


_OPEN_COUNTS = (
    select(Lead.owner, func.count())
    .where(col(Lead.stage).in_(OPEN), col(Lead.owner).is_not(None))
    .group_by(Lead.owner)
)


def open_counts(*, session: Session) -> dict[str, int]:
    """Open leads per owner, to spread new work over the team."""
    rows = session.execute(_OPEN_COUNTS).all()
    return {owner: count for owner, count in rows}


def cards_of(
    *, session: Session, lead_ids: Collection[str]
) -> dict[str, tuple[str | None, str | None]]:
    """Where each lead's card is (conversation, message id), both None before it is posted;
    a lead that
    does not exist is missing. Two columns, not the leads, in one query for a whole batch:
    the courier asks this of every message it paces."""
    if not lead_ids:
        return {}
    rows = session.execute(
        select(Lead.id, Lead.card_conversation, Lead.card_message_id).where(
            col(Lead.id).in_(lead_ids)
        )
    ).all()
    return {lead_id: (conversation, message) for lead_id, conversation, message in rows}


def set_card(
    *, session: Session, lead_id: str, platform: str, conversation: str, message_id: str
) -> None:
    session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id)
        .values(card_platform=platform, card_conversation=conversation, card_message_id=message_id)
    )


def card_shown(*, session: Session, lead_id: str, at: datetime) -> bool:
    """Compare and set: only the first report that the card is shown records when."""
    result = session.execute(
        update(Lead)
        .where(col(Lead.id) == lead_id, col(Lead.card_at).is_(None))
        .values(card_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def history(*, session: Session, lead_id: str) -> list[Event]:
    return list(
        session.exec(select(Event).where(Event.lead_id == lead_id).order_by(col(Event.id))).all()
    )


def sync_people(*, session: Session, roles: list[tuple[str, str]]) -> None:
    """Make the person table say exactly what the agreement says, for reports and joins.

    Replicas starting at once on a new database each do this: a row another added meanwhile
    is left as it is (an insert that does nothing on the key), one another removed is not
    missed (a delete by key, not of a loaded object), so neither fails its start."""
    wanted = set(roles)
    present = {(p.user_id, p.role) for p in session.exec(select(Person)).all()}
    for user_id, role in present - wanted:
        session.execute(
            delete(Person).where(col(Person.user_id) == user_id, col(Person.role) == role)
        )
    missing = wanted - present
    if missing:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(Person.__table__)
            .values([{"user_id": user_id, "role": role} for user_id, role in sorted(missing)])
            .on_conflict_do_nothing(index_elements=["user_id", "role"])
        )


_FEEDBACK = Feedback.__table__
_LATEST_FEEDBACK = (
    select(*_FEEDBACK.c)
    .where(_FEEDBACK.c.lead_id == bindparam("lead_id"))
    .order_by(_FEEDBACK.c.id.desc())
    .limit(1)
)


def latest_feedback(*, session: Session, lead_id: str) -> Feedback | None:
    """The lead's latest feedback, read as a row (a lead's card shows it; nothing changes it)."""
    row = session.execute(_LATEST_FEEDBACK, {"lead_id": lead_id}).first()
    return None if row is None else detached(Feedback, dict(row._mapping))


def detached(model: type[T], row: dict[str, Any]) -> T:
    """`model` from a row's values, outside any session: it reads like one loaded by the ORM
    at a fraction of the cost, and is never stale in a session that changes rows by
    statements."""
    if not _LEAD_MAPPER.configured:  # its fields read through the mapper
        configure_mappers()
    return model.model_construct(**row)


def open_leads(
    *, session: Session, stages: tuple[str, ...], owner: str | None = None, limit: int = 200
) -> list[Lead]:
    query = select(Lead).where(col(Lead.stage).in_(stages))
    if owner is not None:
        query = query.where(Lead.owner == owner)
    return list(session.exec(query.order_by(col(Lead.received_at)).limit(limit)).all())


def overdue_leads(*, session: Session, limit: int = 200) -> list[Lead]:
    """Leads with a clock that passed its deadline and is still running."""
    breached = (
        select(Deadline.lead_id)
        .where(col(Deadline.breached_at).is_not(None), col(Deadline.resolved_at).is_(None))
        .distinct()
    )
    return list(
        session.exec(
            select(Lead)
            .where(col(Lead.id).in_(breached))
            .order_by(col(Lead.received_at))
            .limit(limit)
        ).all()
    )


def received_since(*, session: Session, since: datetime, limit: int = 500) -> list[Lead]:
    return list(
        session.exec(
            select(Lead)
            .where(col(Lead.received_at) >= since)
            .order_by(col(Lead.received_at).desc())
            .limit(limit)
        ).all()
    )


def open_clocks(*, session: Session, lead_ids: list[str]) -> list[Deadline]:
    if not lead_ids:
        return []
    return list(
        session.exec(
            select(Deadline).where(
                col(Deadline.lead_id).in_(lead_ids), col(Deadline.resolved_at).is_(None)
            )
        ).all()
    )


def latest_event(*, session: Session, lead_id: str, kinds: Collection[str]) -> Event | None:
    """The lead's most recent event of one of these kinds."""
    return session.exec(
        select(Event)
        .where(Event.lead_id == lead_id, col(Event.kind).in_(kinds))
        .order_by(col(Event.id).desc())
        .limit(1)
    ).first()
