"""Claim, assign and release as domain services, on SQLite and PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import intake, ownership
from bot.refusals import Refused
from bot.schemas import LeadIn
from storage import deadlines, sellers
from storage import leads as stored
from storage.db import transaction
from tests.support import GOOD_LEAD, show_card


def new_lead(ctx, **changes) -> str:
    return intake.hand_over(ctx, LeadIn.model_validate({**GOOD_LEAD, **changes}), by="api").lead.id


def all_at_once(count: int, action):
    """Start `count` calls together, so they really race for the same row."""
    start = threading.Barrier(count)

    def run(index: int):
        start.wait()
        try:
            return action(index)
        except Refused as refusal:
            return refusal

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_ten_simultaneous_claims_give_exactly_one_owner(ctx):
    sellers = ["U0SELLER1", "U0SELLER2", "U0SELLER3", "U0MANAGER"]
    for _ in range(5):
        lead_id = new_lead(ctx)
        outcomes = all_at_once(
            10,
            lambda i, lead_id=lead_id: ownership.claim(ctx, lead_id=lead_id, user=sellers[i % 4]),
        )
        winners = [o for o in outcomes if not isinstance(o, Refused)]
        losers = [o for o in outcomes if isinstance(o, Refused)]
        assert len(winners) == 1
        assert {loser.reason for loser in losers} == {"already_claimed"}
        assert {loser.details["owner"] for loser in losers} == {winners[0].owner}
        with ctx.sessions() as session:
            kinds = [e.kind for e in stored.history(session=session, lead_id=lead_id)]
        assert kinds.count("claimed") == 1


def test_the_same_external_id_at_once_stores_one_lead(ctx):
    outcomes = all_at_once(
        8,
        lambda _: intake.hand_over(
            ctx, LeadIn.model_validate({**GOOD_LEAD, "external_id": "form-7"}), by="api"
        ),
    )
    assert len({o.lead.id for o in outcomes}) == 1
    assert sum(o.created for o in outcomes) == 1


def test_a_claim_stops_the_claim_clock_but_not_the_contact_clock(ctx):
    lead_id = new_lead(ctx)
    show_card(ctx, lead_id)
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    with ctx.sessions() as session:
        clocks = {c.kind: c for c in deadlines.of_lead(session=session, lead_id=lead_id)}
    assert clocks["claim"].resolved_at is not None
    assert clocks["claim"].next_at is None
    assert clocks["contact"].resolved_at is None


def test_an_unqualified_lead_cannot_be_claimed(ctx):
    lead_id = new_lead(ctx, country="US")
    with pytest.raises(Refused) as refusal:
        ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    assert refusal.value.reason == "not_claimable"


def test_a_seller_out_of_the_rotation_cannot_claim_and_the_claim_returns_the_lead(ctx):
    lead_id = new_lead(ctx)
    show_card(ctx, lead_id)
    with transaction(ctx.sessions) as session:
        assert sellers.take_out_of_rotation(session, "U0SELLER1", "4 breaches", ctx.clock())
    with pytest.raises(Refused) as refusal:
        ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    assert refusal.value.reason == "out_of_rotation"
    claimed = ownership.claim(ctx, lead_id=lead_id, user="U0SELLER2")
    assert (claimed.id, claimed.owner, claimed.stage) == (lead_id, "U0SELLER2", "claimed")
    assert claimed.claimed_at is not None


def test_assign_moves_ownership_and_records_who_did_it(ctx):
    lead_id = new_lead(ctx)
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    lead = ownership.assign(ctx, lead_id=lead_id, by="U0MANAGER", to="U0SELLER2")
    assert lead.owner == "U0SELLER2"
    with ctx.sessions() as session:
        event = stored.history(session=session, lead_id=lead_id)[-1]
    assert (event.kind, event.actor, event.data) == (
        "assigned",
        "U0MANAGER",
        {"from": "U0SELLER1", "to": "U0SELLER2"},
    )


@pytest.mark.parametrize(
    ("by", "to", "reason"),
    [
        ("U0SELLER1", "U0SELLER2", "not_allowed"),
        ("U0CEO", "U0SELLER2", "not_allowed"),
        ("U0MANAGER", "U0MKTG1", "cannot_own"),
    ],
)
def test_assign_refusals_change_nothing(ctx, by, to, reason):
    lead_id = new_lead(ctx)
    with pytest.raises(Refused) as refusal:
        ownership.assign(ctx, lead_id=lead_id, by=by, to=to)
    assert refusal.value.reason == reason
    with ctx.sessions() as session:
        assert stored.get(session=session, lead_id=lead_id).owner is None


def test_release_is_for_the_owner_and_the_manager(ctx):
    lead_id = new_lead(ctx)
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    with pytest.raises(Refused):
        ownership.release(ctx, lead_id=lead_id, user="U0SELLER2")
    assert ownership.release(ctx, lead_id=lead_id, user="U0MANAGER").owner is None
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER2")
    assert ownership.release(ctx, lead_id=lead_id, user="U0SELLER2").stage == "handed_over"


def test_timestamps_come_back_timezone_aware(ctx):
    lead_id = new_lead(ctx)
    with ctx.sessions() as session:
        lead = stored.get(session=session, lead_id=lead_id)
    assert lead.received_at.utcoffset() is not None
