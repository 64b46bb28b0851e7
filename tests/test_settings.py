"""The environment: every problem named at once, and a `.env.example` that lists it all."""

from pathlib import Path

import pytest

from bot.service.settings import HINTS, Settings, SettingsError, check_settings, load_settings
from bot.slack.client import _Pace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [*Settings.model_fields, *_Pace.model_fields]:
        monkeypatch.delenv(name.upper(), raising=False)


def assignments() -> dict[str, int]:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    return {
        line.split("=", 1)[0]: n for n, line in enumerate(lines) if "=" in line and line[0] != "#"
    }


def test_env_example_names_every_setting_with_a_comment():
    expected = {name.upper() for name in [*Settings.model_fields, *_Pace.model_fields]}
    found = assignments()
    assert set(found) == expected
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for name, n in found.items():
        assert lines[n - 1].startswith("# "), f"{name} has no comment above it"


def test_env_example_as_it_is_asks_only_for_the_secrets():
    settings, problems = check_settings(_env_file=EXAMPLE)
    assert problems == [HINTS["slack_bot_token"], HINTS["slack_signing_secret"]]
    assert settings.database_url == "sqlite:///baton.db"
    assert _Pace(_env_file=EXAMPLE).baton_slack_channel_rate == 1


def test_every_problem_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings(slack=True, slack_app_token="nope", database_url="mysql://x@y/z")
    assert caught.value.problems == [
        "SLACK_APP_TOKEN is not an app-level token (xapp-…)",
        "DATABASE_URL names mysql, which Baton does not run on: use sqlite:///baton.db (a file "
        "beside Baton) or postgresql+psycopg://user:password@host/db",
        HINTS["slack_bot_token"],
        HINTS["slack_signing_secret"],
    ]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite:///baton.db", "sqlite:///baton.db"),
    ],
)
def test_database_urls_baton_can_open(given: str, kept: str):
    assert load_settings(slack=False, database_url=given).database_url == kept
