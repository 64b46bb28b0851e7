"""`baton import` with the files people really have: Danish Excel, a second run of the same
file, broken quotes, and a dry run first. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, update
from typer.testing import CliRunner

import bot.importing
import bot.service.cli.import_csv
from bot.csvfile import open_csv
from bot.service.cli import cli
from storage.db import make_engine, session_factory, transaction
from storage.models import Lead, Outbox
from tests.support import AGREEMENT

HEADER = ["name", "email", "company", "title", "country", "industry", "employees", "buying_stage"]
METTE = ["Mette Hansen", "mette@nordlys.dk", "Nordlys Æble A/S", "CIO", "DK", "software", "240"]
SØREN = ["Søren Ørsted", "soren@oest.dk", "Øst Maskiner ApS", "IT manager", "DK", "software"]
JOE = ["Joe Bloggs", "joe@acme.com", "Acme Inc", "CIO", "US", "software", "300"]
ROWS = [
    [*METTE, "problem_aware"],
    [*SØREN, "900", "ready_to_buy"],
    [*JOE, "ready_to_buy"],  # valid, not qualified (country)
]
SETTINGS = (
    *("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL"),
    *("DATABASE_URL", "BATON_AGREEMENT", "BATON_INTAKE_TOKEN", "BATON_SLACK_CHANNEL_RATE"),
)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    return {
        "DATABASE_URL": database_url,
        "BATON_AGREEMENT": str(agreement),
        "COLUMNS": "200",
    }


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.fixture
def engine(env: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(env["DATABASE_URL"])
    yield engine
    engine.dispose()


def flat(text: str) -> str:
    return " ".join(text.split())


def table(rows: list[list[str]], *, header: list[str] = HEADER, delimiter: str = ",") -> str:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def excel(path: Path, rows: list[list[str]], *, header: list[str] = HEADER) -> Path:
    """What Danish Excel saves as "CSV (semikolonsepareret)": semicolons, Windows-1252."""
    path.write_bytes(table(rows, header=header, delimiter=";").encode("cp1252"))
    return path


def leads(engine: Engine) -> list[Lead]:
    with session_factory(engine)() as session:
        return list(session.execute(select(Lead).order_by(Lead.name)).scalars())


def outbox_rows(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return len(session.execute(select(Outbox.id)).all())


def invoke(runner: CliRunner, env: dict[str, str], *args: str, **kwargs):
    result = runner.invoke(cli, ["import", *args], env=env, **kwargs)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# the files people have ---------------------------------------------------------------------


def test_a_danish_excel_file_is_imported(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", ROWS)
    result = invoke(runner, env, str(file))
    assert result.exit_code == 0, result.output
    assert "3 handed over (2 qualified, 1 returned to nurture)" in flat(result.stdout)
    assert "read as Windows-1252 (cp1252)" in flat(result.stderr)
    names = {lead.name: lead for lead in leads(engine)}
    assert set(names) == {"Mette Hansen", "Søren Ørsted", "Joe Bloggs"}
    assert names["Mette Hansen"].company == "Nordlys Æble A/S"
    assert names["Søren Ørsted"].employees == 900
    assert names["Søren Ørsted"].handed_over_by == "csv"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_utf8_with_or_without_a_bom_and_any_delimiter(
    runner, env, engine, tmp_path, encoding: str, delimiter: str
):
    file = tmp_path / "leads.csv"
    file.write_bytes(table(ROWS, delimiter=delimiter).encode(encoding))
    result = invoke(runner, env, str(file))
    assert result.exit_code == 0, result.output
    assert "3 handed over" in flat(result.stdout)
    assert "note:" not in result.stderr
    assert {lead.name for lead in leads(engine)} == {"Mette Hansen", "Søren Ørsted", "Joe Bloggs"}


def test_headers_match_in_any_case_spacing_and_separator(runner, env, engine, tmp_path):
    header = [
        " Name",
        "E-Mail",
        "COMPANY",
        "Title",
        "country",
        "Industry",
        "employees",
        "Buying Stage",
    ]
    file = tmp_path / "leads.csv"
    file.write_bytes(
        table([[*ROWS[0], "crm-1", "x"]], header=[*header, "External ID", "Notes"]).encode()
    )
    result = invoke(runner, env, str(file))
    assert result.exit_code == 0, result.output
    assert "1 handed over (1 qualified" in flat(result.stdout)
    assert "columns Baton does not use were left out: Notes" in flat(result.stderr)
    [lead] = leads(engine)
    assert (lead.external_id, lead.buying_stage) == ("crm-1", "problem_aware")


def test_the_delimiter_and_the_encoding_can_be_given(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", ROWS)
    wrong = invoke(runner, env, str(file), "--delimiter", ",")
    assert wrong.exit_code == 2
    assert "has no name or email or company column" in flat(wrong.stderr)
    latin = invoke(runner, env, str(file), "--delimiter", "semicolon", "--encoding", "latin-1")
    assert latin.exit_code == 0, latin.output
    assert "note:" not in latin.stderr
    assert "Søren Ørsted" in {lead.name for lead in leads(engine)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--encoding", "klingon"], '"klingon" is not an encoding Python knows'),
        (["--encoding", "utf-8"], "line 2 is not utf-8 text"),
        (["--delimiter", "ab"], '--delimiter "ab" is not one character'),
    ],
)
def test_a_wrong_delimiter_or_encoding_is_one_line(runner, env, engine, tmp_path, args, message):
    file = excel(tmp_path / "leads.csv", ROWS)
    result = invoke(runner, env, str(file), *args)
    assert result.exit_code == 2
    assert message in flat(result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert leads(engine) == []


def test_a_file_in_no_known_encoding_says_to_give_one(runner, env, engine, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_bytes(table(ROWS).encode("cp1252") + b"Bad \x81 Byte,x@y.dk,Z\r\n")
    result = invoke(runner, env, str(file))
    assert result.exit_code == 2
    assert "is neither UTF-8 (line 2) nor Windows-1252 (line 5)" in flat(result.stderr)
    assert "--encoding" in result.stderr


def test_a_workbook_instead_of_csv_says_how_to_save_csv(runner, env, engine, tmp_path):
    import zipfile

    file = tmp_path / "leads.xlsx"
    with zipfile.ZipFile(file, "w") as workbook:
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    result = invoke(runner, env, str(file))
    assert result.exit_code == 2
    assert flat(result.stderr) == (
        'baton: leads.xlsx is a workbook (.xlsx), not CSV: in Excel, Save As "CSV UTF-8" and '
        "import that"
    )


def test_a_missing_column_is_named_once(runner, env, engine, tmp_path):
    header = [name for name in HEADER if name != "email"]
    rows = [[value for value in row if "@" not in value] for row in ROWS]
    file = excel(tmp_path / "leads.csv", rows, header=header)
    result = invoke(runner, env, str(file))
    assert result.exit_code == 2
    assert "has no email column" in flat(result.stderr)
    assert "the required columns are name, email, company" in flat(result.stderr)
    assert "line " not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert leads(engine) == []


def test_lines_are_the_lines_of_the_file(runner, env, engine, tmp_path):
    """A value over two lines counts as two: the next row's problem names its own line."""
    header = [*HEADER, "challenges"]
    rows = [
        [*ROWS[0], "Three plants,\nno shared quality data"],  # lines 2-3
        [*ROWS[1][:1], "not-an-email", *ROWS[1][2:], ""],  # line 4
        ["", "", "", "", "", "", "", "", ""],  # line 5: Excel's empty row
        [*ROWS[2], ""],  # line 6
    ]
    file = tmp_path / "leads.csv"
    file.write_bytes(table(rows, header=header).encode())
    result = invoke(runner, env, str(file))
    assert result.exit_code == 1
    assert "line 4: email: is not a valid email address" in flat(result.stderr)
    assert "2 handed over" in flat(result.stdout)
    assert "1 invalid" in flat(result.stdout)
    mette = next(lead for lead in leads(engine) if lead.name == "Mette Hansen")
    assert mette.challenges == "Three plants,\nno shared quality data"


