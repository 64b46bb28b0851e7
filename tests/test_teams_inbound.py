"""`POST /api/messages` through the real app: activities signed as the Bot Framework signs
them, installations kept, clicks and dialogs answered as Teams shows them, forgeries refused."""

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import select

from bot.actions import ActionId, BlockId, ViewId
from storage import conversations, leads
from storage.models import ChatPerson, ConversationRef, Feedback, InboundEvent, Lead
from tests.fake_teams import TEAM_ID, TENANT_ID, FakeTeams
from tests.support import eventually, lead, show_card
from tests.teams_support import (
    MANAGER,
    MARKETING,
    OUTSIDER,
    SALES,
    SELLERS,
    TEAMS_AGREEMENT,
    TeamsBaton,
    activity,
    person,
    teams_baton,
)
from tests.test_teams_cards import SCHEMA, assert_valid


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with teams_baton(teams, database_url) as running:
        yield running


def handed_over(baton: TeamsBaton) -> str:
    answer = baton.hand_over(lead())
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["id"]
    show_card(baton.runtime.ctx, lead_id)
    return lead_id


def stored(baton: TeamsBaton, lead_id: str) -> Lead:
    with baton.runtime.ctx.sessions() as session:
        found = session.get(Lead, lead_id)
        assert found is not None
        return found


def rows(baton: TeamsBaton, model: type) -> list:
    with baton.runtime.ctx.sessions() as session:
        return list(session.exec(select(model)).all())


def test_installing_in_the_team_and_personally_keeps_where_to_reach_everyone(baton, teams):
    teams.channels[SALES] = [{"id": SALES, "name": "General"}, {"id": MARKETING, "name": "Mktg"}]
    team_install = activity(
        "conversationUpdate",
        user=MANAGER,
        membersAdded=[{"id": f"28:{baton.teams.app_id}"}, person(SELLERS[0]), person(SELLERS[1])],
    )
    assert baton.send(team_install).status_code == 200
    personal = activity(
        "installationUpdate", user=SELLERS[0], conversation="a:1PeRsOnAl_xyz", personal=True
    )
    personal["action"] = "add"
    assert baton.send(personal).status_code == 200

    with baton.runtime.ctx.sessions() as session:
        channel = conversations.conversation(session, "teams", SALES)
        assert channel is not None
        assert (channel.kind, channel.team_id, channel.tenant_id) == ("channel", TEAM_ID, TENANT_ID)
        assert channel.service_url == baton.teams.service_url
        marketing = conversations.conversation(session, "teams", MARKETING)
        assert marketing is not None  # a channel of the team the activity did not name
        assert (marketing.team_id, marketing.channel_id) == (TEAM_ID, MARKETING)
        one = conversations.personal_conversation(session, "teams", SELLERS[0])
        assert one is not None
        assert one.conversation_id == "a:1PeRsOnAl_xyz"
        assert one.chat_id == f"19:{SELLERS[0]}_{baton.teams.app_id}@unq.gbl.spaces"
        seller = conversations.person(session, "teams", SELLERS[1])
        assert seller is not None and seller.account_id == person(SELLERS[1])["id"]
        assert conversations.unreachable(session, "teams", [SELLERS[0], SELLERS[2]]) == [SELLERS[2]]
    # People are shown by the name Teams gave them.
    lead_id = handed_over(baton)
    card = baton.click(SELLERS[1], ActionId.CLAIM, lead_id).json()
    assert "Person 5e11" in json.dumps(card)


def test_a_forged_or_foreign_activity_is_refused_and_changes_nothing(baton, teams):
    lead_id = handed_over(baton)
    claim = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forgeries = {
        "unsigned": "",
        "someone else's key": teams.sign(key=stranger),
        "expired": teams.sign(lifetime=-600),
        "another app": teams.sign(aud="00000000-0000-4000-8000-000000000000"),
        "another issuer": teams.sign(iss="https://sts.windows.net/evil/"),
        "another service URL": teams.sign(serviceurl="https://evil.example/teams/"),
        "not a JWT": "not-a-token",
    }
    for why, token in forgeries.items():
        for sent in (
            activity("invoke", name="adaptiveCard/action", value=claim),
            activity("conversationUpdate", membersAdded=[person(SELLERS[2])]),
        ):
            answer = baton.send(sent, token=token)
            assert answer.status_code == 401, why
    assert stored(baton, lead_id).owner is None
    assert rows(baton, ConversationRef) == []
    assert rows(baton, ChatPerson) == []
    assert [row for row in rows(baton, InboundEvent) if row.platform == "teams"] == []


