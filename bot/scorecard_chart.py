"""The weekly scorecard's chart, as data: what it plots, computed here and drawn elsewhere.

Two panels, one per side of the agreement. Marketing's: the month's qualified hand-overs,
cumulative by day in the agreement's timezone, against the commitment pro rata (a straight
line from nothing on the 1st to `qualified_leads_per_month` at the month's end). Sales': how
long the week's leads waited from their card in the sales channel to first contact, in
business time, binned against the SLA (`sla.contact_within`).

The figures are those of the weekly message (`bot.scorecard`): the last cumulative point is
its month-to-date count, and the waits are the ones its median is taken of. The outbox row
carries them as JSON (`facts`), and the adapter draws the PNG from them when it sends, so a
chart is drawn from stored facts exactly as a message is rendered from them.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.agreement import Agreement
from bot.scorecard import month_bounds
from storage import chart_rows

HANDOVERS, CONTACT = "handovers", "contact"
"""The panels: Marketing's hand-overs against the commitment, Sales' waits against the SLA."""
PANELS = (HANDOVERS, CONTACT)
BINS = 8
"""Bins of the waits up to twice the SLA (the SLA is the fourth bin's upper edge); longer
waits go in one more bin of their own."""


@dataclass(frozen=True)
class Chart:
    month: str
    """The month plotted, as `2026-11`."""
    days: int
    """Days in that month."""
    cumulative: list[int]
    """Qualified hand-overs by the end of each day of the month, from the 1st to the last
    day counted (the day the period ends in)."""
    committed: int | None
    """`marketing_commitment.qualified_leads_per_month`; None without a commitment."""
    business_time: bool
    """Hours are business hours (the agreement has `business_hours`), else wall-clock hours."""
    sla_hours: float
    """`sla.contact_within` in those hours."""
    bin_hours: float
    """The width of each bin of waits, in business hours."""
    contacts: list[int]
    """Leads first contacted within each bin (`BINS` of them), then those contacted later."""

    @property
    def pro_rata(self) -> list[float]:
        """The commitment by the end of each day, 0 to `days` (day 0: the month's start)."""
        if self.committed is None:
            return []
        return [self.committed * day / self.days for day in range(self.days + 1)]

    @property
    def contacted(self) -> int:
        return sum(self.contacts)

    @property
    def within_sla(self) -> int:
        """Leads contacted within the SLA: the bins up to its edge."""
        return sum(self.contacts[: BINS // 2])

    def as_facts(self) -> dict[str, Any]:
        """The chart as JSON, for the outbox row that carries it."""
        return asdict(self)

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> "Chart":
        return cls(**facts)


def binned(waits_hours: list[float], bin_hours: float) -> list[int]:
    """How many waits fall in each bin `(k * w, (k + 1) * w]` (the first one taking 0 too),
    then how many are longer than `BINS * w`. Closed on the right, because a contact made at
    the deadline's last moment kept the SLA; a nanosecond's float error counts as on time."""
    counts = [0] * (BINS + 1)
    for hours in waits_hours:
        index = BINS
        for k in range(BINS):
            if hours <= (k + 1) * bin_hours + 1e-9:
                index = k
                break
        counts[index] += 1
    return counts


def cumulative_by_day(received: list[datetime], *, month_start: datetime, days: int) -> list[int]:
    """Running totals at the end of each of the first `days` local days from `month_start`."""
    tz = month_start.tzinfo
    first = month_start.date()
    per_day = [0] * days
    for at in received:
        index = (at.astimezone(tz).date() - first).days
        if 0 <= index < days:
            per_day[index] += 1
    totals, running = [], 0
    for count in per_day:
        running += count
        totals.append(running)
    return totals


def compute(
    *, session: Session, agreement: Agreement, since: datetime, until: datetime, now: datetime
) -> Chart:
    """The chart of the period `[since, until)`: its month as `bot.scorecard` counts it (the
    month `until` ends in, up to `until` or now), and the waits of its leads."""
    end = min(until, now)
    start, following = month_bounds(agreement, end - timedelta(microseconds=1))
    days = (following.date() - start.date()).days
    counted = (end.astimezone(agreement.tz) - timedelta(microseconds=1)).date()
    through = min(days, max(0, (counted - start.date()).days + 1))
    received = chart_rows.qualified_received(session=session, since=start, until=end)
    sla = agreement.business(agreement.sla.contact_within).total_seconds() / 3600
    width = sla * 2 / BINS if sla > 0 else 1.0
    waits = [
        max(0.0, agreement.calendar.elapsed(card, contact).total_seconds() / 3600)
        for card, contact in chart_rows.card_to_contact(session=session, since=since, until=until)
    ]
    commitment = agreement.marketing_commitment
    return Chart(
        month=start.strftime("%Y-%m"),
        days=days,
        cumulative=cumulative_by_day(received, month_start=start, days=through),
        committed=commitment.qualified_leads_per_month if commitment else None,
        business_time=not agreement.calendar.is_24_7,
        sla_hours=round(sla, 6),
        bin_hours=round(width, 6),
        contacts=binned(waits, width),
    )