def test_a_quote_left_open_does_not_swallow_rows_silently(runner, env, engine, tmp_path):
    lines = table(ROWS).splitlines()
    # line 3 opens a quote in the company and never closes it on that line; line 5 does
    lines[2] = lines[2].replace("Øst Maskiner ApS", '"Øst Maskiner ApS')
    lines.insert(3, "Bo Berg,bo@berg.se,Berg AB,CIO,SE,software,80,ready_to_buy")
    lines.append('Eva Lund,eva@lund.no,"Lund AS",CIO,NO,software,120,ready_to_buy')
    lines.append("Ida Dahl,ida@dahl.dk,Dahl ApS,CIO,DK,software,120,ready_to_buy")
    file = tmp_path / "leads.csv"
    file.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    result = invoke(runner, env, str(file))
    assert result.exit_code == 1
    assert (
        "line 3: a quote opened on line 3 is not closed until line 6, so lines 3–6 were read "
        "as one row" in flat(result.stderr)
    )
    assert {lead.name for lead in leads(engine)} == {"Mette Hansen", "Ida Dahl"}


def test_a_quote_never_closed_is_one_line(runner, env, engine, tmp_path):
    text = table(ROWS) + 'Bo Berg,bo@berg.se,"Berg AB,CIO,SE\r\n' + ("x" * 1000 + "\r\n") * 1100
    file = tmp_path / "leads.csv"
    file.write_bytes(text.encode())
    result = invoke(runner, env, str(file))
    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("line")]
    assert problems == [
        "line 5: a value longer than 1,000,000 characters: is a quote opened on this line and "
        "never closed? The rest of the file was not read"
    ]
    assert len(leads(engine)) == 3


