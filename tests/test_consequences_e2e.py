"""Consequences in real time: an agreement of seconds, the real app and the fake Slack, one
process, a restart, and two processes on one database. What arrives and how often is
asserted, never how fast."""

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.service.runtime import build
from storage import leads
from storage.db import migrate
from storage.models import Consequence
from tests.replicas import hand_over, two_replicas
from tests.support import (
    GOOD_LEAD,
    card_out_then_stopped,
    eventually,
    lead,
    serve,
)
from tests.test_clock_e2e import SECONDS, to

# Claim within 2 s; the manager at the deadline, the CEO 2 s later; the lead moves on 1 s
# after its deadline, before the CEO's step, so the CEO never hears of it.
REASSIGNING = SECONDS + "consequences: {reassign_after: 1s}\n"


@pytest.fixture
def agreement() -> Agreement:
    return parse_agreement(REASSIGNING)


def went_to(call) -> bool:
    return call.method == "chat.postMessage" and "went to another seller" in call.params["text"]


def test_an_unclaimed_lead_goes_to_a_seller_once_and_the_ceo_is_not_told(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage", where=to("U0MANAGER"))  # the deadline's escalation
    slack.wait_for("chat.postMessage", where=lambda c: to("U0MANAGER")(c) and went_to(c))
    assigned = slack.wait_for("chat.postMessage", where=to("U0SELLER1"))[0]
    assert "assigned you" in assigned.params["text"]
    slack.wait_for("chat.update", where=lambda c: "<@U0SELLER1>" in str(c.params["blocks"]))
    time.sleep(3)  # past the CEO's step, and long enough for a duplicate to show up
    assert not [c for c in slack.calls if to("U0CEO")(c)]
    assert len([c for c in slack.calls if to("U0MANAGER")(c) and went_to(c)]) == 1
    assert len([c for c in slack.calls if to("U0SELLER1")(c)]) == 1
    with baton.runtime.ctx.sessions() as session:
        assert leads.get(session=session, lead_id=lead_id).owner == "U0SELLER1"


def test_a_reassignment_due_while_baton_was_down_happens_once_after_start(runtime, slack):
    card_out_then_stopped(runtime, GOOD_LEAD)
    time.sleep(3.5)  # past the deadline and the reassignment
    with serve(runtime):
        slack.wait_for("chat.postMessage", where=lambda c: to("U0MANAGER")(c) and went_to(c))
        time.sleep(1.5)
    with serve(runtime):  # and once more: a restart applies nothing again
        time.sleep(2)
    assert len([c for c in slack.calls if to("U0MANAGER")(c) and went_to(c)]) == 1
    assert not [c for c in slack.calls if to("U0CEO")(c)]
    with runtime.ctx.sessions() as session:
        rows = session.exec(select(Consequence)).all()
    assert [row[0].kind for row in rows] == ["reassigned"]


def test_marketing_behind_hears_it_once_from_the_running_clock(settings, slack):
    """`baton run`'s clock checks Marketing's month at start: with no lead on the 20th, 8 a
    month is far behind. The CEO and the marketing channel hear it once, a restart adds
    nothing. The clock runs on from the 20th of this month, 10:00 in Copenhagen."""
    agreement = parse_agreement(SECONDS + "consequences: {marketing_shortfall: 20%}\n")
    now = datetime.now(UTC)
    twentieth = now.astimezone(agreement.tz).replace(day=20, hour=10, minute=0)
    offset = twentieth - now
    runtime = build(settings, agreement, clock=lambda: datetime.now(UTC) + offset)
    try:
        migrate(runtime.engine)
        with serve(runtime):
            ceo = slack.wait_for("chat.postMessage", where=to("U0CEO"))[0]
            assert "Marketing is behind its commitment: 0 qualified leads" in ceo.params["text"]
            slack.wait_for("chat.postMessage", where=to("C0MKTG"))
        with serve(runtime):
            time.sleep(2)
        for where in ("U0CEO", "C0MKTG"):
            assert len([c for c in slack.calls_to("chat.postMessage") if to(where)(c)]) == 1
    finally:
        runtime.engine.dispose()


@pytest.mark.slow
def test_two_baton_processes_reassign_each_lead_once(database_url, slack, tmp_path: Path):
    """Six leads nobody claims, two processes sweeping the same database: each lead moves
    to a seller exactly once, and the manager hears of each move once."""
    with two_replicas(
        REASSIGNING, database_url=database_url, slack_url=slack.url, folder=tmp_path
    ) as urls:
        hand_over(urls, [mover(number) for number in range(6)])

        def moves() -> list:
            return [c for c in slack.calls if to("U0MANAGER")(c) and went_to(c)]

        assert eventually(lambda: len(moves()) >= 6, timeout=40)
        time.sleep(3)  # long enough for a move too many to show up, if there were one
        named = sorted(name for c in moves() for name in _movers(c.params["text"]))
        assert named == [f"Mover {n}" for n in range(6)]
        engine = create_engine(database_url)
        with engine.connect() as connection:
            kinds = connection.execute(select(Consequence.kind)).scalars().all()
        engine.dispose()
        assert kinds == ["reassigned"] * 6


def mover(number: int) -> dict:
    return lead(
        external_id=f"move-{number}", email=f"move{number}@nordlys.dk", name=f"Mover {number}"
    )


def _movers(text: str) -> list[str]:
    return [f"Mover {n}" for n in range(6) if f"Mover {n} " in text]
