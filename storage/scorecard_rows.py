"""The scorecard's queries: every figure counted and measured in the database; the waits
come back as a few numbers a lead and are ranked here.

Leads are taken as a cohort: those handed over in the period (`received_at`, which the
report index leads with). Waits are measured in business time in SQL too: the domain hands
over a table of UTC days, each with the business seconds before it and its open spans, and a
timestamp's business clock is that day's seconds before it plus the part of its spans
already gone. A wait is the difference of two such clocks.
"""

import json
from collections import defaultdict
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
    String,
    Table,
    case,
    cast,
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


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UtcDateTime as naive UTC text, which julianday() reads.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: Any, **kw: Any) -> str:
    # As double precision: extract() answers numeric, whose arithmetic and sorting cost more.
    at = compiler.process(element.clauses, **kw)
    return f"cast(extract(epoch from {at}) as double precision)"


class epoch_day(FunctionElement[int]):
    """Whole days since 1970-01-01 UTC of a number of epoch seconds (never negative here)."""

    type = Integer()
    inherit_cache = True


@compiles(epoch_day, "sqlite")
def _epoch_day_sqlite(element: epoch_day, compiler: Any, **kw: Any) -> str:
    return f"cast(({compiler.process(element.clauses, **kw)}) / {DAY_SECONDS} as integer)"


@compiles(epoch_day, "postgresql")
def _epoch_day_postgresql(element: epoch_day, compiler: Any, **kw: Any) -> str:
    return f"cast(floor(({compiler.process(element.clauses, **kw)}) / {DAY_SECONDS}) as integer)"


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


def _clock(seconds: Any, day: Any) -> ColumnElement[float]:
    """Business seconds on the day table's clock at `seconds` (epoch seconds)."""

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


def _spread(group: str | None, waits: list[float]) -> Spread:
    """The median (the mean of the two middle waits, one and the same for an odd count) and
    the 95th percentile's nearest rank, ceil(0.95 n), of a group's waits."""
    waits.sort()
    n = len(waits)
    low, high, nearest = (n + 1) // 2, (n + 2) // 2, (95 * n + 99) // 100
    median = (waits[low - 1] + waits[high - 1]) / 2
    return Spread(group=group, count=n, median=max(0.0, median), p95=max(0.0, waits[nearest - 1]))


def spreads(*, session: Session, since: datetime, until: datetime, clock: Any) -> list[Spread]:
    """Median and 95th percentile of each wait of the cohort's leads, for all and per owner.

    One pass over the window in the report index: each lead's moments as epoch seconds once
    (reading a stored timestamp is the costly part on SQLite) and its waits from those, in
    the database; the waits come back as three numbers a lead and are ranked here, where
    sorting a list of floats per group costs a fraction of the database's sort and window
    functions over every wait twice (for the team and for its owner).

    `clock` is the `business_clock` table, or None to measure claims and contacts by the
    wall clock too. A `Spread`'s group is `"<wait>"` or `"<wait>:<owner>"`: claim, contact
    and card in that order, the team's before its sellers' (by id)."""
    moments = (
        select(
            col(Lead.owner).label("owner"),
            epoch(Lead.received_at).label("received"),
            epoch(Lead.card_at).label("card"),
            epoch(Lead.claimed_at).label("claimed"),
            epoch(Lead.contacted_at).label("contacted"),
        )
        .where(*_cohort(since, until), col(Lead.card_at).is_not(None))
        .cte("moments")
        .prefix_with("MATERIALIZED")  # computed once, not again in each expression below
    )
    m = moments.c
    if clock is None:
        per_lead = select(
            m.owner,
            (m.claimed - m.card).label(CLAIM),
            (m.contacted - m.card).label(CONTACT),
            (m.card - m.received).label(CARD),
        )
    else:
        at_card, at_claim, at_contact = (
            clock.alias(f"d_{name}") for name in (CARD, CLAIM, CONTACT)
        )
        card = _clock(m.card, at_card)
        per_lead = (
            select(
                m.owner,
                (_clock(m.claimed, at_claim) - card).label(CLAIM),
                (_clock(m.contacted, at_contact) - card).label(CONTACT),
                (m.card - m.received).label(CARD),
            )
            .select_from(moments)
            .join(at_card, at_card.c.n == epoch_day(m.card))
            .outerjoin(at_claim, at_claim.c.n == epoch_day(m.claimed))
            .outerjoin(at_contact, at_contact.c.n == epoch_day(m.contacted))
        )
    # A lead's waits as the driver's tuple: a SQLAlchemy row per lead (pure Python) would cost
    # three times the fetch, and these numbers need no conversion.
    result = session.connection().execute(per_lead)
    try:
        waits = result.cursor.fetchall()
    finally:
        result.close()
    found = []
    for index, wait in ((1, CLAIM), (2, CONTACT)):
        everyone = [row[index] for row in waits if row[index] is not None]
        if everyone:
            found.append(_spread(wait, everyone))
        by_owner: dict[str, list[float]] = defaultdict(list)
        for row in waits:
            if row[0] is not None and row[index] is not None:
                by_owner[row[0]].append(row[index])
        found.extend(_spread(f"{wait}:{owner}", by_owner[owner]) for owner in sorted(by_owner))
    cards = [row[3] for row in waits if row[3] is not None]
    if cards:
        found.append(_spread(CARD, cards))
    return found


