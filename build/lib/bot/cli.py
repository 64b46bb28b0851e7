"""`baton`: run the bot, check the setup, import leads, show the scorecard, forget a person."""

import getpass
import logging
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from bot import checks, logs, privacy
from bot.agreement import Agreement, AgreementError, load_agreement
from bot.clock import utcnow
from bot.context import Context
from bot.csvfile import CsvError, CsvFile, NothingToImport, open_csv
from bot.durations import humanize, wait
from bot.importing import INVALID, KNOWN, NEW, Import, Outcome, checking_process
from bot.reports import scorecard, week
from bot.settings import Settings, SettingsError, check_settings, load_settings
from bot.slack import channel_rate, make_client, posting_time
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
SCREENFUL = 20
"""More cards than fit on a screen of the sales channel: `baton import` asks first."""


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]baton:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _say(console: Console, line: str) -> None:
    """A line that may hold the user's own text: printed as it is, never read as markup."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _problems(problems: list[str], summary: str) -> typer.Exit:
    """Every problem on a line of its own, then one line to end on (exit 2)."""
    if len(problems) == 1:
        return _fail(problems[0])
    for problem in problems:
        _say(err, problem)
    return _fail(summary.format(count=len(problems)))


def _settings(*, slack: bool) -> Settings:
    try:
        return load_settings(slack=slack)
    except SettingsError as error:
        raise _problems(error.problems, "{count} settings to fix") from None


def _agreement(settings: Settings) -> Agreement:
    try:
        return load_agreement(settings.baton_agreement)
    except AgreementError as error:
        for problem in error.problems:
            _say(err, problem)
        raise _fail(f"the agreement in {error.path} has {len(error.problems)} problem(s)") from None


def _database_error(url: object, error: SQLAlchemyError) -> typer.Exit:
    return _fail(
        f"cannot open the database {url!r}: {checks.one_line(error)}; check DATABASE_URL and "
        f"that the database server runs"
    )


def _context(settings: Settings, agreement: Agreement) -> Context:
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except SQLAlchemyError as error:
        raise _database_error(engine.url, error) from None
    return Context(agreement=agreement, sessions=session_factory(engine))


@cli.command()
def run(
    host: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on, 1-65535")] = 3000,
) -> None:
    """Serve Slack and the intake API, keep the clocks, deliver messages."""
    import uvicorn

    from bot.app import create_app
    from bot.runtime import build, settle
    from bot.server import CannotListen, Server, listening_socket

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
        listening = listening_socket(host, port)
    except CannotListen as error:
        raise _fail(str(error)) from None
    try:
        runtime = build(settings, _agreement(settings))
    except SettingsError as error:
        raise _problems(error.problems, "{count} settings to fix") from None
    try:
        runtime.start()
    except SQLAlchemyError as error:
        raise _database_error(runtime.engine.url, error) from None
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

    def listens() -> None:
        out.print(f"Baton listens on http://{host}:{port} (Slack: {slack}, intake: /api/leads)")
        waiting = runtime.clockwork.next_clock()
        if waiting is None or waiting.next_at is None:
            out.print("No deadlines pending.")
        else:
            out.print(
                f"Next deadline: the {waiting.kind} clock of lead {waiting.lead_id} needs "
                f"attention at {runtime.renderer.when(waiting.next_at)}."
            )

    settle()
    # uvicorn's own logging config would replace the JSON lines; the app logs each request,
    # and uvicorn's start-up lines say what "Baton listens" says.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", log_config=None, access_log=False
    )
    Server(config, on_start=listens).run(sockets=[listening])
    out.print("Baton stopped.")


@cli.command()
def demo(
    port: Annotated[int, typer.Option(min=0, max=65535, help="the page's port")] = 3000,
    speed: Annotated[float, typer.Option(min=1, help="how many times faster the clock runs")] = 60,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="only print the URL")] = False,
) -> None:
    """Try Baton without Slack: the real Baton, a Slack stand-in and a page to act in."""
    from bot.demo.run import DemoFailed, demo

    try:
        demo(port=port, speed=speed, browser=not no_browser, say=lambda line: _say(out, line))
    except DemoFailed as error:
        raise _fail(str(error)) from None


@cli.command()
def check() -> None:
    """Check the environment, the agreement, the database and Slack; print the agreement."""
    try:
        settings, problems = check_settings(slack=True)
    except SettingsError as error:
        raise _problems(error.problems, "{count} problems found") from None
    try:
        channel_rate()
    except SettingsError as error:
        problems += error.problems
    agreement = None
    try:
        agreement = load_agreement(settings.baton_agreement)
    except AgreementError as error:
        problems.extend(error.problems)
    else:
        out.print(f"# the agreement in effect ({settings.baton_agreement})", highlight=False)
        dump = agreement.model_dump(mode="json", exclude_none=True)
        out.print(yaml.safe_dump(dump, sort_keys=False, allow_unicode=True), highlight=False)
        for clock in agreement.unreminded():
            _say(
                out,
                f"note: sla.remind_before {agreement.sla.remind_before} is as long as "
                f"{clock}_within {getattr(agreement.sla, f'{clock}_within')}: the {clock} clock "
                f"sends no reminder.",
            )
    findings = (
        []
        if any(p.startswith("DATABASE_URL") for p in problems)
        else [checks.database(settings.database_url)]
    )
    if agreement is not None and settings.slack_bot_token:
        findings.append(
            checks.slack_channels(make_client(settings), agreement, settings.baton_agreement)
        )
    for found in findings:
        for note in found.notes:
            _say(out, note)
        problems += found.problems
    if problems:
        for problem in problems:
            _say(err, problem)
        raise _fail(f"{len(problems)} problem(s) found")
    out.print("All good.")


@cli.command(name="import")
def import_csv(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the CSV export, with a header")
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="check every row, say what would happen, store nothing"),
    ] = False,
    delimiter: Annotated[
        str | None,
        typer.Option(help="what separates the columns: , ; or tab (default: found in the file)"),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="the file's encoding (default: UTF-8 with or without BOM, else cp1252)"),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask before queueing over 20 cards")
    ] = False,
) -> None:
    """Hand over leads from a CSV export: columns as in POST /api/leads, in any letter case.

    Comma, semicolon or tab, found from the header; UTF-8 with or without a BOM, UTF-16
    with one, else Windows-1252 (Excel's CSV). A lead already open (the same email at the
    same company) or with a known external_id is reported as already known, not handed over
    again. Before queueing more than 20 cards it says how long they take to post and asks.
    """
    settings = _settings(slack=False)
    ctx = _context(settings, _agreement(settings))
    try:
        source = open_csv(file, encoding=encoding, delimiter=delimiter)
    except NothingToImport as empty:
        _say(err, f"warning: {empty}")
        return
    except CsvError as error:
        raise _fail(str(error)) from None
    for note in source.notes:
        _say(err, f"note: {note}")
    try:
        with checking_process(source.size) as checker:
            if not dry_run and not yes:
                _ask_before_many_cards(ctx, source, checker)
            run = Import(ctx, dry_run=dry_run, checker=checker)
            began = time.monotonic()
            _go_through(run, source, dry_run=dry_run)
            seconds = time.monotonic() - began
    except CsvError as error:  # found on the way (a file that stops decoding), after the rest
        raise _fail(str(error)) from None
    tally = run.tally
    if not tally.rows:
        _say(err, f"warning: {file.name} has a header but no rows: nothing to import")
        return
    counts = (
        f"({tally.qualified} qualified, {tally.handed_over - tally.qualified} returned to "
        f"nurture), {tally.known} already known, {tally.invalid} invalid"
    )
    rate = f"; {tally.rows:,} rows in {seconds:.1f} s, {tally.rows / seconds:,.0f} a second"
    rate = rate if seconds >= 1 else ""
    if dry_run:
        _say(
            out,
            f"Dry run, nothing stored: {tally.handed_over} would be handed over {counts}{rate}.",
        )
    else:
        _say(out, f"{tally.handed_over} handed over {counts}{rate}.")
        if tally.qualified:
            _say(
                out,
                f"The running `baton run` delivers their {tally.qualified:,} card(s): "
                f"{_pace(tally.qualified)}.",
            )
    if tally.invalid:
        raise typer.Exit(1)


def _go_through(run: Import, source: CsvFile, *, dry_run: bool) -> None:
    """Every row, with a line for each invalid one, and in a dry run for every row."""
    with _progress(source, "Checking" if dry_run else "Handing over") as advance:
        for outcome in run.run(source.rows()):
            advance()
            if outcome.verdict == INVALID:
                for reason in outcome.reasons:
                    _say(err, f"line {outcome.line}: {reason}")
            elif dry_run:
                print(_would(outcome))  # plain: rich takes a tenth of a millisecond a line


def _would(outcome: Outcome) -> str:
    lead = outcome.lead
    assert lead is not None
    who = f"{lead.name} <{lead.email}> at {lead.company}"
    if outcome.verdict == KNOWN:
        known = f" as lead {outcome.known_as}" if outcome.known_as else ""
        return f"line {outcome.line}: {who} is already known{known}: not handed over again"
    assert outcome.verdict == NEW
    if outcome.qualified:
        return (
            f"line {outcome.line}: would hand over {who}: qualified, a card for the sales channel"
        )
    reasons = "; ".join(outcome.reasons)
    return (
        f"line {outcome.line}: would hand over {who}: not qualified ({reasons}), back to Marketing"
    )


def _pace(cards: int) -> str:
    """How long `cards` cards take at the courier's pace, said the way a person would."""
    seconds = posting_time(cards).total_seconds()
    if seconds < 90:
        about = f"about {max(1, round(seconds))} second(s)"
    elif seconds < 2 * 3600:
        about = f"about {round(seconds / 60)} minutes"
    else:
        about = f"about {seconds / 3600:.1f} hours"
    return f"{about} to post at Slack's pace of {channel_rate():g} a second"


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask_before_many_cards(ctx: Context, source: CsvFile, checker: Executor | None) -> None:
    """Check the file first; ask before queueing more cards than a screen of the channel.

    Cards go out at Slack's pace, so a big file is a long queue; its leads' clocks wait for
    their cards, and a person should choose that knowingly. Without a terminal to ask on,
    only --yes goes ahead."""
    check = Import(ctx, dry_run=True, checker=checker)
    with _progress(source, "Checking") as advance:
        for _ in check.run(source.rows()):
            advance()
    cards = check.tally.qualified
    if cards <= SCREENFUL:
        return
    question = f"{cards:,} cards will take {_pace(cards)}"
    if not _interactive():
        raise _fail(
            f"{question}; nothing was handed over. Run it again with --yes to go ahead (there "
            f"is no terminal to ask on)"
        )
    if not typer.confirm(f"{question}; continue?", default=False):
        _say(out, "Nothing was handed over.")
        raise typer.Exit(1)


class _Rows(ProgressColumn):
    """Rows so far and their rate: the file's size is known, its number of rows is not."""

    def render(self, task: Task) -> Text:
        rows = task.fields.get("rows", 0)
        elapsed = task.elapsed or 0
        rate = f" · {rows / elapsed:,.0f} rows/s" if elapsed > 0.5 else ""
        return Text(f"{rows:,} rows{rate}")


@contextmanager
def _progress(source: CsvFile, doing: str) -> Iterator[Callable[[], None]]:
    """A bar over the file's bytes, with the rows and their rate; `advance()` once a row."""
    with Progress(
        TextColumn(f"{doing}…"),
        BarColumn(),
        TaskProgressColumn(),
        _Rows(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task(doing, total=source.size, rows=0)
        rows = 0

        def advance() -> None:
            nonlocal rows
            rows += 1
            if rows % 100 == 0:
                progress.update(task, completed=source.position, rows=rows)

        yield advance
        progress.update(task, completed=source.size, rows=rows)


@cli.command()
def report(
    days: Annotated[int, typer.Option(min=1, help="how many days back to look, 1 or more")] = 7,
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
