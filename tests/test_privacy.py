"""Forgetting a person: `baton forget EMAIL` and the agreement's retention period."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from bot import cards, intake, messages, ownership, privacy, wording
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.privacy import REMOVED
from bot.refusals import Refused
from bot.scheduler import RETENTION
from bot.schemas import LeadIn
from bot.service.cli import cli
from bot.service.runtime import build
from bot.slack.render import Renderer
from storage import leads
from storage.db import migrate, transaction
from storage.models import Deadline, Event, Feedback, Lead, Outbox
from tests.support import AGREEMENT, GOOD_LEAD, lead

# What the person gave Marketing, and what the team wrote about them: none of it may survive.
PERSONAL = (
    "Mette Hansen",
    "mette@nordlys.dk",
    "Nordlys Maskinfabrik",
    "+4532123456",
    "Paper-based quality control",
    "Industry 4.0 in practice",
    "QC checklist",
    "hubspot-81723",
    "a budget of 2M DKK",
    "husband picks up",
    "said no thanks",
    "called her mobile",
)
RETAINED = AGREEMENT + "retention: {personal_data_days: 30}\n"


def handed_over(ctx: Context, **changes: Any) -> Lead:
    body = lead(**{"external_id": "hubspot-81723", "budget": "a budget of 2M DKK", **changes})
    return intake.hand_over(ctx, LeadIn.model_validate(body), by="api").lead


def with_history(ctx: Context, lead_id: str) -> None:
    """What a lead gathers in its life: a posted card, replies, DMs, notes, an extension."""
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        leads.set_card(
            session=session,
            lead_id=lead_id,
            platform="slack",
            conversation="C0SALES",
            message_id="1700000000.000100",
        )
        cards.shown(session=session, agreement=ctx.agreement, lead_id=lead_id, at=now)
        leads.record(
            session=session,
            lead_id=lead_id,
            at=now,
            actor="U0MANAGER",
            kind="extended",
            data={"clock": "claim", "due_at": now.isoformat(), "reason": "husband picks up"},
        )
        leads.record(
            session=session,
            lead_id=lead_id,
            at=now,
            actor="U0SELLER1",
            kind="contacted",
            data={"how": "called her mobile"},
        )
        leads.record(
            session=session,
            lead_id=lead_id,
            at=now,
            actor="U0SELLER1",
            kind="feedback",
            data={"outcome": "rejected", "reason": "no_relevant_need", "missed_rules": ["budget"]},
        )
        session.add(
            Feedback(
                lead_id=lead_id,
                by="U0SELLER1",
                at=now,
                outcome="rejected",
                reason="no_relevant_need",
                note="said no thanks",
            )
        )
        clock = session.exec(select(Deadline).where(Deadline.lead_id == lead_id)).first()
        clock.extension_reason = "husband picks up"
        for outbox_row in session.exec(select(Outbox).where(Outbox.lead_id == lead_id)):
            outbox_row.sent_at, outbox_row.next_attempt_at = now, None  # the card went out
        sent = {"template": "feedback_thread", "facts": {"note": "said no thanks"}}
        session.add_all(
            [
                Outbox(kind="reply", lead_id=lead_id, payload=sent, created_at=now, sent_at=now,
                       platform="slack", conversation="C0SALES", message_id="1700000000.000200"),
                Outbox(kind="post", lead_id=lead_id, recipient="C0MKTG", payload=sent,
                       created_at=now, sent_at=now, platform="slack", conversation="C0MKTG",
                       message_id="1700000000.000300"),
                # a DM from before its conversation was recorded: only its person is known
                Outbox(kind="dm", lead_id=lead_id, recipient="U0SELLER1", payload=sent,
                       created_at=now, sent_at=now, platform="slack",
                       message_id="1700000000.000400"),
                # queued, not yet sent: it must never go out
                Outbox(kind="dm", lead_id=lead_id, recipient="U0CEO", payload=sent,
                       created_at=now, next_attempt_at=now),
                # given up on: `baton outbox retry` must not bring it back
                Outbox(kind="post", lead_id=lead_id, recipient="C0MKTG", payload=sent,
                       created_at=now, next_attempt_at=None, error="not_in_channel"),
            ]
        )  # fmt: skip


def dump(ctx: Context) -> str:
    """Every row of every table, as text: what a backup or a curious DBA would see."""
    with ctx.sessions() as session:
        rows = []
        for table in ("lead", "event", "feedback", "deadline", "breach", "outbox", "person"):
            rows += [list(row) for row in session.execute(text(f"SELECT * FROM {table}"))]
    return json.dumps(rows, default=str, ensure_ascii=False)


def stored(ctx: Context, lead_id: str) -> Lead:
    with ctx.sessions() as session:
        found = leads.get(session=session, lead_id=lead_id)
        assert found is not None
        return found


def history(ctx: Context, lead_id: str) -> list[Event]:
    with ctx.sessions() as session:
        return leads.history(session=session, lead_id=lead_id)


def rows(ctx: Context, model: type, lead_id: str) -> list[Any]:
    with ctx.sessions() as session:
        return list(session.exec(select(model).where(model.lead_id == lead_id)).all())


def test_forget_erases_the_person_everywhere_and_keeps_the_statistics(ctx: Context):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    assert all(text in dump(ctx) for text in PERSONAL)

    erased = privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    assert erased.lead_ids == [kept.id]
    everything = dump(ctx)
    assert [text for text in PERSONAL if text in everything] == []
    after = stored(ctx, kept.id)
    assert after.forgotten_at is not None
    assert (after.name, after.company, after.email) == (REMOVED, REMOVED, "")
    assert after.title is after.phone is after.challenges is after.budget is None
    assert after.external_id is None
    assert after.activity == [{"at": step["at"], "kind": step["kind"]} for step in kept.activity]
    for name in ("country", "industry", "employees", "revenue", "profit", "source", "stage"):
        assert getattr(after, name) == getattr(kept, name), name
    assert (after.buying_stage, after.received_at, after.qualified) == (
        kept.buying_stage,
        kept.received_at,
        kept.qualified,
    )
    assert after.card_message_id == "1700000000.000100"  # to rewrite the card


def test_the_history_keeps_what_happened_but_not_what_was_written(ctx: Context):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    events = {event.kind: event for event in history(ctx, kept.id)}
    assert events["extended"].data == {"clock": "claim", "due_at": ANY, "reason": REMOVED}
    assert events["contacted"].data == {"how": REMOVED}
    assert events["feedback"].data == {
        "outcome": "rejected",
        "reason": "no_relevant_need",  # the code of an agreed reason: a choice, not a text
        "missed_rules": ["budget"],
    }
    assert events["handed_over"].data == {"qualified": True, "reasons": []}
    (feedback,) = rows(ctx, Feedback, kept.id)
    assert (feedback.outcome, feedback.reason, feedback.note) == (
        "rejected",
        "no_relevant_need",
        None,
    )


def test_the_forgotten_event_names_who_asked_and_not_whom(ctx: Context):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    privacy.forget(ctx, email="Mette@Nordlys.DK", by="dpo@company")

    (event,) = [event for event in history(ctx, kept.id) if event.kind == "forgotten"]
    assert event.actor == "dpo@company"
    assert event.data == {"why": "request", "card_rewritten": True, "messages_left": 1}
    assert "nordlys" not in json.dumps(event.data).lower()


def test_an_unqualified_title_is_not_kept_in_the_reasons(ctx: Context):
    kept = handed_over(ctx, title="Chief Llama Whisperer")
    assert any(reason["facts"].get("title") == "Chief Llama Whisperer" for reason in kept.reasons)
    privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    after = stored(ctx, kept.id)
    (reason,) = after.reasons
    assert reason["code"] == "contact_role"
    assert reason["facts"]["title"] == f"({REMOVED})"
    assert reason["facts"]["allowed"] == ["CIO", "IT manager", "HR manager", "CMO"]
    assert wording.reason(reason).startswith(f"title ({REMOVED}) matches none of the contact roles")
    assert "Llama" not in dump(ctx)


def test_queued_messages_are_cancelled_and_posted_ones_rewritten(ctx: Context):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    erased = privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    assert erased.cancelled == 2
    assert erased.cards == 1
    assert erased.rewritten == 2
    assert sorted((m.kind, m.recipient, m.message_id) for m in erased.left) == [
        ("dm", "U0SELLER1", "1700000000.000400"),  # known by its person only: deleted by hand
    ]
    with ctx.sessions() as session:
        erasing = session.exec(select(Outbox).where(Outbox.kind == messages.ERASE)).all()
    assert sorted((row.recipient, row.payload["message_id"]) for row in erasing) == [
        ("C0MKTG", "1700000000.000300"),
        ("C0SALES", "1700000000.000200"),
    ]
    assert all(row.lead_id is None for row in erasing)
    queued = [row for row in rows(ctx, Outbox, kept.id) if row.sent_at is None]
    assert [(row.kind, row.payload) for row in queued] == [(messages.CARD, {})]
    sent = [row for row in rows(ctx, Outbox, kept.id) if row.kind != messages.CARD]
    assert {json.dumps(row.payload) for row in sent} == {'{"template": "feedback_thread"}'}


def test_the_clocks_of_a_forgotten_lead_stop(ctx: Context):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    clocks = rows(ctx, Deadline, kept.id)
    assert {clock.kind for clock in clocks} == {"claim", "contact"}
    assert all(clock.next_at is None for clock in clocks)
    assert all(clock.resolved_at is None for clock in clocks)  # stopped, not met
    assert {clock.extension_reason for clock in clocks} == {REMOVED, None}


def test_the_address_matches_in_any_letter_case_and_nobody_else_is_touched(ctx: Context):
    first = handed_over(ctx, email="Jürgen.Ærø@firma.dk", external_id="a")
    second = handed_over(ctx, email="jürgen.ærø@FIRMA.dk", external_id="b")
    colleague = handed_over(ctx, email="jurgen.aero@firma.dk", external_id="c")
    other = handed_over(ctx, email="jürgen.ærø@nordfirma.dk", external_id="d")

    erased = privacy.forget(ctx, email="JÜRGEN.ÆRØ@Firma.DK", by="dpo")

    assert sorted(erased.lead_ids) == sorted([first.id, second.id])
    assert stored(ctx, colleague.id).forgotten_at is None
    assert stored(ctx, other.id).forgotten_at is None
    assert stored(ctx, colleague.id).name == "Mette Hansen"


def test_forgetting_twice_changes_nothing_more(ctx: Context):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")
    before = dump(ctx)

    again = privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    assert again == privacy.Erasure()
    assert dump(ctx) == before
    assert [event.kind for event in history(ctx, kept.id)].count("forgotten") == 1


def test_an_erasure_that_fails_halfway_leaves_every_lead_whole(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
):
    first = handed_over(ctx, external_id="a")
    second = handed_over(ctx, external_id="b")
    with_history(ctx, second.id)
    before = dump(ctx)
    real, calls = privacy.anonymise, []

    def fail_on_the_second(lead: Lead, at: datetime) -> None:
        calls.append(lead.id)
        real(lead, at)
        if len(calls) == 2:
            raise RuntimeError("the database went away")

    monkeypatch.setattr(privacy, "anonymise", fail_on_the_second)
    with pytest.raises(RuntimeError):
        privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    assert sorted(calls) == sorted([first.id, second.id])
    assert dump(ctx) == before
    monkeypatch.setattr(privacy, "anonymise", real)
    assert len(privacy.forget(ctx, email="mette@nordlys.dk", by="dpo").lead_ids) == 2


def test_the_card_template_shows_nothing_of_a_forgotten_lead(agreement):
    renderer = Renderer(agreement)
    now = datetime.now(UTC)
    forgotten = Lead(
        **LeadIn.model_validate(lead()).columns(),
        qualified=True,
        stage="claimed",
        owner="U0SELLER1",
        handed_over_by="api",
        received_at=now,
    )
    privacy.anonymise(forgotten, now)
    card = renderer.card(forgotten, [])
    shown = json.dumps(card)
    assert "removed on request" in card["text"]
    assert "actions" not in shown
    assert "baton." not in shown  # no button of any kind


def test_the_card_in_slack_is_rewritten_through_the_outbox(baton, slack):
    answer = baton.hand_over(lead(external_id="hubspot-81723"))
    lead_id = answer.json()["id"]
    posted = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    assert "Mette Hansen" in json.dumps(posted[0].json("blocks"))

    erased = privacy.forget(baton.runtime.ctx, email="mette@nordlys.dk", by="dpo")

    assert erased.lead_ids == [lead_id]
    (update,) = slack.wait_for("chat.update")
    assert update.params["ts"] == posted[0].response["ts"]
    assert update.params["channel"] == "C0SALES"
    payload = json.dumps({"text": update.params["text"], "blocks": update.json("blocks")})
    assert "removed on request" in payload
    assert not [text for text in PERSONAL if text in payload]
    assert "actions" not in payload


def test_an_unposted_lead_gets_no_card_and_its_queued_post_never_goes_out(ctx: Context):
    kept = handed_over(ctx, country="US")  # unqualified: a post to Marketing is queued
    assert [row.kind for row in rows(ctx, Outbox, kept.id)] == [messages.POST]

    erased = privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")

    assert (erased.cards, erased.cancelled, erased.left) == (0, 1, [])
    assert rows(ctx, Outbox, kept.id) == []


def test_a_forgotten_lead_can_no_longer_be_claimed(ctx: Context):
    """An old card's button, clicked before the rewritten card arrives, must change nothing."""
    kept = handed_over(ctx)
    privacy.forget(ctx, email="mette@nordlys.dk", by="dpo")
    with pytest.raises(Refused):
        ownership.claim(ctx, lead_id=kept.id, user="U0SELLER1")