def cohort_size(*, session: Session, since: datetime, until: datetime) -> tuple[int, int]:
    """Leads handed over in the period, and how many of them met the definition."""
    total, qualified = session.exec(  # type: ignore[call-overload]
        select(func.count(), func.coalesce(func.sum(case((col(Lead.qualified), 1), else_=0)), 0))
        .select_from(Lead)
        .where(*_cohort(since, until))
    ).one()
    return int(total), int(qualified)


@dataclass
class BySource:
    """What the scorecard counts per source, from one pass over the window's leads."""

    funnel: list[tuple[Any, ...]]
    """(source, handed over, qualified, claimed, contacted, accepted, won); won and lost leads
    were accepted first."""
    feedback: list[tuple[Any, ...]]
    """(source, outcome, reason code, count) of the feedback on the cohort's leads."""
    missed_rules: list[tuple[list[str], int]]
    """The rules Sales said the cohort's leads did not meet in practice: each list as given
    with a feedback, and how many feedbacks gave it."""


FUNNEL, FEEDBACK = 0, 1


def by_source(*, session: Session, since: datetime, until: datetime) -> BySource:
    """The funnel, the feedback and the missed rules by source in one statement.

    Counted by `source_key`, which the report index holds (a source may be 1,000 characters,
    more than a PostgreSQL index entry), so the window's leads are read from the index into
    `cohort`, for the funnel and for the join to the feedback both; each source's text is then
    read from one lead of it. SQLite reads the index once and keeps the rows (reading a stored
    timestamp is what costs there). PostgreSQL reads it twice: kept rows went to disk and were
    then hashed against every feedback, where reading the index again lets it hash the
    window's leads and scan the feedback past them, in about two thirds of the time. The
    feedback is grouped by its missed rules as text too (JSON cannot be grouped on
    PostgreSQL): the few lists given come back with their counts."""
    accepted = case((col(Lead.stage).in_(("accepted", "won", "lost")), 1), else_=0)
    cohort = (
        select(
            col(Lead.id).label("id"),
            col(Lead.source_key).label("source_key"),
            case((col(Lead.qualified), 1), else_=0).label("qualified"),
            case((col(Lead.claimed_at).is_not(None), 1), else_=0).label("claimed"),
            case((col(Lead.contacted_at).is_not(None), 1), else_=0).label("contacted"),
            accepted.label("accepted"),
            case((col(Lead.stage) == "won", 1), else_=0).label("won"),
        )
        .where(*_cohort(since, until))
        .cte("cohort")
        .prefix_with("MATERIALIZED", dialect="sqlite")
        .prefix_with("NOT MATERIALIZED", dialect="postgresql")
    )
    c = cohort.c
    nothing = literal(None, String)
    rules = cast(Feedback.missed_rules, String)
    counted = (
        select(
            c.source_key,
            func.min(c.id).label("one"),
            func.count().label("n"),
            func.sum(c.qualified).label("qualified"),
            func.sum(c.claimed).label("claimed"),
            func.sum(c.contacted).label("contacted"),
            func.sum(c.accepted).label("accepted"),
            func.sum(c.won).label("won"),
        )
        .group_by(c.source_key)
        .subquery("counted")
    )
    named = Lead.__table__.alias("named")  # the one lead each source's text is read from
    k = counted.c
    funnel = (
        select(
            literal(FUNNEL).label("part"),
            k.source_key,
            named.c.source,
            nothing.label("outcome"),
            nothing.label("reason"),
            nothing.label("rules"),
            k.n,
            k.qualified,
            k.claimed,
            k.contacted,
            k.accepted,
            k.won,
        )
        .select_from(counted)
        .join(named, named.c.id == k.one)
    )
    zero = literal(0)
    feedback = (
        select(
            literal(FEEDBACK),
            c.source_key,
            nothing,
            Feedback.outcome,
            Feedback.reason,
            rules,
            func.count(),
            zero,
            zero,
            zero,
            zero,
            zero,
        )
        .select_from(cohort)
        .join(Feedback, col(Feedback.lead_id) == c.id)
        .group_by(c.source_key, Feedback.outcome, Feedback.reason, rules)
    )
    found = BySource(funnel=[], feedback=[], missed_rules=[])
    names: dict[int | None, str | None] = {}
    given_feedback = []
    for part, key, source, outcome, reason, given, count, *counts in session.execute(
        union_all(funnel, feedback)
    ).all():
        if part == FUNNEL:
            names[key] = source
            found.funnel.append((source, count, *counts))
        else:
            given_feedback.append((key, outcome, reason, given, count))
    for key, outcome, reason, given, count in given_feedback:
        found.feedback.append((names[key], outcome, reason, count))
        listed = json.loads(given) if given else None
        if listed:
            found.missed_rules.append((listed, count))
    return found