def test_a_claim_is_answered_with_the_card_in_place(baton):
    lead_id = handed_over(baton)
    answer = baton.click(SELLERS[0], ActionId.CLAIM, lead_id)
    assert answer.status_code == 200
    body = answer.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    card = json.dumps(body["value"])
    assert "Owner" in card and ActionId.MARK_CONTACTED.value in card
    assert ActionId.CLAIM.value not in card
    found = stored(baton, lead_id)
    assert (found.owner, found.stage) == (SELLERS[0], "claimed")


def test_ten_people_claiming_at_once_give_one_owner_and_nine_refusals(baton):
    lead_id = handed_over(baton)
    with ThreadPoolExecutor(len(SELLERS)) as pool:
        answers = list(
            pool.map(lambda user: baton.click(user, ActionId.CLAIM, lead_id).json(), SELLERS)
        )
    cards = [a for a in answers if a["type"] == "application/vnd.microsoft.card.adaptive"]
    refusals = [a for a in answers if a["type"] == "application/vnd.microsoft.activity.message"]
    assert (len(cards), len(refusals)) == (1, 9)
    assert all("already claimed" in refusal["value"] for refusal in refusals)
    assert stored(baton, lead_id).owner in SELLERS
    with baton.runtime.ctx.sessions() as session:
        claims = [e for e in leads.history(session=session, lead_id=lead_id) if e.kind == "claimed"]
    assert len(claims) == 1


def test_someone_outside_sales_is_told_alone_and_nothing_changes(baton):
    lead_id = handed_over(baton)
    body = baton.click("99999999-0000-4000-8000-000000000099", ActionId.CLAIM, lead_id).json()
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "claim" in body["value"]
    assert stored(baton, lead_id).owner is None


def test_a_repeated_delivery_is_answered_and_not_done_again(baton):
    lead_id = handed_over(baton)
    value = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    click = activity("invoke", name="adaptiveCard/action", value=value)
    first, again = baton.send(click).json(), baton.send(click).json()
    assert first["type"] == again["type"] == "application/vnd.microsoft.card.adaptive"
    with baton.runtime.ctx.sessions() as session:
        kinds = [e.kind for e in leads.history(session=session, lead_id=lead_id)]
    assert kinds.count("claimed") == 1


def test_one_delivery_sent_five_times_at_once_is_done_once(baton):
    lead_id = handed_over(baton)
    value = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    click = activity("invoke", name="adaptiveCard/action", value=value)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: baton.send(click).json(), range(5)))
    assert {a["type"] for a in answers} == {"application/vnd.microsoft.card.adaptive"}
    with baton.runtime.ctx.sessions() as session:
        kinds = [e.kind for e in leads.history(session=session, lead_id=lead_id)]
    assert kinds.count("claimed") == 1
    assert stored(baton, lead_id).owner == SELLERS[0]


def test_a_refused_click_delivered_again_is_shown_the_card_and_changes_nothing(baton):
    lead_id = handed_over(baton)
    assert baton.click(SELLERS[1], ActionId.CLAIM, lead_id).status_code == 200
    value = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    click = activity("invoke", user=SELLERS[0], name="adaptiveCard/action", value=value)
    refused, again = baton.send(click).json(), baton.send(click).json()
    assert refused["type"] == "application/vnd.microsoft.activity.message"
    assert "already claimed" in refused["value"]
    assert again["type"] == "application/vnd.microsoft.card.adaptive"
    assert f"{click['id']}@{click['conversation']['id']}" in {
        e.event_id for e in rows(baton, InboundEvent)
    }
    assert stored(baton, lead_id).owner == SELLERS[1]


def test_a_person_known_from_a_channel_is_kept_with_the_1_1_they_open_later(baton):
    lead_id = handed_over(baton)
    assert baton.click(SELLERS[2], ActionId.CLAIM, lead_id).status_code == 200  # known now
    assert baton.click(SELLERS[2], ActionId.RELEASE, lead_id).status_code == 200
    said = activity("message", user=SELLERS[2], conversation="a:1LaTeR", personal=True, text="hi")
    assert baton.send(said).status_code == 200
    with baton.runtime.ctx.sessions() as session:
        one = conversations.personal_conversation(session, "teams", SELLERS[2])
        assert one is not None and one.conversation_id == "a:1LaTeR"


def test_give_feedback_opens_the_dialog_for_the_owner_only(baton):
    lead_id = handed_over(baton)
    baton.click(SELLERS[0], ActionId.CLAIM, lead_id)
    refused = baton.fetch(SELLERS[1], ActionId.GIVE_FEEDBACK, lead_id).json()
    assert refused["task"]["type"] == "message"
    opened = baton.fetch(SELLERS[0], ActionId.GIVE_FEEDBACK, lead_id).json()
    assert opened["task"]["type"] == "continue"
    dialog = opened["task"]["value"]["card"]["content"]
    ids = {element.get("id") for element in dialog["body"]}
    assert {BlockId.OUTCOME, BlockId.REASON, BlockId.NOTE} <= ids
    assert dialog["actions"][0]["data"] == {"action": ViewId.FEEDBACK, "value": lead_id}


