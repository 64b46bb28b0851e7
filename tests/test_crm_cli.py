"""The CRMs on the command line: `baton check` tries each CRM token it is given, against the
local HubSpot and Pipedrive fakes, and says in one line each whether it works; `baton report`
shows the deals won from Marketing's leads."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import wins
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.demo.slack_standin import FakeSlack
from bot.intake import hand_over
from bot.schemas import LeadIn
from bot.service.cli import cli
from bot.service.settings import Settings
from storage.db import make_engine, migrate, session_factory
from tests import fake_hubspot, fake_pipedrive
from tests.support import AGREEMENT, lead


@pytest.fixture
def hubspot() -> Iterator[fake_hubspot.FakeHubSpot]:
    with fake_hubspot.FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def pipedrive() -> Iterator[fake_pipedrive.FakePipedrive]:
    with fake_pipedrive.FakePipedrive() as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, slack: FakeSlack, hubspot, pipedrive) -> dict[str, str]:
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-secret",
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
        "BATON_AGREEMENT": str(agreement),
        "HUBSPOT_TOKEN": fake_hubspot.TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "PIPEDRIVE_API_TOKEN": fake_pipedrive.TOKEN,
        "PIPEDRIVE_API_URL": pipedrive.url,
        "COLUMNS": "200",
    }


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return CliRunner()


def test_check_says_each_crm_token_works(runner, env, hubspot, pipedrive):
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "HubSpot: HUBSPOT_TOKEN works" in result.stdout
    assert "Pipedrive: PIPEDRIVE_API_TOKEN works" in result.stdout
    assert hubspot.made("GET", r"/crm/v3/owners/?") and pipedrive.made("GET", "/v1/users/me")


def test_check_names_each_refused_token_on_one_line(runner, env):
    env["HUBSPOT_TOKEN"] = "pat-eu1-revoked"
    env["PIPEDRIVE_API_TOKEN"] = "revoked"
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    (hubspot,) = [line for line in lines if "HUBSPOT_TOKEN" in line]
    (pipedrive,) = [line for line in lines if "PIPEDRIVE_API_TOKEN" in line]
    assert hubspot.startswith(
        "HUBSPOT_TOKEN: HubSpot refused it (GET /crm/v3/objects/contacts: 401"
    )
    assert pipedrive.startswith("PIPEDRIVE_API_TOKEN: Pipedrive refused it (GET /v1/users/me: 401")


def test_check_says_a_crm_it_cannot_reach_is_to_be_tried_again(runner, env, hubspot):
    hubspot.fail("5xx")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    assert "HubSpot cannot be reached to check HUBSPOT_TOKEN" in result.stderr


def test_check_wants_both_halves_of_pipedrives_basic_auth(runner, env):
    env["PIPEDRIVE_WEBHOOK_USER"] = "baton"
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    assert "set both PIPEDRIVE_WEBHOOK_USER and PIPEDRIVE_WEBHOOK_PASSWORD" in result.stderr


def test_report_shows_the_deals_won_by_source(runner, env):
    engine = make_engine(env["DATABASE_URL"])
    migrate(engine)
    ctx = Context(agreement=parse_agreement(AGREEMENT), sessions=session_factory(engine))
    for n, (source, value) in enumerate([("webinar", 240000), ("webinar", 60000), ("ads", 5)]):
        handed = hand_over(ctx, LeadIn(**lead(external_id=f"e{n}", source=source)), by="api")
        deal = wins.Deal("hubspot", str(n), (f"e{n}",), (), float(value), "DKK")
        assert wins.deal_won(ctx, deal) == handed.lead.id
    engine.dispose()
    result = runner.invoke(cli, ["report"], env=env)
    assert result.exit_code == 0, result.output
    output = " ".join(result.stdout.replace("│", " ").split())
    assert "Deals won in the CRM, by the source of their lead" in output
    assert "webinar 2 300,000 DKK" in output and "ads 1 5 DKK" in output
