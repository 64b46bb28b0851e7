"""The process environment, read once at start-up (a `.env` file is read too).

Every problem is named at once, each as one line that says what to set: someone starting
Baton for the first time should fix the whole environment in one go, not one variable a run.
"""

from pathlib import Path

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

HINTS = {
    "slack_bot_token": "set SLACK_BOT_TOKEN to the bot token (xoxb-…) from your Slack app's "
    "OAuth & Permissions page",
    "slack_signing_secret": "set SLACK_SIGNING_SECRET to the signing secret from your Slack "
    "app's Basic Information page",
    "slack_app_token": "SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write",
    "database_url": "set DATABASE_URL to sqlite:///baton.db or postgresql+psycopg://user@host/db",
}
DATABASES = "sqlite:///baton.db (a file beside Baton) or postgresql+psycopg://user:password@host/db"


class SettingsError(Exception):
    """Settings are missing or wrong; `problems` has one line for each, saying what to set."""

    def __init__(self, message: str | list[str]) -> None:
        self.problems = [message] if isinstance(message, str) else list(message)
        super().__init__("; ".join(self.problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///baton.db"
    baton_agreement: Path = Path("agreement.yml")
    baton_intake_token: str | None = None

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if not value:  # `SLACK_BOT_TOKEN=` in a .env means not set
            return None
        if not value.startswith("xox"):
            raise ValueError("is not a Slack bot token (xoxb-…)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if not value:  # `SLACK_APP_TOKEN=` in a .env means not set
            return None
        if not value.startswith("xapp-"):
            raise ValueError("is not an app-level token (xapp-…)")
        return value or None

    @field_validator("slack_signing_secret", "baton_intake_token")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return database_url(value)


def database_url(value: str) -> str:
    """A URL Baton can open, or a ValueError that says what to set instead.

    Checked before an engine is made, because SQLAlchemy's own complaints (a parse error, a
    missing driver, `unable to open database file`) do not say which setting is wrong.
    """
    value = value.strip()
    if value.startswith(("postgresql://", "postgres://")):
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f'"{value}" is not a database URL: use {DATABASES}') from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver != "psycopg":
        raise ValueError(
            f"uses the driver {driver}, which Baton does not install: write postgresql+psycopg://…"
        )
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"names {backend}, which Baton does not run on: use {DATABASES}")
    if backend == "sqlite" and url.database and url.database != ":memory:":
        uri = str(url.query.get("uri", "")).lower() in ("true", "1")
        folder = Path(url.database).expanduser().resolve().parent
        if not uri and not folder.is_dir():
            raise ValueError(
                f"puts the SQLite file in {folder}, which does not exist: create that folder "
                f"or point DATABASE_URL at one that does"
            )
    return value


def _problems(error: ValidationError) -> tuple[list[str], set[str]]:
    lines, fields = [], set()
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "settings"
        fields.add(field)
        if problem["type"] == "missing":
            lines.append(HINTS.get(field, f"set {field.upper()}"))
        else:
            lines.append(f"{field.upper()} {problem['msg'].removeprefix('Value error, ')}")
    return lines, fields


def read_settings(**overrides: object) -> tuple[Settings, list[str]]:
    """The settings, with every wrong one named and replaced by its default.

    `baton check` goes on with what it has (the agreement, the database) and reports all of it.
    """
    try:
        return Settings(**overrides), []  # type: ignore[arg-type]
    except ValidationError as error:
        problems, fields = _problems(error)
    defaults = {name: Settings.model_fields[name].default for name in fields}
    try:
        return Settings(**{**overrides, **defaults}), problems  # type: ignore[arg-type]
    except ValidationError as error:  # only a default that is itself refused (no such folder)
        more, _ = _problems(error)
        raise SettingsError(problems + [p for p in more if p not in problems]) from None


def slack_problems(settings: Settings) -> list[str]:
    """What `baton run` needs to talk to Slack and is not set."""
    problems = []
    if not settings.slack_bot_token:
        problems.append(HINTS["slack_bot_token"])
    if not settings.slack_signing_secret and not settings.slack_app_token:
        problems.append(HINTS["slack_signing_secret"])
    return problems


def check_settings(*, slack: bool = True, **overrides: object) -> tuple[Settings, list[str]]:
    """The settings (wrong ones at their defaults) and every problem with them, one line each.

    `slack=False` is for commands that only touch the database (import, report).
    """
    settings, problems = read_settings(**overrides)
    if slack:
        # A wrong token is already named ("SLACK_BOT_TOKEN is not …"); not also as missing.
        named = {problem.split()[0] for problem in problems}
        problems += [p for p in slack_problems(settings) if p.split()[1] not in named]
    return settings, problems


def load_settings(*, slack: bool = True, **overrides: object) -> Settings:
    """Read the environment; raise SettingsError naming every problem, one line each."""
    settings, problems = check_settings(slack=slack, **overrides)
    if problems:
        raise SettingsError(problems)
    return settings
