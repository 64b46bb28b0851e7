"""`baton`: run the bot, check the agreement, import leads, show the scorecard, forget a person."""

import csv
import getpass
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sqlalchemy.exc import OperationalError

from bot import intake, logs, privacy
from bot.agreement import Agreement, AgreementError, load_agreement
from bot.clock import utcnow
from bot.context import Context
from bot.durations import humanize, wait
from bot.reports import scorecard, week
from bot.schemas import LeadIn
from bot.settings import Settings, SettingsError, load_settings
from storage import outbox
from storage.db import make_engine, migrate, session_factory, transaction

cli = typer.Typer(
    name="baton",
    help="Baton keeps the agreement between Sales and Marketing about leads.",
    no_args_is_help=True,
    add_completion=False,
)
outbox_cli = typer.Typer(help="Look after Slack messages Baton could not deliver.")
cli.add_typer(outbox_cli, name="outbox")
out = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]baton:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _settings(*, slack: bool) -> Settings:
    try:
        return load_settings(slack=slack)
    except SettingsError as error:
        raise _fail(str(error)) from None


def _agreement(settings: Settings) -> Agreement:
    try:
        return load_agreement(settings.baton_agreement)
    except AgreementError as error:
        for problem in error.problems:
            err.print(problem, highlight=False, soft_wrap=True)
        raise _fail(f"the agreement in {error.path} has {len(error.problems)} problem(s)") from None


def _context(settings: Settings, agreement: Agreement) -> Context:
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except OperationalError as error:
        raise _fail(f"cannot open the database {engine.url!r}: {error.orig}") from None
    return Context(agreement=agreement, sessions=session_factory(engine))


@cli.command()
def run(
    host: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="port to listen on")] = 3000,
) -> None:
    """Serve Slack and the intake API, keep the clocks, deliver messages."""
    import uvicorn

    from bot.app import create_app
    from bot.runtime import build, settle

    settings = _settings(slack=True)
    logs.setup(
        level=logging.INFO,
        secrets=[
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.baton_intake_token,
        ],
    )
    try:
        runtime = build(settings, _agreement(settings))
    except SettingsError as error:
        raise _fail(str(error)) from None
    try:
        runtime.start()
    except OperationalError as error:
        raise _fail(f"cannot open the database {runtime.engine.url!r}: {error.orig}") from None
    app = create_app(runtime)
    if settings.slack_app_token:
        from bot.app import connect_socket_mode

        try:
            connect_socket_mode(runtime)
        except SettingsError as error:
            runtime.stop()
            raise _fail(str(error)) from None
        out.print("Socket Mode connected.")
    if not settings.baton_intake_token:
        err.print("BATON_INTAKE_TOKEN is not set: POST /api/leads will refuse every request.")
    # Without a signing secret, Slack comes over Socket Mode only: nothing to verify HTTP with.
    slack = "/slack/events" if settings.slack_signing_secret else "Socket Mode only"
    out.print(f"Baton listens on http://{host}:{port} (Slack: {slack}, intake: /api/leads)")
    waiting = runtime.clockwork.next_clock()
    if waiting is None or waiting.next_at is None:
        out.print("No deadlines pending.")
    else:
        out.print(
            f"Next deadline: the {waiting.kind} clock of lead {waiting.lead_id} needs attention "
            f"at {runtime.renderer.when(waiting.next_at)}."
        )
    settle()
    # uvicorn's own logging config would replace the JSON lines; the app logs each request.
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None, access_log=False)


@cli.command()
def check() -> None:
    """Validate the environment and the agreement; print the agreement in effect."""
    problems = []
    try:
        settings = load_settings(slack=True)
    except SettingsError as error:
        problems.append(str(error))
        try:
            settings = load_settings(slack=False)
        except SettingsError:
            raise _fail(str(error)) from None
    try:
        agreement = load_agreement(settings.baton_agreement)
    except AgreementError as error:
        problems.extend(error.problems)
    else:
        out.print(f"# the agreement in effect ({settings.baton_agreement})", highlight=False)
        dump = agreement.model_dump(mode="json", exclude_none=True)
        out.print(yaml.safe_dump(dump, sort_keys=False, allow_unicode=True), highlight=False)
    if problems:
        for problem in problems:
            err.print(problem, highlight=False, soft_wrap=True)
        raise _fail(f"{len(problems)} problem(s) found")
    out.print("All good.")


