"""The two-sided scorecard: did Marketing deliver what it promised, did Sales follow up in
time. Every figure is counted in the database for the leads handed over in a period (the
waits' medians and percentiles are ranked from three numbers a lead), so it holds at any
period and any size; `baton report`, `/baton stats` and the weekly message all
show this one computation.

An empty period has no rates and no medians (None), never a NaN: the messages say "no leads".
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.agreement import Agreement
from bot.calendar import BusinessCalendar
from storage import consequence_rows
from storage import scorecard_rows as rows

ALL = "all"
"""The group name of a figure over every seller."""
NO_SOURCE = "unknown"
"""The source of leads handed over without one."""
MET, ON_TRACK, BEHIND = "met", "on track", "behind"


@dataclass
class Commitment:
    """Marketing's month: qualified hand-overs so far against the monthly commitment."""

    month_start: datetime
    month_end: datetime
    qualified: int
    committed: int
    pro_rata: float
    """What the commitment asks by now, in proportion to the month gone."""
    verdict: str


@dataclass
class Spread:
    """Waits in business seconds: how many, their median and 95th percentile."""

    count: int
    median_seconds: float
    p95_seconds: float


@dataclass
class Source:
    """One source of leads: the funnel and what Sales said of its leads."""

    handed_over: int = 0
    qualified: int = 0
    claimed: int = 0
    contacted: int = 0
    accepted: int = 0
    won: int = 0
    feedback: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    acceptance_rate: float | None = None
    """Accepted among the leads Sales gave feedback on."""


@dataclass
class Clock:
    """One agreed clock over the period's leads: kept, broken, still running."""

    in_time: int = 0
    late: int = 0
    running: int = 0
    share_in_time: float | None = None
    """Of the clocks that ended (met or breached), those met in time."""


@dataclass
class Consequences:
    """The consequences of the agreement applied in the period (`bot.consequences`)."""

    reassigned: int = 0
    """Leads handed on by `reassign_after`."""
    not_reassigned: int = 0
    """Leads `reassign_after` came for when no seller was available."""
    out_of_rotation: dict[str, int] = field(default_factory=dict)
    """Sellers taken out of rotation, and how often."""
    restored: dict[str, int] = field(default_factory=dict)
    shortfall_weeks: int = 0
    """Weeks in which Marketing was told it trailed its commitment."""


