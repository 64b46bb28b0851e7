"""The app removed from a person's 1:1 or from a team, as Teams says it (`installationUpdate`
with `action: remove`, `conversationUpdate` with the bot among `membersRemoved`), through
the real app with signed activities: the conversation is forgotten, nothing is posted there
again, `baton check` names whom Baton cannot reach, and a repeated removal changes nothing."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlmodel import select

from bot.actions import ActionId, BlockId, ViewId
from bot.teams import check
from bot.teams.places import StoredPeople
from storage import conversations
from storage.models import ChatPerson, ConversationRef, Outbox
from tests.fake_teams import TEAM_ID, FakeTeams
from tests.support import eventually, lead, show_card
from tests.teams_support import (
    MANAGER,
    MARKETING,
    SALES,
    SELLERS,
    TeamsBaton,
    activity,
    person,
    teams_baton,
)

SOURCE = Path("agreement.yml")


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        fake.channels[SALES] = [{"id": SALES, "name": "General"}, {"id": MARKETING, "name": "Mk"}]
        yield fake


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    """Baton in the sales team (both channels, the sellers), and in the 1:1s of the sales
    manager and the first seller."""
    with teams_baton(teams, database_url) as running:
        added = [{"id": f"28:{teams.app_id}"}, *(person(user) for user in SELLERS)]
        team = activity("conversationUpdate", user=MANAGER, membersAdded=added)
        assert running.send(team).status_code == 200
        for user in (MANAGER, SELLERS[0]):
            chat = teams.install_personal(user, person(user)["id"])
            installed = activity("installationUpdate", user=user, conversation=chat, personal=True)
            assert running.send({**installed, "action": "add"}).status_code == 200
        yield running


def chat_of(teams: FakeTeams, user: str) -> str:
    return teams.install_personal(user, person(user)["id"])  # the same 1:1 again


def removed_personally(teams: FakeTeams, user: str, kind: str) -> dict[str, Any]:
    """The person removed the app from their 1:1, as Teams tells it in `kind`."""
    where = chat_of(teams, user)
    if kind == "installationUpdate":
        return {**activity(kind, user=user, conversation=where, personal=True), "action": "remove"}
    return activity(kind, user=user, conversation=where, personal=True, membersRemoved=[bot(teams)])


def removed_from_team(teams: FakeTeams, kind: str) -> dict[str, Any]:
    """The app removed from the sales team, as Teams tells it in `kind` (the team's first
    channel names the team)."""
    if kind == "installationUpdate":
        return {**activity(kind, user=MANAGER), "action": "remove"}
    removed = activity(kind, user=MANAGER, membersRemoved=[bot(teams)])
    removed["channelData"]["eventType"] = "teamMemberRemoved"
    return removed


def bot(teams: FakeTeams) -> dict[str, str]:
    return {"id": f"28:{teams.app_id}"}


def reach(baton: TeamsBaton) -> list[str]:
    """What `baton check` says of whom Baton can reach."""
    with baton.runtime.ctx.sessions() as session:
        return check.reach(session, baton.runtime.agreement, SOURCE).notes


def unreachable(baton: TeamsBaton) -> list[str]:
    with baton.runtime.ctx.sessions() as session:
        return conversations.unreachable(session, "teams", [MANAGER, *SELLERS])


def stored(baton: TeamsBaton, model: type) -> list[Any]:
    with baton.runtime.ctx.sessions() as session:
        return list(session.exec(select(model)).all())


def refs(baton: TeamsBaton) -> set[str]:
    """The conversations Baton may post in."""
    return {ref.conversation_id for ref in stored(baton, ConversationRef) if not ref.removed_at}


def removed(baton: TeamsBaton) -> set[str]:
    """The conversations Baton was removed from and knows to be gone."""
    return {ref.conversation_id for ref in stored(baton, ConversationRef) if ref.removed_at}


@pytest.mark.parametrize("kind", ["installationUpdate", "conversationUpdate"])
def test_a_person_who_removes_the_app_is_forgotten_and_named_by_check(baton, teams, kind):
    chat = chat_of(teams, SELLERS[0])
    assert chat in refs(baton) and unreachable(baton) == []
    removal = removed_personally(teams, SELLERS[0], kind)
    assert baton.send(removal).status_code == 200
    assert chat not in refs(baton) and {SALES, MARKETING} <= refs(baton)
    assert unreachable(baton) == [SELLERS[0]]
    (line,) = [note for note in reach(baton) if "no 1:1 with" in note]
    assert SELLERS[0] in line and MANAGER not in line
    with baton.runtime.ctx.sessions() as session:
        kept = conversations.person(session, "teams", SELLERS[0])
        assert kept is not None and kept.name == person(SELLERS[0])["name"]  # still named
    before = [(p.user_id, p.account_id, p.conversation_id) for p in stored(baton, ChatPerson)]

    again = {**removal, "id": "f:again"}  # removing it twice, or Teams telling it twice
    assert baton.send(again).status_code == 200
    assert baton.send(removal).status_code == 200
    after = [(p.user_id, p.account_id, p.conversation_id) for p in stored(baton, ChatPerson)]
    assert after == before and chat not in refs(baton)

    # Nothing is posted to them: an assignment is a dead letter saying why, at once.
    lead_id = baton.hand_over(lead()).json()["id"]
    show_card(baton.runtime.ctx, lead_id)
    assigned = baton.submit(MANAGER, ViewId.ASSIGN, lead_id, **{BlockId.ASSIGNEE.value: SELLERS[0]})
    assert assigned.status_code == 200, assigned.text

    def dead() -> Outbox | None:
        rows = [row for row in stored(baton, Outbox) if row.recipient == SELLERS[0]]
        return rows[0] if rows and rows[0].error else None

    letter = eventually(dead)
    assert f"{SELLERS[0]} cannot be reached in Teams" in (letter.error or "")
    assert not [a for a in teams.activities(chat) if a.sender == teams.app_id]
    assert not [
        call for call in teams.calls_to("create_conversation") if SELLERS[0] in str(call.body)
    ]


def test_a_person_forgotten_is_introduced_again_by_their_next_activity(baton, teams):
    assert (
        baton.send(removed_personally(teams, SELLERS[0], "installationUpdate")).status_code == 200
    )
    assert unreachable(baton) == [SELLERS[0]]
    lead_id = baton.hand_over(lead()).json()["id"]
    show_card(baton.runtime.ctx, lead_id)
    assert baton.click(SELLERS[0], ActionId.CLAIM, lead_id).status_code == 200
    assert unreachable(baton) == []  # a click in the team's channel: their account again
    with baton.runtime.ctx.sessions() as session:
        again = conversations.person(session, "teams", SELLERS[0])
        assert again is not None and again.account_id == person(SELLERS[0])["id"]
        assert again.conversation_id is None  # their 1:1 is gone until they add Baton


@pytest.mark.parametrize("kind", ["installationUpdate", "conversationUpdate"])
def test_the_app_removed_from_the_team_forgets_its_channels_and_who_it_reached(baton, teams, kind):
    manager_chat = chat_of(teams, MANAGER)
    assert {SALES, MARKETING, manager_chat} <= refs(baton)
    removal = removed_from_team(teams, kind)
    read = len(teams.calls_to("members")) + len(teams.calls_to("channels"))
    assert baton.send(removal).status_code == 200
    assert refs(baton) == {manager_chat, chat_of(teams, SELLERS[0])}  # only the 1:1s are left
    assert removed(baton) == {SALES, MARKETING}
    # The sellers were reached through the team; the two with a 1:1 still are.
    assert unreachable(baton) == SELLERS[1:]
    with baton.runtime.ctx.sessions() as session:
        found = check.reach(session, baton.runtime.agreement, SOURCE)
    notes = found.notes
    assert len([p for p in found.problems if "Baton was removed from this channel" in p]) == 2
    (line,) = [note for note in notes if "no 1:1 with" in note]
    assert MANAGER not in line and SELLERS[0] not in line and SELLERS[1] in line
    # A removal reads no roster nor channel list: there are none to read any more.
    assert len(teams.calls_to("members")) + len(teams.calls_to("channels")) == read

    assert baton.send(removal).status_code == 200
    assert baton.send({**removal, "id": "f:twice"}).status_code == 200
    assert refs(baton) == {manager_chat, chat_of(teams, SELLERS[0])}
    assert removed(baton) == {SALES, MARKETING}
    assert unreachable(baton) == SELLERS[1:]


def test_the_team_is_found_by_its_first_channel_when_the_removal_does_not_name_it(baton, teams):
    removal = removed_from_team(teams, "conversationUpdate")
    del removal["channelData"]["team"]["aadGroupId"]
    removal["conversation"]["id"] = SALES
    assert baton.send(removal).status_code == 200
    assert SALES not in refs(baton) and MARKETING not in refs(baton)
    with baton.runtime.ctx.sessions() as session:
        kept = session.exec(select(ConversationRef).where(ConversationRef.team_id == TEAM_ID))
        assert [ref.removed_at is not None for ref in kept.all()] == [True, True]


def test_a_member_leaving_the_team_is_not_the_app_removed(baton, teams):
    left = activity("conversationUpdate", user=MANAGER, membersRemoved=[person(SELLERS[3])])
    left["channelData"]["eventType"] = "teamMemberRemoved"
    assert baton.send(left).status_code == 200
    assert {SALES, MARKETING} <= refs(baton)
    assert unreachable(baton) == []


def test_the_app_removed_from_a_group_chat_forgets_that_chat_alone(baton, teams):
    def in_group(**more: Any) -> dict[str, Any]:
        said = activity("conversationUpdate", user=MANAGER, conversation="19:group@thread.v2")
        said["conversation"]["conversationType"] = "groupChat"
        said["channelData"] = {"tenant": said["channelData"]["tenant"]}
        return {**said, **more}

    assert baton.send(in_group(membersAdded=[bot(teams)])).status_code == 200
    assert "19:group@thread.v2" in refs(baton)
    assert baton.send(in_group(membersRemoved=[bot(teams)])).status_code == 200
    assert "19:group@thread.v2" not in refs(baton) and {SALES, MARKETING} <= refs(baton)
    assert removed(baton) == {"19:group@thread.v2"}
    assert unreachable(baton) == []


def test_nothing_is_posted_in_a_channel_of_a_team_baton_was_removed_from(baton, teams):
    """The card of a lead handed over after the removal is a dead letter that says why, at
    once: not one attempt at the channel, at its address or the default one."""
    assert baton.send(removed_from_team(teams, "installationUpdate")).status_code == 200
    posted = len(teams.activities(SALES))
    lead_id = baton.hand_over(lead()).json()["id"]

    def dead() -> Outbox | None:
        rows = [row for row in stored(baton, Outbox) if row.lead_id == lead_id and row.error]
        return rows[0] if rows else None

    letter = eventually(dead)
    assert letter is not None and letter.next_attempt_at is None, letter  # parked, dead
    assert f"Baton was removed from the team of channel {SALES}" in (letter.error or "")
    assert len(teams.activities(SALES)) == posted
    assert not [call for call in teams.calls_to("send") if SALES in unquote(call.path)]
    (problem,) = [p for p in reach_problems(baton) if "channels.sales" in p]
    assert "removed from this channel's team" in problem

    # Added to the team again: the channels are back, and `baton check` is content.
    added = [bot(teams), *(person(user) for user in SELLERS)]
    again = activity("conversationUpdate", user=MANAGER, membersAdded=added)
    assert baton.send(again).status_code == 200
    assert {SALES, MARKETING} <= refs(baton) and removed(baton) == set()
    assert reach_problems(baton) == []


def reach_problems(baton: TeamsBaton) -> list[str]:
    with baton.runtime.ctx.sessions() as session:
        return check.reach(session, baton.runtime.agreement, SOURCE).problems


def test_another_replica_sees_who_was_removed_and_introduced(teams, database_url, monkeypatch):
    """Two replicas on one database: a removal received by one is seen by the other, whose
    memory of who is known would otherwise let the person's next click there pass without
    introducing them again; and the names one was told are on the other's cards."""
    monkeypatch.setattr(StoredPeople, "EVERY", 0.0)  # each activity asks: no waiting here
    with teams_baton(teams, database_url) as one, teams_baton(teams, database_url) as other:
        lead_id = other.hand_over(lead()).json()["id"]
        show_card(other.runtime.ctx, lead_id)
        assert other.click(MANAGER, ActionId.RELEASE, lead_id).status_code == 200  # other knows
        added = [bot(teams), *(person(user) for user in SELLERS)]
        team = activity("conversationUpdate", user=MANAGER, membersAdded=added)
        assert one.send(team).status_code == 200
        chat = chat_of(teams, SELLERS[0])
        installed = activity(
            "installationUpdate", user=SELLERS[0], conversation=chat, personal=True
        )
        assert one.send({**installed, "action": "add"}).status_code == 200
        assert other.send(activity("message", user=SELLERS[0], text="hi")).status_code == 200

        assert one.send(removed_personally(teams, SELLERS[0], "installationUpdate")).status_code
        assert unreachable(one) == [SELLERS[0]]
        card = other.click(SELLERS[0], ActionId.CLAIM, lead_id).json()
        assert unreachable(one) == []  # the click on the other replica introduced them again
        assert person(SELLERS[0])["name"] in json.dumps(card)  # a name `one` was told
