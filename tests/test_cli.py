"""`baton` on the command line: check, import, report, outbox retry."""

import csv
import json
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from typer.testing import CliRunner

from bot import cards
from bot.agreement_file import parse_agreement
from bot.demo.slack_standin import FakeSlack
from bot.service.cli import cli
from storage.db import make_engine, session_factory, transaction
from storage.models import Lead, Outbox, source_key
from tests import support
from tests.support import AGREEMENT

ROOT = Path(__file__).resolve().parent.parent

COLUMNS = "external_id|name|email|company|title|country|industry|employees|buying_stage|activity"
ACTIVITY = json.dumps([{"at": "2026-11-20T09:12:00Z", "kind": "webinar", "detail": "Industry 4.0"}])
LINES = (
    # line 2: qualified, with a behaviour history
    f"crm-1|Mette Hansen|mette@nordlys.dk|Nordlys|CIO|DK|software|240|problem_aware|{ACTIVITY}",
    # line 3: qualified
    "crm-2|Sven Berg|sven@berg.se|Berg AB|Group CIO|SE|software|900|ready_to_buy|",
    # line 4: valid but not qualified (country)
    "crm-3|Joe Bloggs|joe@acme.com|Acme Inc|CIO|US|software|300|ready_to_buy|",
    # line 5: invalid (email)
    "crm-4|Bad Email|not-an-email|Broken ApS|CIO|DK|software|300|ready_to_buy|",
)
ROWS = [line.split("|") for line in LINES]


SETTINGS = (
    *("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL"),
    *("DATABASE_URL", "BATON_AGREEMENT", "BATON_INTAKE_TOKEN", "BATON_SLACK_CHANNEL_RATE"),
)


@pytest.fixture
def env(tmp_path: Path, slack: FakeSlack) -> dict[str, str]:
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-secret",
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
        "BATON_AGREEMENT": str(agreement),
        "COLUMNS": "200",
    }


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # No `.env` of the developer's may leak into a test.
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def flat(text: str) -> str:
    """Rich wraps at the terminal width; compare words, not line breaks."""
    return " ".join(text.split())


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS.split("|"))
        writer.writerows(rows)
    return path


def stored_leads(env: dict[str, str]) -> list[Lead]:
    engine = make_engine(env["DATABASE_URL"])
    try:
        with session_factory(engine)() as session:
            return list(session.exec(select(Lead).order_by(Lead.name)))
    finally:
        engine.dispose()


def test_check_prints_the_agreement(runner: CliRunner, env: dict[str, str]):
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "Europe/Copenhagen" in result.stdout
    assert "claim_within: 1h" in result.stdout
    assert "- 'NO'" in result.stdout or "- NO" in result.stdout
    assert "All good." in result.stdout


def test_check_reports_every_error_with_its_line(runner: CliRunner, env: dict[str, str]):
    broken = AGREEMENT.replace("claim_within: 1h", "claim_within: 4 hours").replace(
        "notify: ceo", "notify: cfo"
    )
    Path(env["BATON_AGREEMENT"]).write_text(broken, encoding="utf-8")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code != 0
    assert "All good." not in result.output
    path = env["BATON_AGREEMENT"]
    claim_line = next(n for n, line in enumerate(broken.splitlines(), 1) if "4 hours" in line)
    notify_line = next(n for n, line in enumerate(broken.splitlines(), 1) if "cfo" in line)
    output = flat(result.output)
    assert f"{path}:{claim_line}: sla.claim_within:" in output
    assert f"{path}:{notify_line}: sla.escalation.1.notify:" in output
    assert "2 problem(s)" in output
    assert "Traceback" not in result.output


def test_check_without_bot_token_says_what_to_set(runner: CliRunner, env: dict[str, str]):
    del env["SLACK_BOT_TOKEN"]
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if "SLACK_BOT_TOKEN" in line]
    assert len(lines) == 1
    assert "set SLACK_BOT_TOKEN" in lines[0]


