"""The process environment, read once at start-up (a `.env` file is read too).

Every problem is named at once, each as one line that says what to set: someone starting
Baton for the first time should fix the whole environment in one go, not one variable a run.
"""

from pathlib import Path

import yaml
from pydantic import ValidationError, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.misconfigured import SettingsError
from bot.teams.endpoints import TeamsEndpoints

HINTS = {
    "slack_bot_token": "set SLACK_BOT_TOKEN to the bot token (xoxb-…) from your Slack app's "
    "OAuth & Permissions page",
    "slack_signing_secret": "set SLACK_SIGNING_SECRET to the signing secret from your Slack "
    "app's Basic Information page",
    "slack_app_token": "SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write",
    "database_url": "set DATABASE_URL to sqlite:///baton.db or postgresql+psycopg://user@host/db",
    "teams_app_id": "set TEAMS_APP_ID to the Application (client) ID of the bot's Microsoft "
    "Entra app registration (platform: teams)",
    "teams_app_password": "set TEAMS_APP_PASSWORD to a client secret of that app registration "
    "(its Certificates & secrets page; platform: teams)",
    "teams_tenant_id": "set TEAMS_TENANT_ID to the Directory (tenant) ID on the app "
    "registration's Overview page (platform: teams)",
}
TOKEN_KINDS = {
    "slack_bot_token": ("xox", "is not a Slack bot token (xoxb-…)"),
    "slack_app_token": ("xapp-", "is not an app-level token (xapp-…)"),
}
"""How each Slack token starts, and what a value that starts otherwise is not."""
DATABASES = "sqlite:///baton.db (a file beside Baton) or postgresql+psycopg://user:password@host/db"


class Settings(TeamsEndpoints):
    """Everything Baton reads from the environment; the Teams app's identity and Microsoft's
    addresses (`TEAMS_…`) are `TeamsEndpoints`', so the settings are the Teams clients' too."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///baton.db"
    baton_agreement: Path = Path("agreement.yml")
    baton_intake_token: str | None = None
    baton_public_url: str | None = None
    hubspot_client_secret: str | None = None
    hubspot_token: str | None = None
    hubspot_api_url: str = "https://api.hubapi.com"
    pipedrive_webhook_user: str | None = None
    pipedrive_webhook_password: str | None = None
    pipedrive_api_token: str | None = None
    pipedrive_api_url: str = "https://api.pipedrive.com"

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:  # `SLACK_BOT_TOKEN=` in a .env means not set
            return None
        prefix, problem = TOKEN_KINDS[str(info.field_name)]
        if not value.startswith(prefix):
            raise ValueError(problem)
        return value

    @field_validator(
        "slack_signing_secret",
        "baton_intake_token",
        "hubspot_client_secret",
        "hubspot_token",
        "pipedrive_webhook_user",
        "pipedrive_webhook_password",
        "pipedrive_api_token",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("baton_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """The address the CRMs are given for Baton, without a trailing slash; HubSpot signs
        the URL it calls, so behind a proxy Baton must know it to check the signature."""
        if not value:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError(
                "is not a URL: give Baton's public address, like https://baton.example.com"
            )
        return value.rstrip("/")

    def crm_problems(self) -> list[str]:
        """Settings of a CRM given by halves: a webhook Baton could not check or answer."""
        problems = []
        if bool(self.pipedrive_webhook_user) != bool(self.pipedrive_webhook_password):
            problems.append(
                "set both PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD (the HTTP Basic "
                "auth of Pipedrive's webhook), or neither"
            )
        if self.pipedrive_webhook_user and not self.pipedrive_api_token:
            problems.append(
                "set PIPEDRIVE_API_TOKEN: Baton reads the organization of each person Pipedrive "
                "sends"
            )
        return problems

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


def teams_problems(settings: Settings) -> list[str]:
    """What `baton run` needs to talk to Teams and is not set."""
    needed = ("teams_app_id", "teams_app_password", "teams_tenant_id")
    return [HINTS[name] for name in needed if not getattr(settings, name)]


def platform_of(settings: Settings) -> str:
    """The chat platform the agreement names (`platform:`), read before the agreement is
    checked so that the right settings are asked for; Slack when the file does not say."""
    try:
        data = yaml.safe_load(settings.baton_agreement.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "slack"  # the agreement's own check says what is wrong with the file
    platform = data.get("platform") if isinstance(data, dict) else None
    return platform if platform == "teams" else "slack"


def check_settings(
    *, slack: bool = True, platform: str | None = None, **overrides: object
) -> tuple[Settings, list[str]]:
    """The settings (wrong ones at their defaults) and every problem with them, one line each.

    `slack=False` is for commands that only touch the database (import, report); otherwise
    the settings of the agreement's chat platform (`platform`, else the agreement file's) are
    required, and the CRMs' are checked with them, for the commands that serve webhooks.
    """
    settings, problems = read_settings(**overrides)
    if slack:
        platform = platform or platform_of(settings)
        missing = teams_problems(settings) if platform == "teams" else slack_problems(settings)
        # A wrong value is already named ("SLACK_BOT_TOKEN is not …"); not also as missing.
        named = {problem.split()[0] for problem in problems}
        problems += [p for p in missing if p.split()[1] not in named]
        problems += settings.crm_problems()
    return settings, problems


def load_settings(
    *, slack: bool = True, platform: str | None = None, **overrides: object
) -> Settings:
    """Read the environment; raise SettingsError naming every problem, one line each."""
    settings, problems = check_settings(slack=slack, platform=platform, **overrides)
    if problems:
        raise SettingsError(problems)
    return settings
