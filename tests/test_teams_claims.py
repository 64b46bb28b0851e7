"""Claims that arrive together, decided in one transaction (`bot.teams.listeners.claims`):
each answered as it would have been alone, in the order they came, and a failure of one
never costs the others their answer."""

from collections.abc import Iterator
from typing import Any

import pytest

from bot.actions import ActionId
from bot.teams import listeners
from bot.teams.cards import CardRenderer
from bot.teams.places import StoredPeople
from storage import leads
from tests.fake_teams import FakeTeams
from tests.teams_support import OUTSIDER, SELLERS, TeamsBaton, invoke, teams_baton
from tests.test_teams_inbound import handed_over, stored

CARD = "application/vnd.microsoft.card.adaptive"
NOTICE = "application/vnd.microsoft.activity.message"


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with teams_baton(teams, database_url) as running:
        yield running


def inbound(baton: TeamsBaton) -> listeners.Inbound:
    ctx = baton.runtime.ctx
    return listeners.Inbound(
        ctx, CardRenderer(baton.runtime.agreement, {}), lambda: None, StoredPeople(ctx.sessions)
    )


def claim(user: str, lead_id: str) -> dict[str, Any]:
    value = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    return invoke("adaptiveCard/action", value, user=user)


def claimed(baton: TeamsBaton, lead_id: str) -> int:
    with baton.runtime.ctx.sessions() as session:
        return [e.kind for e in leads.history(session=session, lead_id=lead_id)].count("claimed")


def test_claims_together_are_answered_in_their_order_as_each_would_be_alone(baton):
    first, second = handed_over(baton), handed_over(baton)
    clicks = [
        claim(SELLERS[0], first),
        claim(SELLERS[1], first),
        claim(OUTSIDER, second),
        claim(SELLERS[2], second),
    ]
    assert all(listeners.is_claim(click) for click in clicks)
    answered = [handled.answer for handled in listeners.claims(inbound(baton), clicks)]
    assert [answer["type"] for answer in answered] == [CARD, NOTICE, NOTICE, CARD]
    assert "already claimed" in answered[1]["value"]
    assert "claim" in answered[2]["value"]
    assert (stored(baton, first).owner, stored(baton, second).owner) == (SELLERS[0], SELLERS[2])
    assert (claimed(baton, first), claimed(baton, second)) == (1, 1)

    # Every delivery's key was kept, the refused ones' too: delivered again, each is shown
    # the card, and nothing is done again.
    again = [handled.answer for handled in listeners.claims(inbound(baton), clicks)]
    assert [answer["type"] for answer in again] == [CARD] * 4
    assert (claimed(baton, first), claimed(baton, second)) == (1, 1)


def test_the_same_delivery_twice_in_one_batch_is_done_once(baton):
    lead_id = handed_over(baton)
    click = claim(SELLERS[0], lead_id)
    answered = [handled.answer for handled in listeners.claims(inbound(baton), [click, click])]
    assert [answer["type"] for answer in answered] == [CARD, CARD]
    assert claimed(baton, lead_id) == 1


def test_a_claim_that_fails_is_its_own_answer_and_the_others_are_decided_alone(baton, monkeypatch):
    fine, broken = handed_over(baton), handed_over(baton)
    claim_one, claim_all = leads.claim, leads.claim_all

    def failing_one(*, session, lead_id, **given):
        if lead_id == broken:
            raise RuntimeError("the database went away")
        return claim_one(session=session, lead_id=lead_id, **given)

    def failing_all(*, session, owners, **given):
        if broken in owners:
            raise RuntimeError("the database went away")
        return claim_all(session=session, owners=owners, **given)

    # The batch claims both leads in one statement; alone, each claims its own.
    monkeypatch.setattr(leads, "claim", failing_one)
    monkeypatch.setattr(leads, "claim_all", failing_all)
    outcomes = listeners.claims(
        inbound(baton), [claim(SELLERS[0], fine), claim(SELLERS[1], broken)]
    )
    assert not isinstance(outcomes[0], Exception) and outcomes[0].answer["type"] == CARD
    assert isinstance(outcomes[1], RuntimeError)
    # The batch was rolled back; alone, the first was done once and the second not at all.
    assert (stored(baton, fine).owner, claimed(baton, fine)) == (SELLERS[0], 1)
    assert (stored(baton, broken).owner, claimed(baton, broken)) == (None, 0)
