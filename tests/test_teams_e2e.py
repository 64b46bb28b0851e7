"""Baton on Teams end to end: `baton run`'s HTTP app, clock and outbox, with activities signed
as the Bot Framework signs them and every message delivered to the local fake of Microsoft.

An agreement of seconds and real time, as the Slack clock tests run (`test_clock_e2e`): what
arrives and how often is asserted, never how fast (speed is measured in bench/).
"""

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlmodel import select

from bot.actions import ActionId, BlockId, ViewId
from bot.agreement_file import parse_agreement
from bot.service.addresses import ADDRESSES
from bot.service.runtime import build
from storage.models import Lead, Outbox
from tests.fake_teams import Activity, FakeTeams
from tests.support import eventually, lead, serve
from tests.teams_support import (
    CEO,
    MANAGER,
    MARKETING,
    SALES,
    SELLERS,
    TEAMS_AGREEMENT,
    TeamsBaton,
    activity,
    person,
    teams_settings,
)

SECONDS = (
    TEAMS_AGREEMENT.replace("claim_within: 1h", "claim_within: 2s")
    .replace("remind_before: 30m", "remind_before: 1s")
    .replace("after: 2h", "after: 2s")
)


@contextmanager
def running(teams: FakeTeams, database_url: str, agreement: str) -> Iterator[TeamsBaton]:
    runtime = build(
        teams_settings(teams, database_url), parse_agreement(agreement, addresses=ADDRESSES)
    )
    try:
        with serve(runtime) as served:
            yield TeamsBaton(served.runtime, served.url, teams)
    finally:
        runtime.engine.dispose()


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with running(teams, database_url, TEAMS_AGREEMENT) as app:
        install(app)
        yield app


def install(baton: TeamsBaton) -> None:
    """Baton is added to the sales team (Teams tells the channel's address and team), and
    the sales manager installs it for themselves (their 1:1)."""
    added = [{"id": f"28:{baton.teams.app_id}"}, *(person(user) for user in SELLERS)]
    team = activity("conversationUpdate", user=MANAGER, membersAdded=added)
    assert baton.send(team).status_code == 200
    chat = baton.teams.install_personal(MANAGER, person(MANAGER)["id"])
    personal = activity("installationUpdate", user=MANAGER, conversation=chat, personal=True)
    personal["action"] = "add"
    assert baton.send(personal).status_code == 200


def cards(teams: FakeTeams) -> list[Activity]:
    return [a for a in teams.activities(SALES) if a.conversation == SALES]


def replies(teams: FakeTeams, root: str) -> list[Activity]:
    return [a for a in teams.activities(SALES) if a.conversation == f"{SALES};messageid={root}"]


def content(message: Activity) -> str:
    return json.dumps(message.body["attachments"][0]["content"], ensure_ascii=False)


def manager_chat(teams: FakeTeams) -> str:
    return teams.install_personal(MANAGER, person(MANAGER)["id"])


def handed_over(baton: TeamsBaton) -> tuple[str, Activity]:
    answer = baton.hand_over(lead())
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["id"]
    (card,) = eventually(lambda: cards(baton.teams))
    return lead_id, card


def stored(baton: TeamsBaton, lead_id: str) -> Lead:
    with baton.runtime.ctx.sessions() as session:
        found = session.get(Lead, lead_id)
        assert found is not None
        return found


def test_a_hand_over_posts_the_card_in_the_sales_channel(baton: TeamsBaton) -> None:
    lead_id, card = handed_over(baton)
    assert "Mette Hansen" in content(card) and ActionId.CLAIM.value in content(card)
    found = eventually(lambda: stored(baton, lead_id).card_at and stored(baton, lead_id))
    assert (found.card_platform, found.card_conversation, found.card_message_id) == (
        "teams",
        SALES,
        card.id,
    )