@cli.command(name="import")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a header")],
) -> None:
    """Hand over leads from a CSV export (columns as in POST /api/leads)."""
    settings = _settings(slack=False)
    ctx = _context(settings, _agreement(settings))
    with file.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    created = known = unqualified = 0
    invalid: list[str] = []
    for number, row in enumerate(track(rows, description="Handing over…", console=err), start=2):
        fields = {
            key.strip(): value for key, value in row.items() if key and value not in ("", None)
        }
        if "activity" in fields:
            try:
                fields["activity"] = json.loads(fields["activity"])
            except json.JSONDecodeError:
                invalid.append(f"line {number}: activity: is not JSON")
                continue
        try:
            lead = LeadIn.model_validate(fields)
        except ValidationError as error:
            for problem in error.errors():
                where = ".".join(str(part) for part in problem["loc"])
                invalid.append(f"line {number}: {where}: {problem['msg']}")
            continue
        result = intake.hand_over(ctx, lead, by="csv")
        created += result.created
        known += not result.created
        unqualified += result.created and not result.lead.qualified
    for problem in invalid:
        err.print(problem, highlight=False, soft_wrap=True)
    out.print(
        f"{created} handed over ({created - unqualified} qualified, {unqualified} returned to "
        f"nurture), {known} already known, {len({p.split(':')[0] for p in invalid})} invalid."
    )
    if created:
        out.print("Cards go out to Slack from the running `baton run`.")
    if invalid:
        raise typer.Exit(1)


@cli.command()
def report(
    days: Annotated[int, typer.Option(help="how many days back to look")] = 7,
) -> None:
    """The SLA scorecard and lead-quality report."""
    settings = _settings(slack=False)
    agreement = _agreement(settings)
    ctx = _context(settings, agreement)
    since = utcnow() - timedelta(days=days)
    with ctx.sessions() as session:
        card = scorecard(session=session, agreement=agreement, since=since)
        sla = week(session=session, agreement=agreement, since=since)
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
        table.add_row(f"  rejected: {reason}", str(count))
    out.print(table)
    if card.unqualified_reasons:
        reasons = Table(title="Why leads were returned to nurture")
        reasons.add_column("rule")
        reasons.add_column("leads", justify="right")
        for rule, count in sorted(card.unqualified_reasons.items(), key=lambda item: -item[1]):
            reasons.add_row(rule, str(count))
        out.print(reasons)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "cli"


@cli.command()
def forget(
    email: Annotated[str, typer.Argument(help="the person's email address, in any letter case")],
    by: Annotated[
        str | None, typer.Option(help="who asked for it, for the record (default: your login)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask before erasing")] = False,
) -> None:
    """Erase a person's personal data: their leads stay, anonymised, for the scorecard."""
    settings = _settings(slack=False)
    ctx = _context(settings, _agreement(settings))
    if "@" not in email.strip(" @"):
        raise _fail(f"{email!r} is not an email address")
    found = privacy.matching(ctx, email=email)
    if not found:
        out.print("No lead has that email address: nothing to erase.")
        return
    if not yes:
        typer.confirm(
            f"Erase the personal data of {found} lead(s)? This cannot be undone", abort=True
        )
    erased = privacy.forget(ctx, email=email, by=by or _login())
    out.print(
        f"Forgot {len(erased.lead_ids)} lead(s): {', '.join(erased.lead_ids)}. "
        f'{erased.cards} lead card(s) and {erased.rewritten} other message(s) will read "removed '
        f'on request" once `baton run` delivers the updates; {erased.cancelled} queued '
        f"message(s) will not be sent.",
        highlight=False,
    )
    if erased.left:
        out.print(
            f"{len(erased.left)} message(s) Baton posted about them still show their data in "
            "Slack; delete them there by hand (channel, or user for a DM, and message ts):",
            highlight=False,
        )
        for message in erased.left:
            out.print(f"  {message.kind:<6} {message.channel or '?'} {message.ts}", highlight=False)


@outbox_cli.command("retry")
def outbox_retry() -> None:
    """Queue again every Slack message that was given up on."""
    settings = _settings(slack=False)
    ctx = _context(settings, _agreement(settings))
    with transaction(ctx.sessions) as session:
        count = outbox.retry_dead(session=session, now=utcnow())
    out.print(f"{count} message(s) queued again; a running `baton run` delivers them.")


def main() -> None:
    cli()
