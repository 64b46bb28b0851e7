"""`baton report`: the two-sided scorecard, the lead-quality report and the deals won from
Marketing's leads, as a table for people, CSV for spreadsheets or JSON for BI tools."""

import csv
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bot import rules
from bot.agreement import Agreement
from bot.clock import utcnow
from bot.durations import wait
from bot.reports import WonDeals, won_deals
from bot.reports import scorecard as quality
from bot.scorecard import ALL, PAUSE_NOTE, Scorecard, compute
from bot.service.cli.common import fail, open_context, out, read_agreement, read_settings

FORMATS = ("table", "csv", "json")


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date like 2026-11-23") from None


def period(
    agreement: Agreement, since: str | None, until: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """From the first day's midnight to the end of the last day, in the agreement's timezone;
    by default this month to date."""
    today = now.astimezone(agreement.tz).date()
    first = _day("--since", since) or today.replace(day=1)
    last = _day("--until", until) or today
    if first > last:
        raise fail(f"--since {first.isoformat()} is after --until {last.isoformat()}")
    start = datetime.combine(first, time.min, tzinfo=agreement.tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=agreement.tz)
    return start, end


def share(value: float | None) -> str:
    return "no leads" if value is None else f"{value:.0%}"


def figures(card: Scorecard, agreement: Agreement) -> Iterator[tuple[str, str, str, Any]]:
    """Every figure as (side, figure, group, value): the rows of the CSV and the table."""
    yield "marketing", "handed over", ALL, card.handed_over
    yield "marketing", "qualified", ALL, card.qualified
    yield "marketing", "share meeting the definition", ALL, card.definition_share
    if card.commitment:
        month = card.commitment
        yield "marketing", "qualified this month", ALL, month.qualified
        yield "marketing", "commitment this month", ALL, month.committed
        yield "marketing", "due by now, pro rata", ALL, month.pro_rata
        yield "marketing", "verdict", ALL, month.verdict
    for name, source in sorted(card.sources.items()):
        yield "marketing", "acceptance rate", name, source.acceptance_rate
        for reason, count in sorted(source.rejected_by_reason.items()):
            yield "marketing", "rejected: " + str(agreement.feedback_label(reason)), name, count
    for code, count in sorted(card.missed_rules.items()):
        yield "marketing", "rule missed in practice: " + rules.label(code), ALL, count
    for kind, clock in sorted(card.clocks.items()):
        yield "sales", f"{kind} in time", ALL, clock.in_time
        yield "sales", f"{kind} late", ALL, clock.late
        yield "sales", f"{kind} share in time", ALL, clock.share_in_time
    for title, spreads in (("claim", card.time_to_claim), ("first contact", card.time_to_contact)):
        for seller, spread in sorted(spreads.items(), key=lambda item: item[0] != ALL):
            yield "sales", f"time to {title}, median (s)", seller, spread.median_seconds
            yield "sales", f"time to {title}, 95th percentile (s)", seller, spread.p95_seconds
    for seller in sorted(set(card.breaches_this_week) | set(card.breaches_last_week)):
        yield "sales", "breaches this week", seller, card.breaches_this_week.get(seller, 0)
        yield "sales", "breaches last week", seller, card.breaches_last_week.get(seller, 0)
    if card.card_delay is not None:
        yield "sales", "hand-over to card, median (s)", ALL, card.card_delay.median_seconds
        yield "sales", "hand-over to card, 95th percentile (s)", ALL, card.card_delay.p95_seconds
    yield "sales", "waiting for feedback", ALL, card.waiting_for_feedback
    yield "sales", "feedback overdue", ALL, card.feedback_overdue
    for reason, count in sorted(card.paused.items()):
        label = "a note" if reason == PAUSE_NOTE else agreement.pause.label(reason)
        yield "sales", "clocks paused: " + str(label), ALL, count
    applied = card.consequences
    yield "consequences", "leads reassigned", ALL, applied.reassigned
    yield "consequences", "leads nobody could take over", ALL, applied.not_reassigned
    for seller, count in sorted(applied.out_of_rotation.items()):
        yield "consequences", "taken out of rotation", seller, count
    for seller, count in sorted(applied.restored.items()):
        yield "consequences", "put back in rotation", seller, count
    yield "consequences", "weeks Marketing was behind", ALL, applied.shortfall_weeks
    for name, source in sorted(card.sources.items()):
        for stage in ("handed_over", "claimed", "contacted", "accepted", "won"):
            yield "funnel", stage.replace("_", " "), name, getattr(source, stage)


def _shown(figure: str, value: Any) -> str:
    if figure.endswith("(s)"):
        return wait(value)
    if "share" in figure or "rate" in figure:
        return share(value)
    return str(value)


def _table(card: Scorecard, agreement: Agreement, title: str, unqualified: dict[str, int]) -> None:
    sides = {
        "marketing": "Marketing",
        "sales": "Sales",
        "consequences": "Consequences",
        "funnel": "Funnel by source",
    }
    for side, heading in sides.items():
        table = Table(title=f"{heading}, {title}")
        for name in ("figure", "who / source", "value"):
            table.add_column(name, justify="right" if name == "value" else "left")
        for row_side, figure, group, value in figures(card, agreement):
            if row_side == side:
                # Text, never markup: a source or a reason is Marketing's own words.
                table.add_row(
                    Text(figure.removesuffix(" (s)")), Text(group), Text(_shown(figure, value))
                )
        out.print(table)
    if card.empty:
        out.print(f"No leads were handed over {title}.")
    if unqualified:
        reasons = Table(title="Why leads were returned to nurture")
        reasons.add_column("rule")
        reasons.add_column("leads", justify="right")
        for rule, count in sorted(unqualified.items(), key=lambda item: -item[1]):
            reasons.add_row(Text(rules.label(rule)), str(count))
        out.print(reasons)


def report(
    since: Annotated[
        str | None, typer.Option(help="first day, like 2026-11-01 (default: this month's first)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="last day, included (default: today)")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """The two-sided scorecard and lead-quality report for the leads handed over in a period."""
    if format not in FORMATS:
        raise fail(f"--format {format!r} is not one of {', '.join(FORMATS)}")
    settings = read_settings(slack=False)
    agreement = read_agreement(settings)
    now = utcnow()
    start, end = period(agreement, since, until, now)
    ctx = open_context(settings, agreement)
    with ctx.sessions() as session:
        card = compute(session=session, agreement=agreement, since=start, until=end, now=now)
        unqualified = quality(session=session, agreement=agreement, since=start, until=end)
        won = won_deals(session=session, since=start, until=end)
    if format == "json":
        body = card.as_json() | {
            "unqualified_reasons": unqualified.unqualified_reasons,
            "won_deals": [vars(row) for row in won],
        }
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    elif format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(("side", "figure", "group", "value"))
        for side, figure, group, value in figures(card, agreement):
            writer.writerow((side, figure, group, "" if value is None else value))
        for code, count in sorted(unqualified.unqualified_reasons.items()):
            writer.writerow(("marketing", "returned to nurture: " + rules.label(code), ALL, count))
        for row in won:
            group = f"{row.source or 'unknown'} ({row.currency or 'no currency'})"
            writer.writerow(("funnel", "deals won in the CRM", group, row.deals))
            writer.writerow(("funnel", "value won in the CRM", group, row.value))
    else:
        last = (end - timedelta(days=1)).date().isoformat()
        title = f"{start.date().isoformat()} to {last}"
        _table(card, agreement, title, unqualified.unqualified_reasons)
        _won(won)


def _won(won: list[WonDeals]) -> None:
    """What Marketing's leads became in the CRM: the figure that shows what its leads are worth."""
    if not won:
        return
    deals = Table(title="Deals won in the CRM, by the source of their lead")
    deals.add_column("source")
    deals.add_column("deals", justify="right")
    deals.add_column("value", justify="right")
    for row in won:
        value = f"{row.value:,.0f} {row.currency or ''}".strip()
        deals.add_row(Text(row.source or "unknown"), str(row.deals), value)
    out.print(deals)
