"""The lead clocks as rows: one per clock, `next_at` says when it next needs attention."""

from datetime import datetime
from functools import cache

from sqlalchemy import (
    ColumnElement,
    Update,
    bindparam,
    func,
    insert,
    literal_column,
    true,
    update,
)
from sqlmodel import Session, col, select

from storage import leads
from storage.db import connection
from storage.models import Breach, Deadline, Feedback

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


_BREACHES = Breach.__table__
_CLOCKS = Deadline.__table__
_FEEDBACK = Feedback.__table__
_OF_LEAD = select(*_CLOCKS.c).where(_CLOCKS.c.lead_id == bindparam("lead_id")).subquery("clock")
_LATEST = (
    select(*_FEEDBACK.c)
    .where(_FEEDBACK.c.lead_id == bindparam("lead_id"))
    .order_by(_FEEDBACK.c.id.desc())
    .limit(1)
    .subquery("latest")
)
_ONE = select(literal_column("1").label("one")).subquery("one")
_CARD = (
    select(*_OF_LEAD.c, *_LATEST.c)
    .select_from(_ONE.outerjoin(_OF_LEAD, true()).outerjoin(_LATEST, true()))
    .order_by(_OF_LEAD.c.id)
)
"""Every clock of a lead, each with its latest feedback (or a row of the feedback alone, or
of nothing): a row for nothing keeps the feedback of a lead without clocks."""
_CLOCK_NAMES = [column.name for column in _OF_LEAD.c]
_CLOCK_WIDTH = len(_CLOCK_NAMES)
_FEEDBACK_NAMES = [column.name for column in _LATEST.c]


def _stopping(lead: ColumnElement[bool], kinds: tuple[str, ...]) -> Update:
    """The open clocks of these kinds of the leads `lead` picks, stopped; each stopped
    clock's lead, and whether it was ever breached or extended."""
    return (
        update(_CLOCKS)
        .where(lead, _CLOCKS.c.kind.in_(kinds), _CLOCKS.c.resolved_at.is_(None))
        .values(resolved_at=bindparam("resolved"), next_at=None)
        .returning(_CLOCKS.c.lead_id, _CLOCKS.c.breached_at, _CLOCKS.c.extended_at)
    )


@cache
def _resolving(kinds: tuple[str, ...]) -> tuple[Update, Update]:
    """The statements that resolve these kinds of clock, built once for each set of kinds: a
    claim resolves clocks on the way to its answer."""
    clocks = _stopping(_CLOCKS.c.lead_id == bindparam("of_lead"), kinds)
    breaches = (
        update(_BREACHES)
        .where(
            _BREACHES.c.lead_id == bindparam("of_lead"),
            _BREACHES.c.kind.in_(kinds),
            _BREACHES.c.resolved_at.is_(None),
        )
        .values(resolved_at=bindparam("resolved"))
    )
    return clocks, breaches


def resolve(*, session: Session, lead_id: str, kinds: tuple[str, ...], at: datetime) -> int:
    """Stop these clocks and close their breaches; the ladder reads `next_at` and stops too.
    How many clocks stopped.

    A breach is recorded only with its clock's `breached_at`, and is closed only with its
    clock; an extension clears `breached_at` but marks `extended_at`. So when none of the
    clocks stopped here was ever breached or extended, no open breach names them, and the
    breaches are not looked at: a claim of a lead on time does one statement, not two."""
    clocks, breaches = _resolving(tuple(kinds))
    values = {"of_lead": lead_id, "resolved": at}
    on = connection(session)
    stopped = on.execute(clocks, values).all()
    if any(breached is not None or extended is not None for _, breached, extended in stopped):
        on.execute(breaches, values)
    return len(stopped)


@cache
def _resolving_all(kinds: tuple[str, ...], count: int) -> Update:
    """`_resolving`'s clocks of `count` leads at once: the claims of a batch resolve theirs
    in one statement."""
    ids = [bindparam(f"lead_{n}", type_=_CLOCKS.c.lead_id.type) for n in range(count)]
    return _stopping(_CLOCKS.c.lead_id.in_(ids), kinds)


def resolve_all(
    *, session: Session, lead_ids: list[str], kinds: tuple[str, ...], at: datetime
) -> None:
    """`resolve` for several leads in one statement; the breaches of a clock that was ever
    breached or extended are closed lead by lead, as `resolve` closes them."""
    if not lead_ids:
        return
    on = connection(session)
    values: dict[str, object] = {"resolved": at}
    values.update({f"lead_{n}": lead_id for n, lead_id in enumerate(lead_ids)})
    stopped = on.execute(_resolving_all(tuple(kinds), len(lead_ids)), values).all()
    _, breaches = _resolving(tuple(kinds))
    for lead_id in dict.fromkeys(
        lead_id
        for lead_id, breached, extended in stopped
        if breached is not None or extended is not None
    ):
        on.execute(breaches, {"of_lead": lead_id, "resolved": at})


def of_lead(*, session: Session, lead_id: str) -> list[Deadline]:
    return list(
        session.exec(
            select(Deadline).where(Deadline.lead_id == lead_id).order_by(col(Deadline.id))
        ).all()
    )


def as_they_stand(*, session: Session, lead_id: str) -> tuple[list[Deadline], Feedback | None]:
    """The lead's clocks and its latest feedback read as rows, outside the session
    (`leads.detached`): what its card shows right after statements changed them, with no
    object of the session to refresh. One query: the answer to a click waits for it."""
    rows = connection(session).execute(_CARD, {"lead_id": lead_id}).all()
    clocks = [
        leads.detached(Deadline, dict(zip(_CLOCK_NAMES, row[:_CLOCK_WIDTH], strict=True)))
        for row in rows
        if row[0] is not None
    ]
    latest = rows[0][_CLOCK_WIDTH:] if rows else None
    if latest is None or latest[0] is None:
        return clocks, None
    return clocks, leads.detached(Feedback, dict(zip(_FEEDBACK_NAMES, latest, strict=True)))


_CLOCKS_OF = (
    select(*_CLOCKS.c)
    .where(_CLOCKS.c.lead_id.in_(bindparam("lead_ids", expanding=True)))
    .order_by(_CLOCKS.c.id)
)
_FEEDBACK_OF = (
    select(*_FEEDBACK.c)
    .where(_FEEDBACK.c.lead_id.in_(bindparam("lead_ids", expanding=True)))
    .order_by(_FEEDBACK.c.id.desc())
)


def as_they_stand_all(
    *, session: Session, lead_ids: list[str]
) -> dict[str, tuple[list[Deadline], Feedback | None]]:
    """`as_they_stand` of several leads in two queries, however many leads: claims decided
    together answer with their cards at once."""
    if not lead_ids:
        return {}
    on = connection(session)
    values = {"lead_ids": list(dict.fromkeys(lead_ids))}
    clocks: dict[str, list[Deadline]] = {lead_id: [] for lead_id in values["lead_ids"]}
    for row in on.execute(_CLOCKS_OF, values):
        clocks[row.lead_id].append(leads.detached(Deadline, dict(row._mapping)))
    latest: dict[str, Feedback] = {}
    for row in on.execute(_FEEDBACK_OF, values):
        if row.lead_id not in latest:
            latest[row.lead_id] = leads.detached(Feedback, dict(row._mapping))
    return {lead_id: (of_lead, latest.get(lead_id)) for lead_id, of_lead in clocks.items()}


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