def test_feedback_with_a_missing_field_is_shown_again_with_the_error(baton):
    lead_id = handed_over(baton)
    baton.click(SELLERS[0], ActionId.CLAIM, lead_id)
    answer = baton.submit(
        SELLERS[0], ViewId.FEEDBACK, lead_id, outcome="rejected", note="Not the right person"
    ).json()
    assert answer["task"]["type"] == "continue"
    dialog = json.dumps(answer["task"]["value"]["card"]["content"])
    assert "Say why the lead was rejected" in dialog
    card = answer["task"]["value"]["card"]["content"]
    assert_valid(card, jsonschema.Draft6Validator(json.loads(SCHEMA.read_text())))
    assert "Not the right person" in dialog  # what was typed is kept
    assert rows(baton, Feedback) == []

    done = baton.submit(
        SELLERS[0], ViewId.FEEDBACK, lead_id, outcome="rejected", reason="no_relevant_need"
    )
    assert done.status_code == 200
    (given,) = rows(baton, Feedback)
    assert (given.by, given.outcome, given.reason) == (SELLERS[0], "rejected", "no_relevant_need")


def test_the_sales_manager_assigns_through_the_dialog(baton):
    lead_id = handed_over(baton)
    assert baton.fetch(SELLERS[0], ActionId.ASSIGN, lead_id).json()["task"]["type"] == "message"
    opened = baton.fetch(MANAGER, ActionId.ASSIGN, lead_id).json()
    choices = opened["task"]["value"]["card"]["content"]["body"][1]["choices"]
    assert [choice["value"] for choice in choices] == SELLERS
    done = baton.submit(MANAGER, ViewId.ASSIGN, lead_id, **{BlockId.ASSIGNEE.value: SELLERS[3]})
    assert done.json()["task"]["type"] == "message"
    assert stored(baton, lead_id).owner == SELLERS[3]


def test_a_seller_named_by_email_can_claim_once_the_installation_introduced_them(
    teams, database_url
):
    """Only the roster gives addresses: it is read when the app is added to the team."""
    per = "e5e5e5e5-0000-4000-8000-0000000000e5"
    text = TEAMS_AGREEMENT.replace(f"sales: [{SELLERS[0]},", "sales: [Per@Nordlys.dk,")
    teams.rosters[SALES] = [
        {**person(MANAGER), "email": "mona@nordlys.dk", "userPrincipalName": "mona@nordlys.dk"},
        {**person(per), "name": "Per Sælger", "email": "per@nordlys.dk"},
    ]
    with teams_baton(teams, database_url, text) as baton:
        assert baton.runtime.agreement.people.sales[0] == "per@nordlys.dk"  # not known yet
        lead_id = handed_over(baton)
        refused = baton.click(per, ActionId.CLAIM, lead_id).json()
        assert refused["type"] == "application/vnd.microsoft.activity.message"

        install = activity("conversationUpdate", user=MANAGER, membersAdded=[person(MANAGER)])
        assert baton.send(install).status_code == 200
        assert [call.op for call in teams.calls].count("members") == 1
        assert baton.runtime.agreement.people.sales[0] == per
        card = baton.click(per, ActionId.CLAIM, lead_id).json()
        assert card["type"] == "application/vnd.microsoft.card.adaptive"
        assert "Per Sælger" in json.dumps(card, ensure_ascii=False)
        assert stored(baton, lead_id).owner == per
        with baton.runtime.ctx.sessions() as session:
            assert conversations.person(session, "teams", MANAGER).email == "mona@nordlys.dk"


def test_the_owner_marks_contacted_and_releases_from_the_card(baton):
    lead_id = handed_over(baton)
    baton.click(SELLERS[0], ActionId.CLAIM, lead_id)
    refused = baton.click(SELLERS[1], ActionId.MARK_CONTACTED, lead_id).json()
    assert refused["type"] == "application/vnd.microsoft.activity.message"
    contacted = baton.click(SELLERS[0], ActionId.MARK_CONTACTED, lead_id).json()
    assert contacted["type"] == "application/vnd.microsoft.card.adaptive"
    assert stored(baton, lead_id).stage == "contacted"

    other = handed_over(baton)
    baton.click(SELLERS[2], ActionId.CLAIM, other)
    released = baton.click(SELLERS[2], ActionId.RELEASE, other).json()
    assert ActionId.CLAIM.value in json.dumps(released["value"])
    assert stored(baton, other).owner is None


