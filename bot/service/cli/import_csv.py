"""`baton import`: hand over the leads of a CSV export, with a progress bar and a summary."""

import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
from rich.text import Text

from bot import wording
from bot.context import Context
from bot.csvfile import CsvError, CsvFile, NothingToImport, open_csv
from bot.importing import INVALID, KNOWN, NEW, Import, Outcome, checking_process
from bot.service.cli.common import (
    SCREENFUL,
    err,
    fail,
    open_context,
    out,
    read_agreement,
    read_settings,
    say,
)
from bot.slack.client import channel_rate, posting_time


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
    settings = read_settings(slack=False)
    ctx = open_context(settings, read_agreement(settings))
    try:
        source = open_csv(file, encoding=encoding, delimiter=delimiter)
    except NothingToImport as empty:
        say(err, f"warning: {empty}")
        return
    except CsvError as error:
        raise fail(str(error)) from None
    for note in source.notes:
        say(err, f"note: {note}")
    try:
        with checking_process(source.size) as checker:
            if not dry_run and not yes:
                _ask_before_many_cards(ctx, source, checker)
            run = Import(ctx, dry_run=dry_run, checker=checker)
            began = time.monotonic()
            _go_through(run, source, dry_run=dry_run)
            seconds = time.monotonic() - began
    except CsvError as error:  # found on the way (a file that stops decoding), after the rest
        raise fail(str(error)) from None
    tally = run.tally
    if not tally.rows:
        say(err, f"warning: {file.name} has a header but no rows: nothing to import")
        return
    counts = (
        f"({tally.qualified} qualified, {tally.handed_over - tally.qualified} returned to "
        f"nurture), {tally.known} already known, {tally.invalid} invalid"
    )
    rate = f"; {tally.rows:,} rows in {seconds:.1f} s, {tally.rows / seconds:,.0f} a second"
    rate = rate if seconds >= 1 else ""
    if dry_run:
        say(
            out,
            f"Dry run, nothing stored: {tally.handed_over} would be handed over {counts}{rate}.",
        )
    else:
        say(out, f"{tally.handed_over} handed over {counts}{rate}.")
        if tally.qualified:
            say(
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
                    say(err, f"line {outcome.line}: {reason}")
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
    reasons = "; ".join(wording.reasons(outcome.reasons))
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
        raise fail(
            f"{question}; nothing was handed over. Run it again with --yes to go ahead (there "
            f"is no terminal to ask on)"
        )
    if not typer.confirm(f"{question}; continue?", default=False):
        say(out, "Nothing was handed over.")
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