def test_an_over_long_field_is_one_clear_line(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", [[ROWS[0][0], ROWS[0][1], "A" * 1200, *ROWS[0][3:]]])
    result = invoke(runner, env, str(file))
    assert result.exit_code == 1
    assert "line 2: company: 1,200 characters, at most 1,000" in flat(result.stderr)
    assert "AAAA" not in result.output


def test_more_values_than_columns(runner, env, engine, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_bytes(table([[*ROWS[0], "Nordlys, Vejle"]]).encode())
    result = invoke(runner, env, str(file))
    assert result.exit_code == 1
    assert "line 2: 9 values where the header has 8 columns: is there a comma" in flat(
        result.stderr
    )


@pytest.mark.parametrize(
    ("content", "warning"),
    [(b"", "is empty"), (b"\r\n", "has no header and no rows"), (None, "has a header but no")],
)
def test_an_empty_file_is_a_warning(runner, env, engine, tmp_path, content, warning):
    file = tmp_path / "leads.csv"
    file.write_bytes(table([]).encode() if content is None else content)
    result = invoke(runner, env, str(file))
    assert result.exit_code == 0, result.output
    assert f"warning: leads.csv {warning}" in flat(result.stderr)
    assert leads(engine) == []


def test_rows_are_read_as_they_are_needed(tmp_path):
    """The file is streamed: reading its first row does not read the whole file."""
    file = tmp_path / "leads.csv"
    file.write_bytes(table(ROWS * 20_000).encode())
    source = open_csv(file)
    rows = source.rows()
    first = next(rows)
    assert first.line == 2 and first.fields["name"] == "Mette Hansen"
    assert source.position < source.size / 10
    rows.close()


# repeats and the dry run -------------------------------------------------------------------


def test_the_same_file_twice_hands_over_nothing_twice(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", ROWS)
    assert invoke(runner, env, str(file)).exit_code == 0
    queued = outbox_rows(engine)
    again = invoke(runner, env, str(file))
    assert again.exit_code == 0, again.output
    assert "0 handed over" in flat(again.stdout)
    assert "3 already known" in flat(again.stdout)
    assert len(leads(engine)) == 3
    assert outbox_rows(engine) == queued


def test_a_repeat_is_the_same_email_in_any_case_at_the_same_company(runner, env, engine, tmp_path):
    assert invoke(runner, env, str(excel(tmp_path / "first.csv", ROWS[:1]))).exit_code == 0
    same = [ROWS[0][0], "METTE@Nordlys.DK", " nordlys  æble a/s", *ROWS[0][3:]]
    other_company = [ROWS[0][0], "mette@nordlys.dk", "Nordlys Holding", *ROWS[0][3:]]
    file = excel(tmp_path / "second.csv", [same, other_company, same])
    result = invoke(runner, env, str(file))
    assert result.exit_code == 0, result.output
    assert "1 handed over" in flat(result.stdout)
    assert "2 already known" in flat(result.stdout)
    assert sorted(lead.company for lead in leads(engine)) == ["Nordlys Holding", "Nordlys Æble A/S"]


def test_a_closed_or_forgotten_lead_is_no_repeat(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", ROWS[:2])
    assert invoke(runner, env, str(file)).exit_code == 0
    with transaction(session_factory(engine)) as session:
        session.execute(update(Lead).where(Lead.name == "Mette Hansen").values(stage="rejected"))
        session.execute(
            update(Lead).where(Lead.name == "Søren Ørsted").values(forgotten_at=Lead.received_at)
        )
    again = invoke(runner, env, str(file))
    assert "2 handed over" in flat(again.stdout)
    assert len(leads(engine)) == 4


def test_a_repeated_external_id_is_already_known(runner, env, engine, tmp_path):
    header = [*HEADER, "external_id"]
    rows = [[*ROWS[0], "crm-1"], [*ROWS[1], "crm-1"], [*ROWS[2], "crm-3"]]
    file = excel(tmp_path / "leads.csv", rows, header=header)
    result = invoke(runner, env, str(file))
    assert "2 handed over" in flat(result.stdout)
    assert "1 already known" in flat(result.stdout)
    again = invoke(runner, env, str(file))
    assert "0 handed over" in flat(again.stdout)
    assert "3 already known" in flat(again.stdout)


def test_a_dry_run_says_what_would_happen_and_stores_nothing(runner, env, engine, tmp_path):
    assert invoke(runner, env, str(excel(tmp_path / "known.csv", ROWS[2:]))).exit_code == 0
    queued = outbox_rows(engine)
    rows = [ROWS[0], ROWS[2], [ROWS[1][0], "not-an-email", *ROWS[1][2:]], ROWS[0]]
    result = invoke(runner, env, str(excel(tmp_path / "leads.csv", rows)), "--dry-run")
    assert result.exit_code == 1  # an invalid row
    out = flat(result.stdout)
    assert (
        "line 2: would hand over Mette Hansen <mette@nordlys.dk> at Nordlys Æble A/S: "
        "qualified, a card for the sales channel" in out
    )
    assert "line 3: Joe Bloggs <joe@acme.com> at Acme Inc is already known as lead" in out
    assert "line 4: email: is not a valid email address" in flat(result.stderr)
    assert "line 5: Mette Hansen <mette@nordlys.dk> at Nordlys Æble A/S is already known" in out
    assert (
        "Dry run, nothing stored: 1 would be handed over (1 qualified, 0 returned to nurture), "
        "2 already known, 1 invalid" in out  # then the rate, if the run took a second or more
    )
    assert [lead.name for lead in leads(engine)] == ["Joe Bloggs"]
    assert outbox_rows(engine) == queued


def test_a_dry_run_names_why_a_lead_is_not_qualified(runner, env, engine, tmp_path):
    result = invoke(runner, env, str(excel(tmp_path / "leads.csv", ROWS[2:])), "--dry-run")
    assert result.exit_code == 0
    assert "line 2: would hand over Joe Bloggs <joe@acme.com> at Acme Inc: not qualified " in (
        flat(result.stdout)
    )
    assert "back to Marketing" in result.stdout
    assert leads(engine) == []


# chunks and the question before many cards -------------------------------------------------


def many(count: int, *, start: int = 0) -> list[list[str]]:
    return [
        [f"Lead {n}", f"lead{n}@nordlys.dk", f"Firma {n} ApS", *METTE[3:], "problem_aware"]
        for n in range(start, start + count)
    ]


def test_rows_are_written_a_chunk_at_a_time(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", many(1_201))
    inserts: list[int] = []

    def count(_conn, _cursor, statement: str, parameters, _context, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LEAD "):
            inserts.append(len(parameters) if executemany else 1)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        result = invoke(runner, env, str(file), "--yes")
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert result.exit_code == 0, result.output
    assert "1201 handed over" in flat(result.stdout)
    assert inserts == [500, 500, 201]


def test_many_cards_without_a_terminal_need_yes(runner, env, engine, tmp_path):
    file = excel(tmp_path / "leads.csv", many(121))
    refused = invoke(runner, env, str(file), input="y\n")
    assert refused.exit_code == 2
    assert (
        "121 cards will take about 2 minutes to post at Slack's pace of 1 a second; nothing "
        "was handed over. Run it again with --yes" in flat(refused.stderr)
    )
    assert leads(engine) == []
    done = invoke(runner, env, str(file), "--yes")
    assert done.exit_code == 0, done.output
    assert len(leads(engine)) == 121


def test_a_screenful_of_cards_is_not_asked_about(runner, env, engine, tmp_path):
    result = invoke(runner, env, str(excel(tmp_path / "leads.csv", many(20))))
    assert result.exit_code == 0, result.output
    assert len(leads(engine)) == 20


@pytest.mark.parametrize(("answer", "stored"), [("n\n", 0), ("y\n", 30)])
def test_many_cards_are_asked_about_at_a_terminal(
    runner, env, engine, tmp_path, monkeypatch, answer: str, stored: int
):
    monkeypatch.setattr(bot.service.cli.import_csv, "_interactive", lambda: True)
    env["BATON_SLACK_CHANNEL_RATE"] = "0.5"
    result = invoke(runner, env, str(excel(tmp_path / "leads.csv", many(30))), input=answer)
    assert (
        "30 cards will take about 54 second(s) to post at Slack's pace of 0.5 a second; "
        "continue?" in flat(result.stdout)
    )
    assert result.exit_code == (0 if stored else 1)
    assert len(leads(engine)) == stored


def test_a_big_file_is_checked_in_a_second_process(
    runner, env, engine, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Rows are checked by another process (another core) a chunk or two ahead of the writes;
    what comes of them is the same, in the file's order."""
    started: list[object] = []
    pool = bot.importing.ProcessPoolExecutor

    def counted(*args, **kwargs):
        started.append(kwargs.get("mp_context"))
        return pool(*args, **kwargs)

    monkeypatch.setattr(bot.importing, "CHECKED_APART", 0)
    monkeypatch.setattr(bot.importing, "ProcessPoolExecutor", counted)
    bad = [ROWS[1][0], "not-an-email", *ROWS[1][2:]]
    file = excel(tmp_path / "leads.csv", [*many(1_100), bad, *many(5, start=1_100), many(1)[0]])
    result = invoke(runner, env, str(file), "--yes")
    assert result.exit_code == 1, result.output
    assert len(started) == 1
    assert "1105 handed over (1105 qualified" in flat(result.stdout)
    assert "1 already known, 1 invalid" in flat(result.stdout)
    assert [line for line in result.stderr.splitlines() if line.startswith("line")] == [
        "line 1102: email: is not a valid email address: An email address must have an @-sign."
    ]
    assert len(leads(engine)) == 1_105


FRESH = """
import sys
from bot import intake
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.schemas import LeadIn
from storage.db import make_engine, migrate, session_factory
from tests.support import AGREEMENT, GOOD_LEAD
engine = make_engine(sys.argv[1])
migrate(engine)
ctx = Context(agreement=parse_agreement(AGREEMENT), sessions=session_factory(engine))
lead = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="csv").lead
print(len(lead.id), lead.name, lead.qualified, lead.stage, lead.handed_over_by, lead.owner)
"""


def test_the_leads_the_group_store_hands_back_read_like_stored_ones(database_url: str):
    """They are built from the inserted values, not loaded; in a process that has made no
    query yet they read all the same."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FRESH, database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["32", "Mette", "Hansen", "True", "handed_over", "csv", "None"]
