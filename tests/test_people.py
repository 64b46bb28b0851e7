"""People named by email address in the agreement: resolved on Slack, cached, checked."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from bot.actions import ActionId
from bot.agreement import Agreement
from bot.agreement_file import AgreementError, parse_agreement
from bot.demo.slack_standin import FakeSlack
from bot.people import Roster
from bot.service.cli import cli
from bot.service.runtime import build
from bot.slack.client import SlackDirectory, make_client
from storage import leads
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import DirectoryEntry, Lead, Person
from tests.support import AGREEMENT, GOOD_LEAD, eventually, serve

BY_EMAIL = AGREEMENT.replace("ceo: U0CEO", "ceo: Anna@Example.dk").replace(
    "sales: [U0SELLER1, U0SELLER2, U0SELLER3]", "sales: [per@example.dk, U0SELLER2]"
)
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
def people(slack: FakeSlack) -> FakeSlack:
    slack.set_user("U0ANNA", email="anna@example.dk")
    slack.set_user("U0PER", email="Per@Example.dk")
    return slack


@pytest.fixture
def agreement(people: FakeSlack) -> Agreement:
    return parse_agreement(BY_EMAIL)


def roster(settings, database_url: str) -> Roster:
    engine = make_engine(database_url)
    migrate(engine)
    return Roster(
        SlackDirectory(
            make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        ),
        session_factory(engine),
        lambda: NOW,
    )


def test_addresses_are_resolved_on_slack_and_kept(settings, database_url, people, tmp_path):
    agreement = parse_agreement(BY_EMAIL)
    found = roster(settings, database_url)
    assert found.resolve(agreement, tmp_path / "agreement.yml") == []
    assert (agreement.people.ceo, agreement.people.sales) == ("U0ANNA", ["U0PER", "U0SELLER2"])
    assert agreement.roles_of("U0PER") == {"sales"}
    asked = [call.params["email"] for call in people.calls_to("users.lookupByEmail")]
    assert sorted(asked) == ["anna@example.dk", "per@example.dk"]
    with found.sessions() as session:
        kept = {row.email: row.user_id for row in session.exec(select(DirectoryEntry))}
    assert kept == {"anna@example.dk": "U0ANNA", "per@example.dk": "U0PER"}


def test_slack_away_the_kept_answers_serve(settings, database_url, people, tmp_path):
    found = roster(settings, database_url)
    assert found.resolve(parse_agreement(BY_EMAIL), tmp_path / "agreement.yml") == []
    people.outage("dropped")
    again = parse_agreement(BY_EMAIL)
    assert found.resolve(again, tmp_path / "agreement.yml") == []
    assert again.people.ceo == "U0ANNA"


def test_slack_away_and_nothing_kept_is_one_line_per_address(settings, database_url, people):
    people.outage("dropped")
    source = Path("agreement.yml")
    agreement = parse_agreement(BY_EMAIL)
    problems = roster(settings, database_url).resolve(agreement, source)
    assert len(problems) == 2
    assert problems[0].startswith("agreement.yml: people.ceo: cannot reach Slack at ")
    assert agreement.people.ceo == "anna@example.dk"  # unchanged: Baton does not start


def test_an_address_nobody_has_stops_start_up_with_its_place(settings, people, tmp_path):
    text = BY_EMAIL.replace("per@example.dk", "nobody@example.dk")
    source = tmp_path / "agreement.yml"
    source.write_text(text, encoding="utf-8")
    settings = settings.model_copy(update={"baton_agreement": source})
    runtime = build(settings, parse_agreement(text, str(source)))
    try:
        with pytest.raises(AgreementError) as refused:
            runtime.start()
        assert refused.value.problems == [
            f"{source}:{line_of(text, 'nobody@')}: people.sales.0: Slack knows nobody with the "
            f"address nobody@example.dk: check the address, or name them by their member ID"
        ]
        assert not runtime.started
    finally:
        runtime.engine.dispose()


def test_a_seller_named_by_email_claims_through_slack(runtime, people):
    with serve(runtime) as baton:
        lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
        people.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
        assert baton.click("U0PER", ActionId.CLAIM, lead_id).status_code == 200

        def owner() -> str | None:
            with runtime.ctx.sessions() as session:
                return session.get(Lead, lead_id).owner

        assert eventually(lambda: owner() == "U0PER")
        card = people.wait_for("chat.update", where=lambda c: "<@U0PER>" in str(c.params))
        assert "per@example.dk" not in str(card[0].params)


def test_check_names_an_address_slack_does_not_know(tmp_path: Path, people: FakeSlack):
    source = tmp_path / "agreement.yml"
    text = BY_EMAIL.replace("Anna@Example.dk", "anna@elsewhere.dk")
    source.write_text(text, encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-secret",
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": people.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
        "BATON_AGREEMENT": str(source),
        "BATON_INTAKE_TOKEN": "t",
    }
    result = CliRunner().invoke(cli, ["check"], env=env)
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if "people." in line]
    assert problems == [
        f"{source}:{line_of(text, 'ceo:')}: people.ceo: Slack knows nobody with the address "
        f"anna@elsewhere.dk: check the address, or name them by their member ID"
    ]
    source.write_text(BY_EMAIL, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "People: all 2 named by email address are known." in result.stdout


def test_a_weight_given_by_email_follows_the_seller_to_their_id(settings, database_url, people):
    agreement = parse_agreement(
        BY_EMAIL + "routing: {mode: round_robin, weights: {Per@Example.dk: 3}}\n"
    )
    assert agreement.routing.weights == {"per@example.dk": 3}
    assert roster(settings, database_url).resolve(agreement, Path("agreement.yml")) == []
    assert agreement.routing.weights == {"U0PER": 3}
    assert agreement.routing.weight("U0PER") == 3


def test_two_starts_at_once_both_mirror_the_people(ctx):
    """Replicas starting together on a new database each mirror the agreement's people: the
    second, which found the table empty, waits on the first's rows and then leaves them be
    instead of failing its start on their keys."""
    roles = [("U0MANAGER", "sales_manager"), ("U0CEO", "ceo"), ("U0SELLER1", "sales")]
    postgres = ctx.sessions.kw["bind"].dialect.name == "postgresql"
    failed: list[Exception] = []
    second_pid: list[int] = []

    def second_start() -> None:
        try:
            with transaction(ctx.sessions) as session:
                if postgres:
                    second_pid.append(session.execute(text("SELECT pg_backend_pid()")).scalar())
                leads.sync_people(session=session, roles=roles)
        except Exception as error:
            failed.append(error)

    second = threading.Thread(target=second_start)
    with transaction(ctx.sessions) as first:
        leads.sync_people(session=first, roles=roles)
        first.flush()
        second.start()
        if postgres:  # the second has read the empty table and waits on the first's rows
            with ctx.sessions() as watcher:
                waiting = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
                assert eventually(
                    lambda: (
                        second_pid and watcher.execute(waiting, {"pid": second_pid[0]}).scalar()
                    ),
                    timeout=30,
                )
    second.join(timeout=30)
    assert not failed, failed
    with ctx.sessions() as session:
        kept = {(person.user_id, person.role) for person in session.exec(select(Person))}
    assert kept == set(roles)
