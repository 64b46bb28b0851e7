"""The scorecard, computed from stored leads and their events."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from bot import messages
from bot import scorecard_chart as chart
from bot.agreement import Agreement
from bot.context import Context
from bot.deduplication import first_delivery
from bot.scorecard import Scorecard as TwoSided
from bot.scorecard import compute as two_sided
from bot.wins import EVENT as DEAL_WON
from storage.db import transaction
from storage.models import Event, Lead


@dataclass
class Scorecard:
    """Lead quality: where the period's leads stand now, and why some missed the definition
    (the two-sided figures are `bot.scorecard`'s)."""

    since: datetime
    handed_over: int = 0
    qualified: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    unqualified_reasons: dict[str, int] = field(default_factory=dict)
    """Leads returned to nurture per rule they failed, by the rule's code (`bot.rules`)."""


def scorecard(
    *, session: Session, agreement: Agreement, since: datetime, until: datetime | None = None
) -> Scorecard:
    """Counts in the database; only the reasons' codes (in JSON) are read row by row, for the
    leads that failed the definition."""
    card = Scorecard(since=since)
    recent = col(Lead.received_at) >= since
    if until is not None:
        recent = and_(recent, col(Lead.received_at) < until)
    # Grouped by `qualified` first: grouped by `stage` first, SQLite walks the whole table in
    # ix_lead_stage's order instead of the window in ix_lead_received_at_report.
    for stage, qualified, count in session.exec(
        select(Lead.stage, Lead.qualified, func.count())
        .where(recent)
        .group_by(Lead.qualified, Lead.stage)
    ):
        card.handed_over += count
        card.qualified += count if qualified else 0
        card.by_stage[stage] = card.by_stage.get(stage, 0) + count
    for reasons in session.exec(select(Lead.reasons).where(recent, ~col(Lead.qualified))):
        for reason in reasons or []:
            code = reason.get("code", "") if isinstance(reason, dict) else str(reason)
            card.unqualified_reasons[code] = card.unqualified_reasons.get(code, 0) + 1
    return card


@dataclass(frozen=True)
class WonDeals:
    """Deals won in the CRM from the leads of one source, in one currency."""

    source: str | None
    currency: str | None
    deals: int
    value: float


def won_deals(
    *, session: Session, since: datetime, until: datetime | None = None
) -> list[WonDeals]:
    """What Marketing's leads became: the deals won in the CRM (`bot.wins`) in the window and
    their value, by the source of the lead each came from, the largest first. Values in
    different currencies are not added up: each currency has its own line."""
    value = col(Event.data)["value"].as_float()
    currency = col(Event.data)["currency"].as_string()
    until = until or datetime.max.replace(tzinfo=since.tzinfo)
    rows = session.exec(
        select(Lead.source, currency, func.count(), func.coalesce(func.sum(value), 0.0))
        .join(Lead, col(Lead.id) == col(Event.lead_id))
        .where(Event.kind == DEAL_WON, col(Event.at) >= since, col(Event.at) < until)
        .group_by(Lead.source, currency)
    ).all()
    found = [WonDeals(source, money, deals, float(total)) for source, money, deals, total in rows]
    return sorted(found, key=lambda row: (-row.value, -row.deals, row.source or ""))


def week_start(agreement: Agreement, now: datetime) -> datetime:
    """Monday 00:00 of this week in the agreement's timezone."""
    local = now.astimezone(agreement.tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime.combine(monday, datetime.min.time(), tzinfo=agreement.tz)


def month_start(agreement: Agreement, now: datetime) -> datetime:
    local = now.astimezone(agreement.tz)
    return datetime.combine(local.date().replace(day=1), datetime.min.time(), tzinfo=agreement.tz)


def this_week(ctx: Context) -> TwoSided:
    """The two-sided scorecard of the leads handed over this week so far (`/baton stats`)."""
    now = ctx.clock()
    with ctx.sessions() as session:
        return two_sided(
            session=session,
            agreement=ctx.agreement,
            since=week_start(ctx.agreement, now),
            until=now,
            now=now,
        )


def send_missed(ctx: Context, *, due: datetime) -> bool:
    """The scorecard that fell due at `due` while Baton was down, if Baton was in use by then
    (a lead had been handed over): a new installation does not open with the empty scorecard
    of a week it never saw. Once, like any weekly scorecard."""
    with ctx.sessions() as session:
        used = session.exec(select(Lead.id).where(col(Lead.received_at) < due).limit(1)).first()
    return used is not None and send_weekly(ctx, due=due)


def send_weekly(ctx: Context, *, due: datetime | None = None) -> bool:
    """Last week's scorecard, once across replicas and restarts: in full to the CEO, Sales'
    side to the sales manager, Marketing's side to the marketing channel, each with its chart.

    `due` is the moment the scorecard was due (default now): a scorecard due while Baton was
    down is sent after start for the week before that moment, not the week before now.

    The messages wait behind anything urgent (`messages.BULK`): a lead's card handed over
    meanwhile goes first, not after three charts are drawn.

    Exactly once: the three messages are queued in the outbox in one transaction with the
    week's key (`first_delivery`), and each says which panels of the chart it shows. The chart
    goes to Slack as an upload that carries no message metadata, so the upload is never what
    people see: the transport uploads it unshared, records the file id on the message's row,
    and then posts the message that shows it, which the outbox's own exactly-once lookup
    guards (`bot.slack.uploads`).
    """
    now = ctx.clock()
    until = week_start(ctx.agreement, due or now)
    since = until - timedelta(days=7)
    if not first_delivery(ctx, f"scorecard:{since.date().isoformat()}"):
        return False
    people, channels = ctx.agreement.people, ctx.agreement.channels
    with transaction(ctx.sessions) as session:
        card = two_sided(
            session=session, agreement=ctx.agreement, since=since, until=until, now=now
        ).as_json()
        data = chart.compute(
            session=session, agreement=ctx.agreement, since=since, until=until, now=now
        ).as_facts()

        def drawn(*panels: str) -> dict[str, Any]:
            name = f"scorecard-{since.date().isoformat()}-{'-'.join(panels)}.png"
            return {"data": data, "panels": list(panels), "filename": name}

        rows = [
            messages.said(
                kind,
                recipient=recipient,
                priority=messages.BULK,
                template=template,
                at=now,
                card=card,
                scorecard_chart=drawn(*panels),
            )
            for kind, recipient, template, panels in (
                (messages.DIRECT, people.ceo, "scorecard", (chart.HANDOVERS, chart.CONTACT)),
                (messages.DIRECT, people.sales_manager, "scorecard_sales", (chart.CONTACT,)),
                (messages.POST, channels.marketing, "scorecard_marketing", (chart.HANDOVERS,)),
            )
        ]
        messages.queue(session=session, rows=rows)
    ctx.wake()
    return True