def at(moment: datetime, base: Context) -> Context:
    return Context(agreement=base.agreement, sessions=base.sessions, clock=lambda: moment)


@pytest.fixture
def retained(ctx: Context) -> Context:
    return Context(agreement=parse_agreement(RETAINED), sessions=ctx.sessions)


def test_retention_forgets_leads_received_longer_ago(retained: Context):
    now = datetime.now(UTC)
    old = [
        handed_over(at(now - timedelta(days=31, minutes=n), retained), external_id=f"old-{n}")
        for n in range(3)
    ]
    young = handed_over(at(now - timedelta(days=29), retained), external_id="young")

    erased = privacy.forget_expired(at(now, retained), batch=2)

    assert sorted(erased.lead_ids) == sorted(lead.id for lead in old)
    assert stored(retained, young.id).forgotten_at is None
    for gone in old:
        forgotten = [e for e in history(retained, gone.id) if e.kind == "forgotten"]
        assert [(e.actor, e.data["why"]) for e in forgotten] == [("retention", "retention")]
    assert privacy.forget_expired(at(now, retained)).lead_ids == []


def test_without_a_retention_period_nothing_is_forgotten(ctx: Context):
    kept = handed_over(at(datetime.now(UTC) - timedelta(days=5000), ctx))
    assert ctx.agreement.retention is None
    assert privacy.forget_expired(ctx).lead_ids == []
    assert stored(ctx, kept.id).forgotten_at is None