def test_check_with_an_empty_bot_token_says_what_to_set(runner: CliRunner, env: dict[str, str]):
    """`SLACK_BOT_TOKEN=` left empty in a .env counts as not set."""
    env["SLACK_BOT_TOKEN"] = ""
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "set SLACK_BOT_TOKEN" in result.stderr


@pytest.mark.parametrize("variable", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"])
def test_check_with_a_wrong_token_says_what_is_wrong(
    runner: CliRunner, env: dict[str, str], variable: str
):
    env[variable] = "not-a-token"
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert variable in result.stderr


def test_import_hands_over_and_names_the_bad_line(
    runner: CliRunner, env: dict[str, str], tmp_path: Path
):
    leads_csv = write_csv(tmp_path / "leads.csv", ROWS)
    result = runner.invoke(cli, ["import", str(leads_csv)], env=env)
    assert result.exit_code == 1, result.output
    output = flat(result.output)
    assert "3 handed over (2 qualified, 1 returned to nurture)" in output
    assert "0 already known, 1 invalid" in output
    assert "line 5: email:" in output
    assert "Traceback" not in result.output

    stored = stored_leads(env)
    assert [lead.name for lead in stored] == ["Joe Bloggs", "Mette Hansen", "Sven Berg"]
    by_name = {lead.name: lead for lead in stored}
    assert by_name["Mette Hansen"].qualified
    assert by_name["Mette Hansen"].stage == "handed_over"
    assert by_name["Mette Hansen"].activity[0]["kind"] == "webinar"
    assert by_name["Mette Hansen"].handed_over_by == "csv"
    assert by_name["Sven Berg"].qualified
    assert not by_name["Joe Bloggs"].qualified
    assert by_name["Joe Bloggs"].stage == "unqualified"
    assert by_name["Joe Bloggs"].reasons[0]["facts"]["country"] == "US"


def test_import_again_reports_already_known(runner: CliRunner, env: dict[str, str], tmp_path: Path):
    leads_csv = write_csv(tmp_path / "leads.csv", ROWS[:3])
    first = runner.invoke(cli, ["import", str(leads_csv)], env=env)
    assert first.exit_code == 0, first.output
    assert "3 handed over" in flat(first.output)
    again = runner.invoke(cli, ["import", str(leads_csv)], env=env)
    assert again.exit_code == 0, again.output
    assert "0 handed over" in flat(again.output)
    assert "3 already known" in flat(again.output)
    assert len(stored_leads(env)) == 3


def test_import_bad_activity_json(runner: CliRunner, env: dict[str, str], tmp_path: Path):
    row = [*ROWS[0][:-1], "[not json"]
    leads_csv = write_csv(tmp_path / "leads.csv", [row])
    result = runner.invoke(cli, ["import", str(leads_csv)], env=env)
    assert result.exit_code == 1
    assert "line 2: activity: is not JSON" in flat(result.output)
    assert stored_leads(env) == []


def test_import_without_slack_settings(runner: CliRunner, env: dict[str, str], tmp_path: Path):
    """Importing only touches the database: no Slack token is needed."""
    del env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"]
    leads_csv = write_csv(tmp_path / "leads.csv", ROWS[:1])
    result = runner.invoke(cli, ["import", str(leads_csv)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 handed over" in flat(result.output)


def test_import_missing_file(runner: CliRunner, env: dict[str, str], tmp_path: Path):
    result = runner.invoke(cli, ["import", str(tmp_path / "nope.csv")], env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_report_prints_the_scorecard(runner: CliRunner, env: dict[str, str], tmp_path: Path):
    leads_csv = write_csv(tmp_path / "leads.csv", ROWS[:3])
    assert runner.invoke(cli, ["import", str(leads_csv)], env=env).exit_code == 0
    engine = make_engine(env["DATABASE_URL"])
    with transaction(session_factory(engine)) as session:  # the courier posts the two cards
        qualified = [lead for lead in stored_leads(env) if lead.qualified]
        for lead, seconds in zip(qualified, (0.4, 30.0), strict=True):
            at = lead.received_at + timedelta(seconds=seconds)
            cards.shown(
                session=session, agreement=parse_agreement(AGREEMENT), lead_id=lead.id, at=at
            )
        source = "[/oops] fair"  # Marketing's own words, never read as markup
        session.execute(  # with its key, as an insert would have stored it
            update(Lead)
            .where(col(Lead.id) == qualified[0].id)
            .values(source=source, source_key=source_key(source))
        )
    engine.dispose()
    result = runner.invoke(cli, ["report"], env=env)
    assert result.exit_code == 0, result.output
    output = flat(result.stdout.replace("│", " ").replace("┃", " "))
    assert "acceptance rate [/oops] fair no leads" in output
    assert "handed over all 3" in output
    assert "qualified all 2" in output
    assert "share meeting the definition all 67%" in output
    assert "commitment this month all 8" in output
    assert "country 1" in output
    assert "claim share in time all no leads" in output  # both clocks still run
    assert "hand-over to card, median all 15s" in output
    assert "hand-over to card, 95th percentile all 30s" in output

    as_json = runner.invoke(cli, ["report", "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert (body["handed_over"], body["qualified"]) == (3, 2)
    assert body["commitment"]["committed"] == 8
    assert body["unqualified_reasons"] == {"geography": 1}
    assert body["clocks"]["claim"] == {
        "in_time": 0,
        "late": 0,
        "running": 2,
        "share_in_time": None,
    }

    as_csv = runner.invoke(cli, ["report", "--format", "csv"], env=env)
    assert as_csv.exit_code == 0, as_csv.output
    table = list(csv.reader(as_csv.stdout.splitlines()))
    assert table[0] == ["side", "figure", "group", "value"]
    assert ["marketing", "qualified", "all", "2"] in table
    assert ["funnel", "handed over", "unknown", "2"] in table
    assert ["funnel", "handed over", "[/oops] fair", "1"] in table


def test_report_on_an_empty_period_says_no_leads(runner: CliRunner, env: dict[str, str]):
    period = ["--since", "2026-01-01", "--until", "2026-01-31"]
    result = runner.invoke(cli, ["report", *period], env=env)
    assert result.exit_code == 0, result.output
    output = flat(result.stdout.replace("│", " "))
    assert "2026-01-01 to 2026-01-31" in output
    assert "handed over all 0" in output
    assert "share meeting the definition all no leads" in output
    assert "No leads were handed over" in output
    body = json.loads(runner.invoke(cli, ["report", *period, "--format", "json"], env=env).stdout)
    assert body["empty"] is True
    assert body["definition_share"] is None


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--since", "2026-13-01"], "--since '2026-13-01' is not a date like 2026-11-23"),
        (["--until", "yesterday"], "--until 'yesterday' is not a date like 2026-11-23"),
        (
            ["--since", "2026-11-30", "--until", "2026-11-01"],
            "--since 2026-11-30 is after --until 2026-11-01",
        ),
        (["--format", "xml"], "--format 'xml' is not one of table, csv, json"),
    ],
)
def test_report_refuses_a_bad_option_in_one_line(
    runner: CliRunner, env: dict[str, str], options: list[str], says: str
):
    result = runner.invoke(cli, ["report", *options], env=env)
    assert result.exit_code == 2
    assert flat(result.stderr) == f"baton: {says}"


def test_history_shows_every_event_of_a_lead(runner: CliRunner, env: dict[str, str], tmp_path):
    leads_csv = write_csv(tmp_path / "leads.csv", ROWS[:1])
    assert runner.invoke(cli, ["import", str(leads_csv)], env=env).exit_code == 0
    (lead,) = stored_leads(env)
    engine = make_engine(env["DATABASE_URL"])
    with transaction(session_factory(engine)) as session:
        at = lead.received_at + timedelta(seconds=3)
        cards.shown(session=session, agreement=parse_agreement(AGREEMENT), lead_id=lead.id, at=at)
    engine.dispose()
    by_email = runner.invoke(cli, ["history", "METTE@nordlys.dk"], env=env)
    assert by_email.exit_code == 0, by_email.output
    output = flat(by_email.stdout.replace("│", " "))
    assert f"Mette Hansen, Nordlys ({lead.id}), now handed_over" in output
    assert output.index("handed over") < output.index("card posted")
    assert "qualified: True" in output
    by_id = runner.invoke(cli, ["history", lead.id], env=env)
    assert flat(by_id.stdout.replace("│", " ")) == output


def test_history_of_no_lead_is_one_line(runner: CliRunner, env: dict[str, str]):
    result = runner.invoke(cli, ["history", "nobody@example.com"], env=env)
    assert result.exit_code == 2
    assert flat(result.stderr) == "baton: no lead has the email address or id 'nobody@example.com'"


def test_outbox_retry_on_an_empty_database(runner: CliRunner, env: dict[str, str]):
    result = runner.invoke(cli, ["outbox", "retry"], env=env)
    assert result.exit_code == 0, result.output
    assert "0 message(s) queued again" in flat(result.stdout)


def test_outbox_retry_requeues_dead_messages(
    runner: CliRunner, env: dict[str, str], tmp_path: Path
):
    leads_csv = write_csv(tmp_path / "leads.csv", ROWS[:1])
    assert runner.invoke(cli, ["import", str(leads_csv)], env=env).exit_code == 0
    engine = make_engine(env["DATABASE_URL"])
    try:
        with session_factory(engine)() as session, session.begin():
            rows = list(session.exec(select(Outbox)))
            assert rows
            for row in rows:
                row.next_attempt_at = None
                row.attempts = 99
                row.error = "channel_not_found"
    finally:
        engine.dispose()
    result = runner.invoke(cli, ["outbox", "retry"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{len(rows)} message(s) queued again" in flat(result.stdout)


def test_broken_agreement_stops_report(runner: CliRunner, env: dict[str, str]):
    Path(env["BATON_AGREEMENT"]).write_text(AGREEMENT + "colour: blue\n", encoding="utf-8")
    result = runner.invoke(cli, ["report"], env=env)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "colour: is not a key of the agreement" in flat(result.stderr)


def test_missing_agreement_says_to_set_it(runner: CliRunner, env: dict[str, str], tmp_path):
    env["BATON_AGREEMENT"] = str(tmp_path / "missing.yml")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code != 0
    assert "BATON_AGREEMENT" in flat(result.stderr)
    assert "Traceback" not in result.output


def test_python_dash_m_bot_help():
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLACK_")}
    done = support.run_bot("--help", env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for command in ("run", "check", "import", "report", "outbox"):
        assert command in done.stdout


def test_settle_takes_what_exists_out_of_the_collectors_sight():
    import gc

    from bot.service.runtime import settle

    try:
        settle()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


# settings, the database and Slack, as `baton check` and every command see them --------------


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """`baton run` installs its log handler on the root logger; take it away afterwards."""
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_run_names_every_missing_setting_at_once(
    runner: CliRunner, env: dict[str, str], restored_logging
):
    del env["SLACK_BOT_TOKEN"], env["SLACK_SIGNING_SECRET"]
    env["DATABASE_URL"] = "nonsense"
    result = runner.invoke(cli, ["run"], env=env)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith('DATABASE_URL "nonsense" is not a database URL: use sqlite:///')
    assert lines[1].startswith("set SLACK_BOT_TOKEN to the bot token")
    assert lines[2].startswith("set SLACK_SIGNING_SECRET to the signing secret")
    assert lines[3] == "baton: 3 settings to fix"
    assert "listens" not in result.output


def test_a_wrong_token_is_named_once(runner: CliRunner, env: dict[str, str]):
    env["SLACK_BOT_TOKEN"] = "not-a-token"
    result = runner.invoke(cli, ["run"], env=env)
    assert result.exit_code == 2
    assert flat(result.stderr) == "baton: SLACK_BOT_TOKEN is not a Slack bot token (xoxb-…)"


COMMANDS = [
    ["run"],
    ["check"],
    ["import", "leads.csv"],
    ["report"],
    ["outbox", "retry"],
    ["forget", "mette@nordlys.dk", "--yes"],
]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense", 'DATABASE_URL "nonsense" is not a database URL: use sqlite:///baton.db'),
        ("mysql://baton@db/baton", "DATABASE_URL names mysql, which Baton does not run on: use"),
        ("postgresql+psycopg2://db/b", "uses the driver psycopg2, which Baton does not install"),
        (
            "sqlite:///{tmp}/no/such/folder/baton.db",
            "DATABASE_URL puts the SQLite file in {tmp}/no/such/folder, which does not exist: "
            "create that folder or point DATABASE_URL at one that does",
        ),
    ],
)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_a_database_url_baton_cannot_use_is_one_line_for_every_command(
    runner: CliRunner,
    env: dict[str, str],
    tmp_path: Path,
    restored_logging,
    url: str,
    says: str,
    command: list[str],
):
    write_csv(tmp_path / "leads.csv", ROWS[:1])
    env["DATABASE_URL"] = url.format(tmp=tmp_path)
    result = runner.invoke(cli, command, env=env)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    named = [line for line in result.stderr.splitlines() if "DATABASE_URL" in line]
    assert len(named) == 1, result.stderr
    assert says.format(tmp=tmp_path) in flat(named[0])
    assert "Traceback" not in result.output
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("command", COMMANDS[2:], ids=lambda command: command[0])
def test_a_database_that_does_not_answer_is_one_line(
    runner: CliRunner, env: dict[str, str], tmp_path: Path, command: list[str]
):
    write_csv(tmp_path / "leads.csv", ROWS[:1])
    env["DATABASE_URL"] = "postgresql://baton:secret@127.0.0.1:1/baton"
    result = runner.invoke(cli, command, env=env)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "baton: cannot open the database postgresql+psycopg://baton:***@127.0.0.1:1/baton: "
    )
    assert line.endswith("check DATABASE_URL and that the database server runs")
    assert "secret" not in result.output


@pytest.fixture
def db_env(env: dict[str, str], database_url: str) -> dict[str, str]:
    return {**env, "DATABASE_URL": database_url}


def test_check_says_when_the_database_does_not_exist_yet(runner: CliRunner, env: dict[str, str]):
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "b.db does not exist yet; `baton run` creates it with its tables." in flat(result.stdout)
    assert not Path(env["DATABASE_URL"].removeprefix("sqlite:///")).exists()


def test_check_says_whether_the_schema_is_current(runner: CliRunner, db_env: dict[str, str]):
    from alembic import command

    from storage import db

    engine = make_engine(db_env["DATABASE_URL"])
    try:
        with engine.connect():  # a PostgreSQL schema exists already; a SQLite file now does
            pass
        empty = runner.invoke(cli, ["check"], env=db_env)
        assert empty.exit_code == 0, empty.output
        assert "has no tables yet; `baton run` migrates it on start (by hand: alembic -c " in (
            flat(empty.stdout)
        )
        command.upgrade(db._alembic_config(engine), "0003")
        behind = runner.invoke(cli, ["check"], env=db_env)
        assert behind.exit_code == 0, behind.output
        _, head, _ = db.schema_state(engine)
        assert f"schema at 0003, Baton needs {head}; `baton run` migrates it on start" in flat(
            behind.stdout
        )
        db.migrate(engine)
        current = runner.invoke(cli, ["check"], env=db_env)
        assert current.exit_code == 0, current.output
        assert f"schema current ({head})." in flat(current.stdout)
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_future'")
        ahead = runner.invoke(cli, ["check"], env=db_env)
        assert ahead.exit_code == 2
        assert "has schema 0099_future, which this Baton does not know" in flat(ahead.stderr)
    finally:
        engine.dispose()


def test_check_says_the_bot_is_in_both_channels(
    runner: CliRunner, env: dict[str, str], slack: FakeSlack
):
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "Slack: the bot is a member of the sales and the marketing channel." in flat(
        result.stdout
    )
    asked = {call.params["channel"] for call in slack.calls_to("conversations.info")}
    assert asked == {"C0SALES", "C0MKTG"}


def test_check_names_a_channel_the_bot_is_not_in(
    runner: CliRunner, env: dict[str, str], slack: FakeSlack
):
    slack.remove_bot("C0MKTG")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    path = env["BATON_AGREEMENT"]
    line = next(n for n, text in enumerate(AGREEMENT.splitlines(), 1) if "C0MKTG" in text)
    assert (
        f"{path}:{line}: channels.marketing: the bot is not a member of C0MKTG: invite it there "
        f"with /invite @Baton" in flat(result.stderr)
    )
    assert "C0SALES" not in result.stderr


def test_check_names_a_private_channel_the_bot_cannot_see(
    runner: CliRunner, env: dict[str, str], slack: FakeSlack
):
    Path(env["BATON_AGREEMENT"]).write_text(AGREEMENT.replace("C0SALES", "G0SALES"), "utf-8")
    slack.remove_bot("G0SALES")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    assert "channels.sales: Slack knows no channel G0SALES that the bot can see" in flat(
        result.stderr
    )


@pytest.mark.parametrize(
    ("error", "exit_code", "says"),
    [
        ("invalid_auth", 2, "Slack refuses SLACK_BOT_TOKEN (invalid_auth): copy the Bot User"),
        ("missing_scope", 0, "the app lacks the channels:read and groups:read scopes"),
    ],
)
def test_check_says_what_slack_answered(
    runner: CliRunner, env: dict[str, str], slack: FakeSlack, error: str, exit_code: int, says
):
    slack.fail("conversations.info", error, times=2)
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == exit_code, result.output
    assert flat(result.output).count(says) == 1


def test_check_says_when_slack_cannot_be_reached(runner: CliRunner, env: dict[str, str]):
    env["SLACK_API_URL"] = "http://127.0.0.1:1/api/"
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    [line, summary] = result.stderr.strip().splitlines()
    assert line.startswith("cannot reach Slack at http://127.0.0.1:1/api/: ")
    assert summary == "baton: 1 problem(s) found"


def test_check_names_an_agreement_that_cannot_work(runner: CliRunner, env: dict[str, str]):
    text = AGREEMENT.replace("countries: [DK, SE, NO]", "countries: [Denmark, SE, NO]")
    Path(env["BATON_AGREEMENT"]).write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    line = next(n for n, text in enumerate(text.splitlines(), 1) if "Denmark" in text)
    assert (
        f'{env["BATON_AGREEMENT"]}:{line}: qualified_lead.countries: "Denmark" is not a '
        f"country code: write DK" in flat(result.stderr)
    )


def test_check_notes_a_clock_without_a_reminder(runner: CliRunner, env: dict[str, str]):
    text = AGREEMENT.replace("remind_before: 30m", "remind_before: 1h")
    Path(env["BATON_AGREEMENT"]).write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert (
        "note: sla.remind_before 1h is as long as claim_within 1h: the claim clock sends no "
        "reminder." in flat(result.stdout)
    )


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["run", "--port", "99999"], "'--port'"),
        (["run", "--port", "0"], "'--port'"),
    ],
)
def test_an_option_out_of_range_is_refused(
    runner: CliRunner, env: dict[str, str], restored_logging, command: list[str], option: str
):
    result = runner.invoke(cli, command, env=env)
    assert result.exit_code == 2
    assert f"Invalid value for {option}" in result.output
    assert "listens" not in result.output
    assert "scorecard" not in result.output


@pytest.mark.parametrize("key", ["a\x00b@x.dk", "\udaba@x.dk", "x" * 1001])
def test_history_of_text_no_lead_can_have_is_one_line(
    runner: CliRunner, env: dict[str, str], key: str
):
    result = runner.invoke(cli, ["history", key], env=env)
    assert result.exit_code == 2
    assert "no lead has the email address or id" in result.stderr
