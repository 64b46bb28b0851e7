"""Routing through the real app: a qualified lead assigned at hand-over with the card saying
who and why, `/baton away` and `/baton back`, and App Home's switch, all by signed requests
answered by the Slack stand-in."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import availability
from bot.actions import ActionId
from bot.agreement_file import parse_agreement
from bot.clock import utcnow
from storage import leads, sellers
from tests.support import AGREEMENT, GOOD_LEAD, block_action
from tests.test_feedback import command

S1, S2, S3 = "U0SELLER1", "U0SELLER2", "U0SELLER3"


@pytest.fixture
def agreement():
    return parse_agreement(AGREEMENT + f"routing: {{mode: round_robin, weights: {{{S1}: 2}}}}\n")


def card_of(slack) -> str:
    [card] = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    return json.dumps(card.json("blocks"))


def stored(baton, lead_id):
    with baton.runtime.ctx.sessions() as session:
        return leads.get(session=session, lead_id=lead_id)


def status(baton, seller):
    with baton.runtime.ctx.sessions() as session:
        return sellers.status(session=session, seller=seller)


def test_a_handed_over_lead_is_assigned_and_the_card_says_to_whom_and_why(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    card = card_of(slack)
    assert "Assigned by Baton to <@U0SELLER1>: round robin, weight 2" in card
    assert "baton.claim" not in card  # nothing left to claim
    assert "Mark contacted" in card
    lead = stored(baton, lead_id)
    assert (lead.owner, lead.stage) == (S1, "claimed")
    [told] = slack.wait_for(
        "chat.postMessage", where=lambda c: "assigned you" in (c.params.get("text") or "")
    )
    assert told.params["channel"] == S1
    assert "Baton assigned you" in json.dumps(told.json("blocks"))
    assert "(round robin, weight 2)" in json.dumps(told.json("blocks"))


def test_away_until_a_day_takes_the_seller_out_of_the_turns(baton, slack):
    today = utcnow().astimezone(ZoneInfo("Europe/Copenhagen")).date()
    back_on = today + timedelta(days=7)
    answer = command(baton, f"away until {back_on.isoformat()}", S1).json()
    assert answer["response_type"] == "ephemeral"
    assert f"You're away until {back_on:%a} {back_on.day} {back_on:%b %Y}" in answer["text"]
    assert status(baton, S1).away_until is not None
    owners = {
        stored(
            baton, baton.hand_over({**GOOD_LEAD, "email": f"l{n}@nordlys.dk"}).json()["id"]
        ).owner
        for n in range(4)
    }
    assert owners == {S2, S3}
    back = command(baton, "back", S1).json()
    assert back["response_type"] == "ephemeral"
    assert back["text"].startswith("Welcome back")
    assert status(baton, S1).away_since is None
    assert command(baton, "back", S1).json()["text"].startswith("You weren't away")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("away until friday", "“friday” is not a date"),
        ("away until 2020-01-01", "2020-01-01 is not after today"),
    ],
)
def test_a_bad_day_is_an_ephemeral_error_and_changes_nothing(baton, slack, words, expected):
    answer = command(baton, words, S2)
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert expected in answer.json()["text"]
    assert "Nothing was changed." in answer.json()["text"]
    assert status(baton, S2) is None


def test_someone_who_is_not_selling_cannot_be_away(baton, slack):
    answer = command(baton, "away", "U0MKTG1").json()
    assert answer["response_type"] == "ephemeral"
    assert "Only the sellers" in answer["text"]
    assert status(baton, "U0MKTG1") is None


def home_click(baton, user: str, action_id: str, **action):
    payload = block_action(user=user, action_id=action_id, value="")
    payload.pop("channel")
    payload.pop("message")
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {"id": "V0HOME", "type": "home"}
    payload["actions"][0].update(action)
    return baton.interact(payload)


def test_app_home_switches_a_seller_away_and_back(baton, slack):
    assert home_click(baton, S2, ActionId.AWAY).status_code == 200
    view = slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == S2)[0]
    assert "You're away" in json.dumps(view.json("view"))
    assert "I'm back" in json.dumps(view.json("view"))
    assert availability.of(baton.runtime.ctx, S2).away
    home_click(baton, S2, ActionId.BACK)
    view = slack.wait_for("views.publish", 2, where=lambda c: c.params["user_id"] == S2)[1]
    assert "Available" in json.dumps(view.json("view"))
    assert not availability.of(baton.runtime.ctx, S2).away


def test_app_home_away_until_the_day_picked(baton, slack):
    back_on = utcnow().date() + timedelta(days=3)
    home_click(baton, S3, ActionId.AWAY_UNTIL, type="datepicker", selected_date=back_on.isoformat())
    view = slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == S3)[0]
    assert f"until {back_on:%a %d %b %Y} (back that morning)" in json.dumps(view.json("view"))
    assert status(baton, S3).away_until is not None


def test_when_everyone_is_away_the_lead_stays_open_and_the_card_says_why(baton, slack):
    for seller in (S1, S2, S3):
        command(baton, "away", seller)
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    card = card_of(slack)
    assert "Open for Claim: Baton could not assign it, nobody is available: 3 away" in card
    assert "baton.claim" in card
    assert stored(baton, lead_id).owner is None


def test_the_agreement_command_says_who_gets_a_lead(baton, slack):
    answer = command(baton, "agreement", S2).json()
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "Baton assigns it: in turn (<@U0SELLER1> counts 2×)" in text