@dataclass
class Scorecard:
    since: datetime
    until: datetime
    handed_over: int = 0
    qualified: int = 0
    definition_share: float | None = None
    commitment: Commitment | None = None
    sources: dict[str, Source] = field(default_factory=dict)
    missed_rules: dict[str, int] = field(default_factory=dict)
    clocks: dict[str, Clock] = field(default_factory=dict)
    time_to_claim: dict[str, Spread] = field(default_factory=dict)
    """By seller, and over all of them under `ALL`."""
    time_to_contact: dict[str, Spread] = field(default_factory=dict)
    breaches_this_week: dict[str, int] = field(default_factory=dict)
    breaches_last_week: dict[str, int] = field(default_factory=dict)
    waiting_for_feedback: int = 0
    feedback_overdue: int = 0
    card_delay: Spread | None = None
    """From hand-over to the card in the sales channel (when the clocks start), by the wall
    clock: Slack's pace and outages keep no business hours."""
    consequences: Consequences = field(default_factory=lambda: Consequences())
    paused: dict[str, int] = field(default_factory=dict)
    """Leads whose clocks were paused in the period, by the pause's reason (`note`: a note)."""

    @property
    def empty(self) -> bool:
        return self.handed_over == 0

    def as_json(self) -> dict[str, Any]:
        """The same figures for BI tools: times as ISO 8601, waits in seconds."""
        return _jsonable(asdict(self)) | {"empty": self.empty}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def business_days(calendar: BusinessCalendar, since: datetime, until: datetime):
    """The day table the database measures business time with, from `since` to `until`
    (whole UTC days); None for a 24/7 calendar, where wall-clock seconds are the measure."""
    if calendar.is_24_7:
        return None
    first = int(since.timestamp() // rows.DAY_SECONDS)
    last = int(until.timestamp() // rows.DAY_SECONDS) + 1
    found, before = [], 0.0
    for number in range(first, last + 1):
        start = datetime.fromtimestamp(number * rows.DAY_SECONDS, UTC)
        spans = tuple(
            (opening.timestamp(), closing.timestamp())
            for opening, closing in calendar.intervals(start, start + timedelta(days=1))
        )
        found.append(rows.BusinessDay(number=number, before=before, spans=spans))
        before += sum(closing - opening for opening, closing in spans)
    return found


def month_bounds(agreement: Agreement, at: datetime) -> tuple[datetime, datetime]:
    """The calendar month around `at` in the agreement's timezone."""
    local = at.astimezone(agreement.tz)
    start = datetime.combine(local.date().replace(day=1), datetime.min.time(), tzinfo=agreement.tz)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def week_bounds(agreement: Agreement, at: datetime) -> tuple[datetime, datetime]:
    """Monday 00:00 of the week of `at`, in the agreement's timezone, and the Monday after."""
    local = at.astimezone(agreement.tz)
    monday = (local - timedelta(days=local.weekday())).date()
    start = datetime.combine(monday, datetime.min.time(), tzinfo=agreement.tz)
    return start, datetime.combine(
        monday + timedelta(days=7), datetime.min.time(), tzinfo=agreement.tz
    )


def _commitment(
    session: Session, agreement: Agreement, until: datetime, now: datetime
) -> Commitment | None:
    if agreement.marketing_commitment is None:
        return None
    committed = agreement.marketing_commitment.qualified_leads_per_month
    end = min(until, now)
    start, following = month_bounds(agreement, end - timedelta(microseconds=1))
    qualified = rows.qualified_between(session=session, since=start, until=end)
    gone = min(1.0, max(0.0, (end - start) / (following - start)))
    pro_rata = committed * gone
    verdict = MET if qualified >= committed else ON_TRACK if qualified >= pro_rata else BEHIND
    return Commitment(start, following, qualified, committed, round(pro_rata, 2), verdict)


def _sources(found: rows.BySource) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for name, handed, qualified, claimed, contacted, accepted, won in found.funnel:
        sources[name or NO_SOURCE] = Source(
            int(handed), int(qualified or 0), int(claimed), int(contacted), int(accepted or 0)
        )
        sources[name or NO_SOURCE].won = int(won or 0)
    for name, outcome, reason, count in found.feedback:
        source = sources.setdefault(name or NO_SOURCE, Source())
        source.feedback[outcome] = source.feedback.get(outcome, 0) + count
        if outcome == "rejected":
            key = reason or "no reason given"
            source.rejected_by_reason[key] = source.rejected_by_reason.get(key, 0) + count
    for source in sources.values():
        source.acceptance_rate = _share(
            source.feedback.get("accepted", 0), sum(source.feedback.values())
        )
    return sources


def _clocks(session: Session, since: datetime, until: datetime) -> dict[str, Clock]:
    clocks: dict[str, Clock] = {}
    for kind, breached, met, count in rows.clocks_kept(session=session, since=since, until=until):
        clock = clocks.setdefault(kind, Clock())
        if breached:
            clock.late += count
        elif met:
            clock.in_time += count
        else:
            clock.running += count
    for clock in clocks.values():
        clock.share_in_time = _share(clock.in_time, clock.in_time + clock.late)
    return clocks


def compute(
    *, session: Session, agreement: Agreement, since: datetime, until: datetime, now: datetime
) -> Scorecard:
    """Both sides of the agreement for the leads handed over in `[since, until)`.

    Waits run from the card in the sales channel (when the claim and contact clocks start) to
    the claim and to the first contact, in business time. Breaches are those of the week of
    `until` and the week before; the month is the one `until` ends in.
    """
    card = Scorecard(since=since, until=until)
    found = rows.by_source(session=session, since=since, until=until)
    card.sources = _sources(found)
    # Every lead of the period has one source (or none): the funnel by source adds up to it.
    card.handed_over = sum(int(handed) for _, handed, *_ in found.funnel)
    card.qualified = sum(int(qualified or 0) for _, _, qualified, *_ in found.funnel)
    card.definition_share = _share(card.qualified, card.handed_over)
    card.commitment = _commitment(session, agreement, until, now)
    for listed, count in found.missed_rules:
        for code in listed:
            card.missed_rules[code] = card.missed_rules.get(code, 0) + count
    card.clocks = _clocks(session, since, until)
    days = business_days(agreement.calendar, since, max(until, now))
    with rows.business_clock(session=session, days=days) as clock:
        measured = rows.spreads(session=session, since=since, until=until, clock=clock)
    for spread in measured:
        wait, _, seller = (spread.group or "").partition(":")
        figure = Spread(spread.count, round(spread.median, 3), round(spread.p95, 3))
        if wait == rows.CARD:
            card.card_delay = figure
        else:
            field_ = card.time_to_claim if wait == rows.CLAIM else card.time_to_contact
            field_[seller or ALL] = figure
    week_start, _ = week_bounds(agreement, min(until, now) - timedelta(microseconds=1))
    end = min(until, now)
    card.breaches_this_week = rows.breaches_by_owner(session=session, since=week_start, until=end)
    card.breaches_last_week = rows.breaches_by_owner(
        session=session, since=week_start - timedelta(days=7), until=week_start
    )
    card.waiting_for_feedback, card.feedback_overdue = rows.waiting_for_feedback(session=session)
    card.consequences = _consequences(session, since, until)
    for reason, count in rows.paused(session=session, since=since, until=until).items():
        card.paused[reason or PAUSE_NOTE] = count
    return card


PAUSE_NOTE = "note"
"""The group of the pauses a note explained instead of a reason from the agreement."""


def _consequences(session: Session, since: datetime, until: datetime) -> Consequences:
    """What the consequence ledger holds for `[since, until)`: applied then, whichever leads."""
    found = Consequences()
    for kind, subject, count in consequence_rows.tally(session=session, since=since, until=until):
        if kind == "reassigned":
            found.reassigned += count
        elif kind == "not_reassigned":
            found.not_reassigned += count
        elif kind == "marketing_shortfall":
            found.shortfall_weeks += count
        elif kind in ("out_of_rotation", "restored") and subject:
            by_seller = found.out_of_rotation if kind == "out_of_rotation" else found.restored
            by_seller[subject] = by_seller.get(subject, 0) + count
    return found
