"""The process environment, read once at start-up (a `.env` file is read too)."""

from pathlib import Path

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HINTS = {
    "slack_bot_token": "set SLACK_BOT_TOKEN to the bot token (xoxb-…) from your Slack app's "
    "OAuth & Permissions page",
    "slack_signing_secret": "set SLACK_SIGNING_SECRET to the signing secret from your Slack "
    "app's Basic Information page",
    "slack_app_token": "SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write",
    "database_url": "set DATABASE_URL to sqlite:///baton.db or postgresql+psycopg://user@host/db",
}


class SettingsError(Exception):
    """A setting is missing or wrong; the message says what to set."""


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

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value


def load_settings(*, slack: bool = True, **overrides: object) -> Settings:
    """Read the environment, turning pydantic's report into one line per problem.

    `slack=False` is for commands that only touch the database (import, report).
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "settings"
            hint = HINTS.get(field, problem["msg"])
            if problem["type"] != "missing":
                hint = f"{field.upper()} {problem['msg'].removeprefix('Value error, ')}"
            lines.append(hint)
        raise SettingsError("; ".join(lines)) from None
    if slack and not settings.slack_bot_token:
        raise SettingsError(HINTS["slack_bot_token"])
    if slack and not settings.slack_signing_secret and not settings.slack_app_token:
        raise SettingsError(HINTS["slack_signing_secret"])
    return settings
