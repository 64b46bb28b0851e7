"""The scorecard's queries: every figure counted, ranked and measured in the database.

Leads are taken as a cohort: those handed over in the period (`received_at`, which the
report index leads with). Waits are measured in business time in SQL too: the domain hands
over a table of UTC days, each with the business seconds before it and its open spans, and a
timestamp's business clock is that day's seconds before it plus the part of its spans
already gone. A wait is the difference of two such clocks.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    Table,
    case,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlmodel import Session, col

from storage.models import Breach, Deadline, Feedback, Lead

DAY_SECONDS = 86400


class epoch(FunctionElement[float]):  # named as the SQL function it stands for
    """Seconds since 1970-01-01 UTC of a stored timestamp."""

    type = Float()
    inherit_cache = True


class utc_day(FunctionElement[int]):
    """Whole days since 1970-01-01 UTC of a stored timestamp: the key into the day table."""

    type = Integer()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UtcDateTime as naive UTC text, which julianday() reads.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"extract(epoch from {compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "sqlite")
def _day_sqlite(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"cast(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5 as integer)"


@compiles(utc_day, "postgresql")
def _day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"cast(floor(extract(epoch from {inner}) / {DAY_SECONDS}) as integer)"


@dataclass(frozen=True)
class BusinessDay:
    """One UTC day of the calendar: business seconds before it, and up to two open spans
    (epoch seconds; a local business day may cross UTC midnight)."""

    number: int
    before: float
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Spread:
    """How long a group of waits took, in seconds: how many, the median and the 95th
    percentile (nearest rank)."""

    group: str | None
    count: int
    median: float
    p95: float


def _clock(at: Any, day: Any) -> ColumnElement[float]:
    """Business seconds on the day table's clock at the timestamp `at`."""
    seconds = epoch(at)

    def gone(opening: Any, closing: Any) -> ColumnElement[float]:
        return case(
            (seconds <= opening, literal(0.0)),
            (seconds >= closing, closing - opening),
            else_=seconds - opening,
        )

    return day.c.base + gone(day.c.o1, day.c.c1) + gone(day.c.o2, day.c.c2)


_DAYS = Table(
    "business_day",
    MetaData(),
    Column("n", Integer, primary_key=True),
    Column("base", Float, nullable=False),
    Column("o1", Float, nullable=False),
    Column("c1", Float, nullable=False),
    Column("o2", Float, nullable=False),
    Column("c2", Float, nullable=False),
    prefixes=["TEMPORARY"],
)
"""A temporary table of the connection: keyed by day, so each wait joins it by an index on
both backends (SQLite cannot name the columns of a VALUES list in a join)."""


@contextmanager
def business_clock(*, session: Session, days: Sequence[BusinessDay] | None) -> Iterator[Any]:
    """The day table for `spreads`, present while the block runs; None for wall-clock time."""
    if days is None:
        yield None
        return
    connection = session.connection()
    _DAYS.drop(connection, checkfirst=True)
    _DAYS.create(connection)
    rows = []
    for day in days:
        spans = [*day.spans, (0.0, 0.0), (0.0, 0.0)][:2]
        rows.append(
            {
                "n": day.number,
                "base": day.before,
                "o1": spans[0][0],
                "c1": spans[0][1],
                "o2": spans[1][0],
                "c2": spans[1][1],
            }
        )
    if rows:
        connection.execute(insert(_DAYS), rows)
    try:
        yield _DAYS
    finally:
        _DAYS.drop(connection)