def test_the_manager_extends_a_clock_once_with_a_reason(baton):
    lead_id = handed_over(baton)
    clock = f"{lead_id}:claim"
    assert baton.fetch(SELLERS[0], ActionId.EXTEND, clock).json()["task"]["type"] == "message"
    opened = baton.fetch(MANAGER, ActionId.EXTEND, clock).json()
    assert opened["task"]["type"] == "continue"
    submit = opened["task"]["value"]["card"]["content"]["actions"][0]["data"]
    assert submit == {"action": ViewId.EXTEND, "value": clock}
    no_reason = baton.submit(MANAGER, ViewId.EXTEND, clock, **{BlockId.REASON.value: " "})
    assert no_reason.json()["task"]["value"] == "Please say why."
    done = baton.submit(MANAGER, ViewId.EXTEND, clock, **{BlockId.REASON.value: "Trade fair"})
    assert done.status_code == 200 and done.json() == {}
    again = baton.submit(MANAGER, ViewId.EXTEND, clock, **{BlockId.REASON.value: "Once more"})
    assert "once already" in again.json()["task"]["value"]


@pytest.mark.parametrize(
    "change",
    [
        {"from": "U0SELLER1"},
        {"conversation": ["19:x"]},
        {"membersAdded": {"id": "29:1"}},
        {"value": "baton.claim"},
        {"channelData": {"team": "Sales"}},
    ],
)
def test_a_signed_activity_of_the_wrong_shape_is_a_400_and_changes_nothing(baton, change):
    lead_id = handed_over(baton)
    value = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    answer = baton.send({**activity("invoke", name="adaptiveCard/action", value=value), **change})
    assert answer.status_code == 400
    assert answer.json()["detail"][0]["loc"][1] == next(iter(change))
    assert stored(baton, lead_id).owner is None
    assert rows(baton, ConversationRef) == []


def _replies(teams: FakeTeams, conversation: str) -> list[str]:
    """Baton's messages in `conversation` (a thread: `{channel};messageid={root}`); not the
    lead cards the outbox posts to the channel itself."""
    return [
        json.dumps(a.body.get("attachments"), ensure_ascii=False)
        for a in teams.activities(conversation.split(";")[0])
        if a.sender == teams.app_id and a.conversation == conversation
    ]


def test_a_message_to_baton_is_answered_with_help_in_its_1_1(baton, teams):
    teams.conversations.setdefault("a:1help", [])
    said = activity("message", conversation="a:1help", personal=True, text="hello")
    assert baton.send(said).status_code == 200
    (reply,) = eventually(lambda: _replies(teams, "a:1help"))
    assert "I don't know" in reply and "history EMAIL" in reply
    assert baton.send(said).status_code == 200  # delivered again: not answered again
    assert len(_replies(teams, "a:1help")) == 1


def test_history_mentioned_in_a_channel_is_answered_in_the_thread(baton, teams):
    lead_id = handed_over(baton)
    baton.click(SELLERS[0], ActionId.CLAIM, lead_id)
    text = "<at>Baton</at> history METTE@nordlys.dk"
    root = teams.say(SALES, text, user=SELLERS[1])
    asked = activity("message", user=SELLERS[1], conversation=f"{SALES};messageid={root}")
    asked.update(id=root, text=text)
    assert baton.send(asked).status_code == 200
    (reply,) = eventually(lambda: _replies(teams, f"{SALES};messageid={root}"))
    assert "Mette Hansen" in reply and "claimed" in reply
    (attachment,) = json.loads(reply)
    assert_valid(attachment["content"], jsonschema.Draft6Validator(json.loads(SCHEMA.read_text())))

    outsider = activity("message", user=OUTSIDER, conversation="a:1out", personal=True)
    teams.conversations.setdefault("a:1out", [])
    outsider["text"] = "history mette@nordlys.dk"
    baton.send(outsider)
    (refused,) = eventually(lambda: _replies(teams, "a:1out"))
    assert "Mette" not in refused and "read" in refused


def test_an_unknown_button_or_an_unknown_person_is_told_and_nothing_changes(baton):
    lead_id = handed_over(baton)
    odd = baton.click(SELLERS[0], "baton.teleport", lead_id).json()
    assert "does not know this button" in odd["value"]
    guest = activity(
        "invoke",
        name="adaptiveCard/action",
        value={
            "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
        },
    )
    guest["from"] = {"id": "29:guest", "name": "Guest"}
    answer = baton.send(guest).json()
    assert "did not say who you are" in answer["value"]
    assert baton.fetch(SELLERS[0], "baton.teleport", lead_id).json()["task"]["type"] == "message"
    assert stored(baton, lead_id).owner is None
