"""`@Baton mine|open|stats|agreement` through the real app with signed activities: answered
in the conversation they were asked in, with cards Teams takes (the Adaptive Card 1.5 schema,
28 KB), from the same domain functions as Slack's `/baton`."""

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot import availability
from bot.actions import ActionId
from bot.agreement_file import load_agreement
from bot.overview import Item
from bot.teams.cards import CARD_BYTES, CardRenderer
from tests.fake_teams import FakeTeams
from tests.support import eventually, lead, show_card
from tests.teams_support import MANAGER, SALES, SELLERS, TeamsBaton, activity, teams_baton
from tests.test_agreement import EXAMPLE
from tests.test_rendering import make_lead, nasty
from tests.test_teams_cards import VALIDATOR, assert_valid


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with teams_baton(teams, database_url) as running:
        yield running


def handed_over(baton: TeamsBaton, **changes: str) -> str:
    answer = baton.hand_over(lead(**changes))
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["id"]
    show_card(baton.runtime.ctx, lead_id)
    return lead_id


def ask(baton: TeamsBaton, teams: FakeTeams, user: str, text: str, where: str) -> dict:
    """`text` said to Baton by `user` in their 1:1 `where`: the card Baton answered with."""
    teams.conversations.setdefault(where, [])
    said = activity("message", user=user, conversation=where, personal=True, text=text)
    assert baton.send(said).status_code == 200
    (reply,) = eventually(
        lambda: [a.body for a in teams.activities(where) if a.sender == teams.app_id]
    )
    (attachment,) = reply["attachments"]
    card = attachment["content"]
    assert_valid(card, VALIDATOR)
    return card


def test_mine_lists_the_askers_open_leads_with_their_next_step(baton, teams):
    mine = handed_over(baton, name="Mette **Bold** Hansen")
    handed_over(baton, email="other@nordlys.dk", name="Ole Other")
    baton.click(SELLERS[0], ActionId.CLAIM, mine)
    card = ask(baton, teams, SELLERS[0], "mine", "a:1mine")
    text = json.dumps(card, ensure_ascii=False)
    assert "Your open leads (1)" in text and "Ole Other" not in text
    assert "Mette ∗∗Bold∗∗ Hansen" in text  # user text shows as typed
    (row,) = [e for e in card["body"] if e["type"] == "Container"]
    (button,) = row["items"][1]["actions"]
    assert (button["verb"], button["data"]) == (ActionId.MARK_CONTACTED, {"value": mine})

    nothing = ask(baton, teams, SELLERS[1], "<at>Baton</at> MINE", "a:1none")
    assert "Nothing open" in json.dumps(nothing)


def test_open_stats_and_agreement_are_answered_in_the_thread_they_were_asked_in(baton, teams):
    lead_id = handed_over(baton, name="Unclaimed Ulla")
    card = ask(baton, teams, SELLERS[2], "open", "a:1open")
    assert "Unclaimed and overdue leads (1)" in json.dumps(card)
    (row,) = [e for e in card["body"] if e["type"] == "Container"]
    (claim,) = row["items"][1]["actions"]
    assert (claim["type"], claim["verb"], claim["data"]) == (
        "Action.Execute",
        ActionId.CLAIM,
        {"value": lead_id},
    )

    text = "<at>Baton</at> stats"
    root = teams.say(SALES, text, user=SELLERS[1])
    thread = f"{SALES};messageid={root}"
    asked = activity("message", user=SELLERS[1], conversation=thread)
    asked.update(id=root, text=text)
    assert baton.send(asked).status_code == 200
    (reply,) = eventually(
        lambda: [
            a.body
            for a in teams.activities(SALES)
            if a.sender == teams.app_id and a.conversation == thread
        ]
    )
    stats = reply["attachments"][0]["content"]
    assert_valid(stats, VALIDATOR)
    assert "This week, since" in json.dumps(stats) and "Handed over 1 lead" in json.dumps(stats)

    agreement = ask(baton, teams, SELLERS[3], "agreement", "a:1agreement")
    text = json.dumps(agreement)
    assert "The agreement between Sales and Marketing" in text and "claim a lead within" in text

    helped = ask(baton, teams, SELLERS[4], "help", "a:1help")
    assert "mine" in json.dumps(helped) and "I don't know" not in json.dumps(helped)


def test_a_long_list_fits_teams_limit_and_says_how_many_more(agreement) -> None:
    names = {seller: nasty(200) for seller in agreement.people.sales}
    renderer = CardRenderer(agreement, names=names)
    items = [
        Item(
            lead=make_lead(id=f"{n:032x}", name=nasty(300), company=nasty(300), owner="U0SELLER1"),
            clock=None,
        )
        for n in range(75)
    ]
    for template in ("mine", "open"):
        card = renderer.message(template, items=items)
        assert_valid(card, VALIDATOR)
        assert len(json.dumps(card, ensure_ascii=False).encode()) <= CARD_BYTES
        assert "…and 35 more" in json.dumps(card, ensure_ascii=False)
        assert len([e for e in card["body"] if e["type"] == "Container"]) == 20


def test_the_example_agreement_renders_as_a_valid_card() -> None:
    agreement = load_agreement(EXAMPLE)
    card = CardRenderer(agreement).message("agreement")
    assert_valid(card, VALIDATOR)
    text = json.dumps(card, ensure_ascii=False)
    assert f"claim a lead within {agreement.sla.claim_within}" in text


def test_a_seller_goes_away_until_a_day_and_comes_back(baton, teams):
    ctx = baton.runtime.ctx
    day = ctx.clock().astimezone(ctx.agreement.tz).date() + timedelta(days=8)
    away = ask(baton, teams, SELLERS[0], f"<at>Baton</at> away until {day}", "a:1away")
    assert "You're away until" in json.dumps(away)
    status = availability.of(ctx, SELLERS[0])
    assert status.away and status.away_until is not None
    assert status.away_until.astimezone(ctx.agreement.tz).date() == day

    bad = ask(baton, teams, SELLERS[1], "away until next **week**", "a:1bad")
    assert "is not a date" in json.dumps(bad) and "∗∗week∗∗" in json.dumps(bad, ensure_ascii=False)
    assert not availability.of(ctx, SELLERS[1]).away
    outsider = ask(baton, teams, MANAGER, "away", "a:1manager")
    assert "Only the sellers of the agreement" in json.dumps(outsider)

    back = ask(baton, teams, SELLERS[0], "back", "a:1back")
    assert "Welcome back" in json.dumps(back)
    assert not availability.of(ctx, SELLERS[0]).away
    again = ask(baton, teams, SELLERS[0], "back", "a:1again")
    assert "You weren't away" in json.dumps(again)