def _cohort(since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [col(Lead.received_at) >= since, col(Lead.received_at) < until]


CLAIM, CONTACT, CARD = "claim", "contact", "card"
"""The waits `spreads` measures: card to claim and card to first contact (business time),
hand-over to card (wall clock)."""


def spreads(*, session: Session, since: datetime, until: datetime, clock: Any) -> list[Spread]:
    """Median and 95th percentile of each wait of the cohort's leads, for all and per owner,
    in one pass over the leads: each lead's waits once, then ranked per (wait, owner).

    `clock` is the `business_clock` table, or None to measure claims and contacts by the
    wall clock too. A `Spread`'s group is `"<wait>"` or `"<wait>:<owner>"`."""
    if clock is None:
        card, claimed, contacted = (
            epoch(Lead.card_at),
            epoch(Lead.claimed_at),
            epoch(Lead.contacted_at),
        )
        base = select(Lead).where(*_cohort(since, until), col(Lead.card_at).is_not(None))
        joined = base.with_only_columns(
            col(Lead.owner).label("owner"),
            (claimed - card).label(CLAIM),
            (contacted - card).label(CONTACT),
            (card - epoch(Lead.received_at)).label(CARD),
        )
    else:
        at_card, at_claim, at_contact = (
            clock.alias(f"d_{name}") for name in (CARD, CLAIM, CONTACT)
        )
        card = _clock(Lead.card_at, at_card)
        joined = (
            select(
                col(Lead.owner).label("owner"),
                (_clock(Lead.claimed_at, at_claim) - card).label(CLAIM),
                (_clock(Lead.contacted_at, at_contact) - card).label(CONTACT),
                (epoch(Lead.card_at) - epoch(Lead.received_at)).label(CARD),
            )
            .select_from(Lead)
            .join(at_card, at_card.c.n == utc_day(Lead.card_at))
            .outerjoin(at_claim, at_claim.c.n == utc_day(Lead.claimed_at))
            .outerjoin(at_contact, at_contact.c.n == utc_day(Lead.contacted_at))
            .where(*_cohort(since, until), col(Lead.card_at).is_not(None))
        )
    per_lead = joined.cte("per_lead")
    parts = []
    for wait in (CLAIM, CONTACT, CARD):
        value = per_lead.c[wait]
        parts.append(
            select(literal(wait).label("grp"), value.label("secs")).where(value.is_not(None))
        )
        if wait != CARD:
            parts.append(
                select(
                    (literal(wait + ":") + per_lead.c.owner).label("grp"), value.label("secs")
                ).where(value.is_not(None), per_lead.c.owner.is_not(None))
            )
    samples = union_all(*parts).cte("samples")
    ranked = select(
        samples.c.grp,
        samples.c.secs,
        func.row_number().over(partition_by=samples.c.grp, order_by=samples.c.secs).label("rn"),
        func.count().over(partition_by=samples.c.grp).label("n"),
    ).cte("ranked")
    n, rn, secs = ranked.c.n, ranked.c.rn, ranked.c.secs
    middle = case((rn.in_([(n + 1) // 2, (n + 2) // 2]), secs))
    nearest = case((rn == (95 * n + 99) // 100, secs))
    rows = session.execute(
        select(ranked.c.grp, n, func.avg(middle), func.max(nearest)).group_by(ranked.c.grp, n)
    ).all()
    return [
        Spread(group=grp, count=count, median=max(0.0, float(mid)), p95=max(0.0, float(p95)))
        for grp, count, mid, p95 in rows
    ]


def cohort_size(*, session: Session, since: datetime, until: datetime) -> tuple[int, int]:
    """Leads handed over in the period, and how many of them met the definition."""
    total, qualified = session.exec(  # type: ignore[call-overload]
        select(func.count(), func.coalesce(func.sum(case((col(Lead.qualified), 1), else_=0)), 0))
        .select_from(Lead)
        .where(*_cohort(since, until))
    ).one()
    return int(total), int(qualified)


def funnel(*, session: Session, since: datetime, until: datetime) -> list[tuple[Any, ...]]:
    """Per source: handed over, qualified, claimed, contacted, accepted (won and lost were
    accepted first), won."""
    accepted = case((col(Lead.stage).in_(("accepted", "won", "lost")), 1), else_=0)
    return list(
        session.exec(  # type: ignore[call-overload]
            select(
                Lead.source,
                func.count(),
                func.sum(case((col(Lead.qualified), 1), else_=0)),
                func.count(Lead.claimed_at),
                func.count(Lead.contacted_at),
                func.sum(accepted),
                func.sum(case((col(Lead.stage) == "won", 1), else_=0)),
            )
            .where(*_cohort(since, until))
            .group_by(Lead.source)
        ).all()
    )


def feedback_by_source(
    *, session: Session, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """(source, outcome, reason code, count) of the feedback on the cohort's leads."""
    return list(
        session.exec(  # type: ignore[call-overload]
            select(Lead.source, Feedback.outcome, Feedback.reason, func.count())
            .join(Lead, col(Lead.id) == col(Feedback.lead_id))
            .where(*_cohort(since, until))
            .group_by(Lead.source, Feedback.outcome, Feedback.reason)
        ).all()
    )


def missed_rules(*, session: Session, since: datetime, until: datetime) -> list[list[str]]:
    """The rules Sales said a lead of the cohort did not meet in practice, per feedback given
    with any (JSON lists; the few rows that carry some are read)."""
    found = session.scalars(
        select(Feedback.missed_rules)
        .join(Lead, col(Lead.id) == col(Feedback.lead_id))
        .where(*_cohort(since, until))
    ).all()
    return [rules for rules in found if rules]


def clocks_kept(*, session: Session, since: datetime, until: datetime) -> list[tuple[Any, ...]]:
    """(kind, breached, met, count) of the cohort's clocks: breached if a deadline of it passed,
    met if it was resolved; neither means it still runs."""
    breached = select(Breach.id).where(col(Breach.deadline_id) == col(Deadline.id)).exists()
    clocks = (
        select(
            col(Deadline.kind).label("kind"),
            breached.label("breached"),
            col(Deadline.resolved_at).is_not(None).label("met"),
        )
        .join(Lead, col(Lead.id) == col(Deadline.lead_id))
        .where(*_cohort(since, until))
        .subquery()  # so that each clock's breach is looked up once, not again to group it
    )
    return list(
        session.execute(
            select(clocks.c.kind, clocks.c.breached, clocks.c.met, func.count()).group_by(
                clocks.c.kind, clocks.c.breached, clocks.c.met
            )
        ).all()
    )


def breaches_by_owner(*, session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Deadlines that fell due unmet in the period, per owner of the lead at that moment."""
    return {
        owner or "": count
        for owner, count in session.exec(  # type: ignore[call-overload]
            select(Breach.owner, func.count())
            .where(col(Breach.due_at) >= since, col(Breach.due_at) < until)
            .group_by(Breach.owner)
        ).all()
    }


def waiting_for_feedback(*, session: Session) -> tuple[int, int]:
    """Leads contacted and still without feedback, and how many of them are past its deadline."""
    waiting = session.scalars(
        select(func.count()).select_from(Lead).where(col(Lead.stage) == "contacted")
    ).one()
    overdue = session.scalars(
        select(func.count())
        .select_from(Deadline)
        .join(Lead, col(Lead.id) == col(Deadline.lead_id))
        .where(
            col(Lead.stage) == "contacted",
            col(Deadline.kind) == "feedback",
            col(Deadline.resolved_at).is_(None),
            col(Deadline.breached_at).is_not(None),
        )
    ).one()
    return int(waiting), int(overdue)


def qualified_between(*, session: Session, since: datetime, until: datetime) -> int:
    return cohort_size(session=session, since=since, until=until)[1]


def paused(*, session: Session, since: datetime, until: datetime) -> dict[str | None, int]:
    """The leads whose clocks were paused in `[since, until)`, by the pause's reason (None:
    a note said why)."""
    found = session.exec(
        select(Lead.pause_reason, func.count())
        .where(col(Lead.paused_at) >= since, col(Lead.paused_at) < until)
        .group_by(Lead.pause_reason)
    ).all()
    return {reason: int(count) for reason, count in found}
