"""`baton report`: the SLA scorecard, the lead-quality report and the deals won from
Marketing's leads, in a terminal."""

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from bot import rules
from bot.clock import utcnow
from bot.durations import humanize, wait
from bot.reports import scorecard, week, won_deals
from bot.service.cli.common import (
    open_context,
    out,
    read_agreement,
    read_settings,
)


def report(
    days: Annotated[int, typer.Option(min=1, help="how many days back to look, 1 or more")] = 7,
) -> None:
    """The SLA scorecard and lead-quality report."""
    settings = read_settings(slack=False)
    agreement = read_agreement(settings)
    ctx = open_context(settings, agreement)
    since = utcnow() - timedelta(days=days)
    with ctx.sessions() as session:
        card = scorecard(session=session, agreement=agreement, since=since)
        sla = week(session=session, agreement=agreement, since=since)
        won = won_deals(session=session, since=since)
    table = Table(title=f"Baton scorecard, last {days} days", show_header=False)
    table.add_row("Leads handed over", str(card.handed_over))
    table.add_row("Qualified", str(card.qualified))
    if card.committed_per_month is not None:
        table.add_row("Marketing's commitment", f"{card.committed_per_month} qualified a month")
    table.add_row("Claimed", str(card.claimed))
    waited = card.median_time_to_claim
    table.add_row("Median time to claim", humanize(waited) if waited is not None else "—")
    for stage, count in sorted(card.by_stage.items()):
        table.add_row(f"  now {stage.replace('_', ' ')}", str(count))
    if sla.card_delay_median_seconds is not None:
        table.add_row(
            "Hand-over to card, median / 95%",
            f"{wait(sla.card_delay_median_seconds)} / {wait(sla.card_delay_p95_seconds)}",
        )
    for clock in ("claim", "contact", "feedback"):
        met, missed = sla.in_time.get(clock, 0), sla.late.get(clock, 0)
        table.add_row(f"{clock.capitalize()} deadlines met / missed", f"{met} / {missed}")
    for outcome, count in sorted(sla.outcomes.items()):
        table.add_row(f"Feedback: {outcome}", str(count))
    for reason, count in sorted(sla.rejected_by_reason.items(), key=lambda item: -item[1]):
        table.add_row(f"  rejected: {agreement.feedback_label(reason)}", str(count))
    out.print(table)
    if card.unqualified_reasons:
        reasons = Table(title="Why leads were returned to nurture")
        reasons.add_column("rule")
        reasons.add_column("leads", justify="right")
        for rule, count in sorted(card.unqualified_reasons.items(), key=lambda item: -item[1]):
            reasons.add_row(rules.label(rule), str(count))
        out.print(reasons)
    if won:
        deals = Table(title="Deals won in the CRM, by the source of their lead")
        deals.add_column("source")
        deals.add_column("deals", justify="right")
        deals.add_column("value", justify="right")
        for row in won:
            value = f"{row.value:,.0f} {row.currency or ''}".strip()
            deals.add_row(row.source or "unknown", str(row.deals), value)
        out.print(deals)