def test_replicas_running_retention_at_once_forget_each_lead_once(retained: Context):
    now = datetime.now(UTC)
    for n in range(12):
        handed_over(at(now - timedelta(days=40), retained), external_id=f"old-{n}")
    results: list[privacy.Erasure] = []
    start = threading.Barrier(3)

    def replica() -> None:
        start.wait()
        results.append(privacy.forget_expired(at(now, retained), batch=3))

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [lead_id for result in results for lead_id in result.lead_ids]
    assert len(ids) == len(set(ids)) == 12
    with retained.sessions() as session:
        events = session.exec(select(Event).where(Event.kind == "forgotten")).all()
    assert len(events) == 12


def test_the_clock_forgets_expired_leads_at_start_and_daily(settings, agreement):
    runtime = build(settings, parse_agreement(RETAINED))
    runtime.start()
    try:
        old = handed_over(at(datetime.now(UTC) - timedelta(days=31), runtime.ctx))
        job = runtime.scheduler.jobs.get_job(RETENTION)
        assert job.trigger.interval == timedelta(days=1)
        deadline = time.monotonic() + 30  # a wait for the job, not a speed limit
        while stored(runtime.ctx, old.id).forgotten_at is None:
            assert time.monotonic() < deadline, "retention did not run"
            # Asked again until it runs: on a busy machine the start-up run may still be going,
            # and APScheduler skips a run that would overlap it.
            runtime.scheduler.jobs.modify_job(RETENTION, next_run_time=datetime.now(UTC))
            time.sleep(0.2)
    finally:
        runtime.stop()
        runtime.engine.dispose()


