"""Pause clock and Put back in rotation on Teams, through the real app with signed
activities: the same services as Slack's buttons, refusals for the clicker alone."""

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot import consequences
from bot.actions import ActionId, BlockId, ViewId
from bot.teams.cards import CardRenderer
from storage import sellers
from storage.db import transaction
from storage.models import Consequence, Lead
from tests.fake_teams import FakeTeams
from tests.support import lead, show_card
from tests.teams_support import MANAGER, SELLERS, TeamsBaton, invoke, teams_baton
from tests.test_teams_cards import VALIDATOR, assert_valid


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with teams_baton(teams, database_url) as running:
        yield running


def claimed(baton: TeamsBaton, owner: str) -> tuple[str, dict]:
    answer = baton.hand_over(lead())
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["id"]
    show_card(baton.runtime.ctx, lead_id)
    card = baton.click(owner, ActionId.CLAIM, lead_id).json()["value"]
    return lead_id, card


def stored(baton: TeamsBaton, lead_id: str) -> Lead:
    with baton.runtime.ctx.sessions() as session:
        found = session.get(Lead, lead_id)
        assert found is not None
        return found


def today(baton: TeamsBaton):
    ctx = baton.runtime.ctx
    return ctx.clock().astimezone(ctx.agreement.tz).date()


def actions(card: dict) -> list[str]:
    return [a.get("verb") or a["data"].get("action") for a in card.get("actions") or []]


def test_the_owner_pauses_the_clock_through_the_dialog(baton):
    lead_id, card = claimed(baton, SELLERS[0])
    assert ActionId.PAUSE in actions(card)
    (pause,) = [a for a in card["actions"] if a["data"].get("action") == ActionId.PAUSE]
    assert pause["type"] == "Action.Submit" and pause["data"]["msteams"] == {"type": "task/fetch"}

    refused = baton.fetch(SELLERS[1], ActionId.PAUSE, lead_id).json()
    assert refused["task"]["type"] == "message" and "pause" in refused["task"]["value"]

    opened = baton.fetch(SELLERS[0], ActionId.PAUSE, lead_id).json()
    assert opened["task"]["type"] == "continue"
    dialog = opened["task"]["value"]["card"]["content"]
    assert_valid(dialog, VALIDATOR)
    fields = {element.get("id"): element for element in dialog["body"]}
    assert {BlockId.UNTIL, BlockId.REASON, BlockId.NOTE} <= set(fields)
    reasons = baton.runtime.agreement.pause.reasons
    assert [c["value"] for c in fields[BlockId.REASON]["choices"]] == [r.code for r in reasons]
    assert fields[BlockId.UNTIL]["value"] == (today(baton) + timedelta(days=1)).isoformat()
    assert dialog["actions"][0]["data"] == {"action": ViewId.PAUSE, "value": lead_id}

    week = (today(baton) + timedelta(days=7)).isoformat()
    no_why = baton.submit(SELLERS[0], ViewId.PAUSE, lead_id, **{BlockId.UNTIL.value: week})
    shown = no_why.json()["task"]
    assert shown["type"] == "continue"
    again = shown["value"]["card"]["content"]
    assert_valid(again, VALIDATOR)
    assert "Choose a reason or write a note" in json.dumps(again)
    assert {e.get("id"): e.get("value") for e in again["body"]}[BlockId.UNTIL] == week

    too_far = (today(baton) + timedelta(days=60)).isoformat()
    far = baton.submit(
        SELLERS[0], ViewId.PAUSE, lead_id, **{BlockId.UNTIL.value: too_far, "note": "On leave"}
    ).json()["task"]
    assert far["type"] == "continue"
    text = json.dumps(far["value"]["card"]["content"], ensure_ascii=False)
    assert "at most 14 days" in text and "On leave" in text
    garbled = baton.submit(
        SELLERS[0], ViewId.PAUSE, lead_id, **{BlockId.UNTIL.value: "next week", "note": "x"}
    ).json()["task"]
    assert "Choose a day after today" in json.dumps(garbled["value"]["card"]["content"])
    assert stored(baton, lead_id).paused_at is None

    code = reasons[0].code
    done = baton.submit(
        SELLERS[0], ViewId.PAUSE, lead_id, **{BlockId.UNTIL.value: week, "reason": code}
    ).json()
    assert done["task"]["type"] == "message" and done["task"]["value"].startswith("Paused until")
    paused = stored(baton, lead_id)
    assert (paused.paused_by, paused.pause_reason) == (SELLERS[0], code)

    twice = baton.submit(
        SELLERS[0], ViewId.PAUSE, lead_id, **{BlockId.UNTIL.value: week, "reason": code}
    ).json()
    assert twice["task"]["type"] == "message" and "once already" in twice["task"]["value"]
    refetch = baton.fetch(SELLERS[0], ActionId.PAUSE, lead_id).json()
    assert "once already" in refetch["task"]["value"]
    card = baton.click(SELLERS[0], ActionId.MARK_CONTACTED, lead_id).json()["value"]
    assert ActionId.PAUSE not in actions(card) and "Clock paused" in json.dumps(card)