def test_ten_claim_at_once_one_owner_and_the_card_updated_once_for_everyone(
    baton: TeamsBaton,
) -> None:
    lead_id, card = handed_over(baton)
    eventually(lambda: stored(baton, lead_id).card_at)
    with ThreadPoolExecutor(len(SELLERS)) as pool:
        answers = list(
            pool.map(lambda user: baton.click(user, ActionId.CLAIM, lead_id).json(), SELLERS)
        )
    owner = stored(baton, lead_id).owner
    assert owner in SELLERS
    cards_in_place = [a for a in answers if a["type"] == "application/vnd.microsoft.card.adaptive"]
    assert len(cards_in_place) == 1  # the winner sees the card; nine are told who was first
    eventually(lambda: card.updates >= 1)
    time.sleep(1.0)  # long enough for a second update to show up, if there were one
    (shown,) = cards(baton.teams)
    assert shown.id == card.id and shown.updates == 1
    assert "Owner" in content(shown) and ActionId.CLAIM.value not in content(shown)
    assert len(baton.teams.calls_to("send")) == 1  # one card, never a second post


def test_feedback_goes_into_the_cards_thread_and_to_marketing(baton: TeamsBaton) -> None:
    lead_id, card = handed_over(baton)
    baton.click(SELLERS[0], ActionId.CLAIM, lead_id)
    done = baton.submit(
        SELLERS[0],
        ViewId.FEEDBACK,
        lead_id,
        **{BlockId.OUTCOME.value: "rejected", BlockId.REASON.value: "no_relevant_need"},
    )
    assert done.status_code == 200, done.text
    (thread,) = eventually(lambda: replies(baton.teams, card.id))
    assert "Rejected" in content(thread) and thread.body["replyToId"] == card.id
    (mirrored,) = eventually(lambda: baton.teams.activities(MARKETING))
    said = content(mirrored)
    assert "Mette Hansen" in said and "rejected" in said
    entities = mirrored.body["attachments"][0]["content"]["msteams"]["entities"]
    assert [e["mentioned"]["id"] for e in entities] == [SELLERS[0]]  # the seller is mentioned
    assert "/l/message/" in said  # and Marketing can open the card's thread


def test_a_forged_claim_is_refused_and_nothing_reaches_teams(baton: TeamsBaton) -> None:
    lead_id, card = handed_over(baton)
    claim = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    forged = activity("invoke", name="adaptiveCard/action", value=claim)
    assert baton.send(forged, token=baton.teams.sign(aud="someone-else")).status_code == 401
    assert baton.send(forged, token="").status_code == 401
    time.sleep(1.0)
    assert stored(baton, lead_id).owner is None
    assert card.updates == 0


def test_a_missed_claim_reaches_the_manager_once_and_the_unreachable_ceo_is_a_dead_letter(
    teams: FakeTeams, database_url: str
) -> None:
    with running(teams, database_url, SECONDS) as baton:
        install(baton)
        lead_id, card = handed_over(baton)
        (reminder,) = eventually(lambda: replies(teams, card.id))
        assert "still unclaimed" in content(reminder)  # in the card's thread, sellers mentioned
        chat = manager_chat(teams)
        (escalation,) = eventually(lambda: teams.activities(chat))
        assert "deadline for Mette Hansen was missed" in content(escalation)
        assert ActionId.REASSIGN.value in content(escalation)

        def ceo_row() -> Outbox | None:
            with baton.runtime.ctx.sessions() as session:
                return session.exec(select(Outbox).where(Outbox.recipient == CEO)).first()

        dead = eventually(lambda: (row := ceo_row()) is not None and row.error and row)
        assert f"{CEO} cannot be reached in Teams" in dead.error
        assert dead.next_attempt_at is None and dead.sent_at is None
        eventually(lambda: "overdue" in content(cards(teams)[0]))
        time.sleep(2.5)  # long enough for a duplicate to show up, if there were one
        assert len(teams.activities(chat)) == 1
        assert len(replies(teams, card.id)) == 1
        assert stored(baton, lead_id).owner is None