def test_the_clock_runs_retention_as_it_starts(settings):
    runtime = build(settings, parse_agreement(RETAINED))
    migrate(runtime.engine)
    old = handed_over(at(datetime.now(UTC) - timedelta(days=31), runtime.ctx))
    runtime.start()
    try:
        deadline = time.monotonic() + 30
        while stored(runtime.ctx, old.id).forgotten_at is None:
            assert time.monotonic() < deadline, "retention did not run at start"
            time.sleep(0.05)
    finally:
        runtime.stop()
        runtime.engine.dispose()


# the command line ---------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    return {
        "DATABASE_URL": database_url,
        "BATON_AGREEMENT": str(agreement),
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        "COLUMNS": "200",
    }


def flat(output: str) -> str:
    return " ".join(output.split())


def test_baton_forget_on_the_command_line(ctx: Context, env: dict[str, str]):
    kept = handed_over(ctx)
    with_history(ctx, kept.id)
    runner = CliRunner()

    answer = runner.invoke(cli, ["forget", "METTE@nordlys.dk", "--yes", "--by", "dpo"], env=env)

    assert answer.exit_code == 0, answer.output
    said = flat(answer.output)
    assert f"Forgot 1 lead(s): {kept.id}" in said
    assert "1 lead card(s) and 2 other message(s) will read" in said
    assert "1 message(s) Baton posted about them still show their data" in said
    assert "dm U0SELLER1 1700000000.000400" in said
    assert stored(ctx, kept.id).forgotten_at is not None
    assert [e.actor for e in history(ctx, kept.id) if e.kind == "forgotten"] == ["dpo"]

    again = runner.invoke(cli, ["forget", "mette@nordlys.dk", "--yes"], env=env)
    assert again.exit_code == 0
    assert "nothing to erase" in again.output