def test_an_unclaimed_lead_has_no_pause(baton):
    answer = baton.hand_over(lead())
    lead_id = answer.json()["id"]
    show_card(baton.runtime.ctx, lead_id)
    card = baton.click(SELLERS[0], ActionId.CLAIM, lead_id).json()["value"]
    released = baton.click(SELLERS[0], ActionId.RELEASE, lead_id).json()["value"]
    assert ActionId.PAUSE in actions(card) and ActionId.PAUSE not in actions(released)


def test_the_sales_manager_puts_a_seller_back_from_the_out_of_rotation_card(baton):
    lead_id, _ = claimed(baton, SELLERS[2])
    ctx = baton.runtime.ctx
    with transaction(ctx.sessions) as session:
        sellers.take_out_of_rotation(session, SELLERS[2], "3 breaches in a week", ctx.clock())
    card = CardRenderer(ctx.agreement).message(
        "out_of_rotation",
        role="sales_manager",
        seller=SELLERS[2],
        breaches=3,
        limit=3,
        lead=stored(baton, lead_id),
        card_link=None,
    )
    assert_valid(card, VALIDATOR)
    (action,) = card["actions"]
    assert (action["type"], action["verb"]) == ("Action.Execute", ActionId.RESTORE)
    seller = action["data"]["value"]

    refused = baton.click(SELLERS[0], action["verb"], seller).json()
    assert refused["type"] == "application/vnd.microsoft.activity.message"
    assert "Only the sales manager may put a seller back" in refused["value"]
    assert consequences.out_of_rotation(ctx) == [SELLERS[2]]

    done = baton.click(MANAGER, action["verb"], seller).json()
    assert done["type"] == "application/vnd.microsoft.activity.message"
    assert "back in rotation" in done["value"]
    assert consequences.out_of_rotation(ctx) == []
    again = baton.click(MANAGER, action["verb"], seller).json()
    assert "is not out of rotation" in again["value"]


def test_a_repeated_put_back_is_answered_and_not_done_again(baton):
    ctx = baton.runtime.ctx
    with transaction(ctx.sessions) as session:
        sellers.take_out_of_rotation(session, SELLERS[4], "3 breaches in a week", ctx.clock())
    value = {
        "action": {
            "type": "Action.Execute",
            "verb": ActionId.RESTORE,
            "data": {"value": SELLERS[4]},
        }
    }
    click = invoke("adaptiveCard/action", value, user=MANAGER)
    first, again = baton.send(click).json(), baton.send(click).json()
    assert "back in rotation" in first["value"] and "back in rotation" in again["value"]
    assert consequences.out_of_rotation(ctx) == []
    with ctx.sessions() as session:
        restored = session.exec(select(Consequence).where(Consequence.kind == "restored")).all()
    assert len(restored) == 1
