"""The scorecard, computed from stored leads and their events."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from sqlmodel import Session, col, select

from bot.agreement import Agreement
from storage.models import Lead


@dataclass
class Scorecard:
    since: datetime
    handed_over: int = 0
    qualified: int = 0
    claimed: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    unqualified_reasons: dict[str, int] = field(default_factory=dict)
    median_time_to_claim: timedelta | None = None
    committed_per_month: int | None = None


def _rule(reason: str) -> str:
    """`country US is not one of DK, SE` -> `country`: reasons grouped by the rule they break."""
    for rule in ("company size", "buying stage", "country", "industry", "title", "budget"):
        if reason.startswith(rule):
            return rule
    return reason


def scorecard(*, session: Session, agreement: Agreement, since: datetime) -> Scorecard:
    card = Scorecard(since=since)
    if agreement.marketing_commitment:
        card.committed_per_month = agreement.marketing_commitment.qualified_leads_per_month
    waits = []
    for lead in session.exec(select(Lead).where(col(Lead.received_at) >= since)):
        card.handed_over += 1
        card.by_stage[lead.stage] = card.by_stage.get(lead.stage, 0) + 1
        if lead.qualified:
            card.qualified += 1
        for reason in lead.reasons:
            rule = _rule(reason)
            card.unqualified_reasons[rule] = card.unqualified_reasons.get(rule, 0) + 1
        if lead.claimed_at:
            card.claimed += 1
            waits.append(agreement.calendar.elapsed(lead.received_at, lead.claimed_at))
    if waits:
        card.median_time_to_claim = median(waits)
    return card
