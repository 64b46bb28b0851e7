"""What every command shares: the consoles, one-line failures (exit 2), settings, agreement
and database opened with each problem said once."""

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from bot.agreement import Agreement
from bot.agreement_file import AgreementError, load_agreement
from bot.context import Context
from bot.findings import one_line
from bot.service.addresses import ADDRESSES
from bot.service.settings import Settings, SettingsError, load_settings
from storage.db import make_engine, migrate, session_factory

out = Console()
err = Console(stderr=True)
SCREENFUL = 20
"""More cards than fit on a screen of the sales channel: `baton import` asks first."""


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]baton:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def say(console: Console, line: str) -> None:
    """A line that may hold the user's own text: printed as it is, never read as markup."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def fail_all(problems: list[str], summary: str) -> typer.Exit:
    """Every problem on a line of its own, then one line to end on (exit 2)."""
    if len(problems) == 1:
        return fail(problems[0])
    for problem in problems:
        say(err, problem)
    return fail(summary.format(count=len(problems)))


def read_settings(*, slack: bool) -> Settings:
    try:
        return load_settings(slack=slack)
    except SettingsError as error:
        raise fail_all(error.problems, "{count} settings to fix") from None


def read_agreement(settings: Settings) -> Agreement:
    try:
        return load_agreement(settings.baton_agreement, addresses=ADDRESSES)
    except AgreementError as error:
        for problem in error.problems:
            say(err, problem)
        raise fail(f"the agreement in {error.path} has {len(error.problems)} problem(s)") from None


def database_error(url: object, error: SQLAlchemyError) -> typer.Exit:
    return fail(
        f"cannot open the database {url!r}: {one_line(error)}; check DATABASE_URL and "
        f"that the database server runs"
    )


def open_context(settings: Settings, agreement: Agreement) -> Context:
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except SQLAlchemyError as error:
        raise database_error(engine.url, error) from None
    return Context(agreement=agreement, sessions=session_factory(engine))