def clocks_kept(*, session: Session, since: datetime, until: datetime) -> list[tuple[Any, ...]]:
    """(kind, breached, met, count) of the cohort's clocks: breached if a deadline of it passed,
    met if it was resolved; neither means it still runs.

    The cohort's ids come from the report index, each lead's clocks from theirs: no row is
    read. Whether a clock has a breach: PostgreSQL joins the cohort's clocks at once to the
    breaches' ids, read once from their index, as a hash (a look-up per clock, some 200,000 at
    30 days and most without a breach, cost more); SQLite, which would copy those ids into a
    table of its own first, looks up each clock's breach in that index. Grouped by kind and
    met only, with the breached ones counted, so that each clock's breach is looked up once
    (a grouping key would be evaluated again)."""
    met = col(Deadline.resolved_at).is_not(None)
    cohort_clocks = (
        select(Deadline.kind, met, func.count())
        .select_from(Lead)
        .join(Deadline, col(Deadline.lead_id) == col(Lead.id))
        .where(*_cohort(since, until))
        .group_by(Deadline.kind, met)
    )
    if session.get_bind().dialect.name == "postgresql":
        breached = select(col(Breach.deadline_id).label("id")).distinct().subquery("breached")
        query = cohort_clocks.outerjoin(breached, breached.c.id == col(Deadline.id)).add_columns(
            func.count(breached.c.id)
        )
    else:
        lookup = select(Breach.deadline_id).where(col(Breach.deadline_id) == col(Deadline.id))
        query = cohort_clocks.add_columns(func.sum(case((lookup.exists(), 1), else_=0)))
    found = session.execute(query).all()
    counted = []
    for kind, resolved, count, late in found:
        counted.append((kind, True, bool(resolved), int(late or 0)))
        counted.append((kind, False, bool(resolved), int(count) - int(late or 0)))
    return [row for row in counted if row[3]]


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
