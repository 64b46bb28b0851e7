"""`platform: teams` from the command line: `baton check`'s lines for the Teams settings and
whom Baton cannot reach yet, `baton run` refusing to start without them, the agreement's
Teams ids, and `baton teams-package`."""

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from bot.agreement_file import AgreementError, parse_agreement
from bot.service.addresses import ADDRESSES
from bot.service.cli import cli
from storage import conversations
from storage.db import make_engine, migrate, session_factory, transaction
from tests.fake_teams import FakeTeams
from tests.support import AGREEMENT
from tests.teams_support import MANAGER, SALES, SELLERS, TEAMS_AGREEMENT, teams_environment

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "schemas" / "teams-manifest.schema.1.19.json"
SETTINGS = (
    *("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL"),
    *("DATABASE_URL", "BATON_AGREEMENT", "BATON_INTAKE_TOKEN", "BATON_PUBLIC_URL"),
    *("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID", "TEAMS_TOKEN_URL"),
    *("TEAMS_OPENID_URL", "TEAMS_LOGIN_URL", "TEAMS_SERVICE_URL", "TEAMS_GRAPH_URL"),
)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.fixture
def env(tmp_path: Path, teams: FakeTeams) -> dict[str, str]:
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(TEAMS_AGREEMENT, encoding="utf-8")
    return {
        **teams_environment(teams),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
        "BATON_AGREEMENT": str(agreement),
        "COLUMNS": "200",
    }


def flat(text: str) -> str:
    return " ".join(text.split())


def test_check_asks_for_the_teams_settings_not_slacks(runner: CliRunner, env: dict[str, str]):
    for name in ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID"):
        del env[name]
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = result.stderr.splitlines()
    for name in ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID"):
        assert len([line for line in errors if f"set {name}" in line]) == 1, name
    assert "SLACK" not in result.stderr


def test_check_says_the_app_gets_its_token_and_whom_it_cannot_reach(
    runner: CliRunner, env: dict[str, str]
):
    engine = make_engine(env["DATABASE_URL"])
    migrate(engine)
    with transaction(session_factory(engine)) as session:
        conversations.remember_person(
            session,
            "teams",
            SELLERS[0],
            at=datetime.now(UTC),
            account_id="29:1a",
            conversation_id="a:1x",
        )
    engine.dispose()
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    output = flat(result.stdout)
    assert f"Teams: the app {env['TEAMS_APP_ID']} gets its token from Microsoft Entra." in output
    assert "signing keys are published" in output
    assert "Teams has not told Baton of this channel yet" in output
    unreachable = next(line for line in result.stdout.splitlines() if "no 1:1 with" in line)
    assert MANAGER in unreachable and SELLERS[1] in unreachable
    assert SELLERS[0] not in unreachable
    assert "All good." in result.stdout


def test_check_names_a_wrong_secret_in_one_line(runner: CliRunner, env: dict[str, str]):
    env["TEAMS_APP_PASSWORD"] = "wrong"
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if "gives the app no token" in line]
    assert len(lines) == 1
    assert "TEAMS_APP_PASSWORD" in lines[0]


def test_run_without_the_teams_settings_is_one_line_per_setting(
    runner: CliRunner, env: dict[str, str]
):
    del env["TEAMS_APP_PASSWORD"]
    result = runner.invoke(cli, ["run", "--port", "1"], env=env)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0
    assert "set TEAMS_APP_PASSWORD" in result.stderr


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        ("sales_manager", "U0MANAGER", "is a Slack ID, and the agreement says platform: teams"),
        ("sales_manager", "29:1abcdef", "not their Entra object ID"),
        ("sales_manager", "19:abc@thread.tacv2", "is a channel's ID, not a person's"),
        ("channel", "C0SALES", "is a Slack ID"),
        ("channel", "#sales", "is a channel name"),
        ("channel", MANAGER, "is a team's or a person's ID, not a channel's"),
    ],
)
def test_a_teams_agreement_refuses_ids_of_the_wrong_kind_at_their_place(where, value, says):
    if where == "sales_manager":
        text = TEAMS_AGREEMENT.replace(
            f"  sales_manager: {MANAGER}\n", f'  sales_manager: "{value}"\n'
        )
    else:
        text = TEAMS_AGREEMENT.replace(f'sales: "{SALES}"', f'sales: "{value}"')
    assert text != TEAMS_AGREEMENT
    with pytest.raises(AgreementError) as refused:
        parse_agreement(text, addresses=ADDRESSES)
    (problem,) = refused.value.problems
    assert says in problem
    assert ("people.sales_manager" if where == "sales_manager" else "channels.sales") in problem


def test_a_teams_agreement_takes_emails_guids_in_any_case_and_slack_stays_the_default():
    text = TEAMS_AGREEMENT.replace(MANAGER, MANAGER.upper()).replace(
        f"ceo: {'0c0e0000-0000-4000-8000-00000000000c'}", "ceo: Anna@Example.dk"
    )
    agreement = parse_agreement(text, addresses=ADDRESSES)
    assert (agreement.platform, agreement.people.sales_manager) == ("teams", MANAGER)
    assert agreement.people.ceo == "anna@example.dk"
    assert parse_agreement(AGREEMENT, addresses=ADDRESSES).platform == "slack"
    with pytest.raises(AgreementError) as refused:
        parse_agreement(AGREEMENT + "platform: discord\n", addresses=ADDRESSES)
    assert "platform" in refused.value.problems[0]


def test_teams_package_writes_a_package_teams_takes(runner: CliRunner, tmp_path: Path):
    app_id = "8f4f4b6e-2f6a-4f1e-9a57-3b1d7c0e5a21"
    out = tmp_path / "baton.zip"
    result = runner.invoke(
        cli,
        ["teams-package", "--out", str(out), "--domain", "baton.example.com"],
        env={"TEAMS_APP_ID": app_id, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
    schema = json.loads(SCHEMA.read_text())
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(manifest))
    assert not errors, [e.message for e in errors]
    assert manifest["bots"][0]["botId"] == app_id
    assert manifest["validDomains"] == ["baton.example.com"]
    assert manifest["developer"]["privacyUrl"] == "https://baton.example.com"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "set TEAMS_APP_ID"),
        ({"TEAMS_APP_ID": "8f4f4b6e-2f6a-4f1e-9a57-3b1d7c0e5a21"}, "give --domain"),
    ],
)
def test_teams_package_without_what_it_needs_is_one_line(
    runner: CliRunner, tmp_path: Path, env: dict[str, str], says: str
):
    result = runner.invoke(cli, ["teams-package", "--out", str(tmp_path / "x.zip")], env=env)
    assert result.exit_code == 2
    assert says in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x.zip").exists()