def test_baton_forget_asks_first(ctx: Context, env: dict[str, str]):
    kept = handed_over(ctx)
    answer = CliRunner().invoke(cli, ["forget", "mette@nordlys.dk"], env=env, input="n\n")
    assert answer.exit_code == 1
    assert "Erase the personal data of 1 lead(s)?" in answer.output
    assert stored(ctx, kept.id).forgotten_at is None

    answer = CliRunner().invoke(cli, ["forget", "mette@nordlys.dk"], env=env, input="y\n")
    assert answer.exit_code == 0, answer.output
    assert stored(ctx, kept.id).forgotten_at is not None


def test_baton_forget_wants_an_address(ctx: Context, env: dict[str, str]):
    answer = CliRunner().invoke(cli, ["forget", "Mette Hansen", "--yes"], env=env)
    assert answer.exit_code == 2
    assert "is not an email address" in answer.output


def test_forgetting_rewrites_every_message_in_slack(baton, slack):
    """Through the real app: the card, the thread reply and the DM all read "removed"."""
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    runtime = baton.runtime
    ownership.assign(runtime.ctx, lead_id=lead_id, by="U0MANAGER", to="U0SELLER1")
    ownership.release(runtime.ctx, lead_id=lead_id, user="U0SELLER1")
    slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" in c.params)
    dm = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "U0SELLER1")
    dm_channel, dm_ts = dm[0].response["channel"], dm[0].response["ts"]
    deadline = time.monotonic() + 10
    while any(row.sent_at is None for row in rows(runtime.ctx, Outbox, lead_id)):
        assert time.monotonic() < deadline, "the courier did not record its deliveries"
        time.sleep(0.05)

    erased = privacy.forget(runtime.ctx, email="mette@nordlys.dk", by="dpo")
    runtime.wake()
    assert (erased.cards, erased.rewritten, erased.left) == (1, 2, [])
    removed = slack.wait_for(
        "chat.update", 2, where=lambda c: "Removed on request" in c.params.get("text", "")
    )
    assert (dm_channel, dm_ts) in {(c.params["channel"], c.params["ts"]) for c in removed}
    card = slack.wait_for(
        "chat.update", where=lambda c: "removed on request" in str(c.params.get("blocks")).lower()
    )
    assert card


def test_reasons_are_redacted_by_their_facts_never_by_their_words():
    title = {"code": "contact_role", "facts": {"title": "Chief Llama", "allowed": ["CIO"]}}
    missing = {"code": "contact_role", "facts": {"title": None, "allowed": ["CIO"]}}
    country = {"code": "geography", "facts": {"country": "US", "allowed": ["DK"]}}
    legacy = {"code": "legacy", "facts": {"text": "Chief Llama is no buyer"}}
    assert privacy.redact_reason(title)["facts"] == {"title": f"({REMOVED})", "allowed": ["CIO"]}
    assert privacy.redact_reason(missing) == missing
    assert privacy.redact_reason(country) == country
    assert privacy.redact_reason(legacy) == {"code": "legacy", "facts": {"text": REMOVED}}


def test_a_feedback_reason_is_a_code_and_stays_any_other_reason_goes():
    data = {"reason": "duplicate", "missed_rules": ["budget"]}
    assert privacy.scrub_event_data(data, kind="feedback") == data
    assert privacy.scrub_event_data(data, kind="extended") == {
        "reason": REMOVED,
        "missed_rules": ["budget"],
    }
