"""Claim, assign and release as domain services, on SQLite and PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot import intake, ownership
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.refusals import Refused
from bot.schemas import LeadIn
from storage import deadlines, sellers
from storage import leads as stored
from storage.db import transaction
from storage.models import Outbox
from tests.support import AGREEMENT, GOOD_LEAD, show_card


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


def batch(ctx) -> list[tuple[str, str]]:
    """Claims of a batch that meet each refusal a claim can meet, in the order they came."""
    first, second, third = (new_lead(ctx) for _ in range(3))
    unqualified = new_lead(ctx, country="US")
    for lead_id in (first, second, third):
        show_card(ctx, lead_id)
    return [
        (first, "U0SELLER1"),
        (first, "U0SELLER2"),  # too late: the first claim of the batch won
        (second, "U0NOBODY"),  # may not claim: the next claim of the lead gets it
        (second, "U0SELLER2"),
        (third, "U0SELLER3"),  # out of the rotation
        (unqualified, "U0SELLER1"),
        ("no-such-lead", "U0SELLER1"),
    ]


def out_of_rotation(ctx, seller: str) -> None:
    with transaction(ctx.sessions) as session:
        assert sellers.take_out_of_rotation(session, seller, "4 breaches", ctx.clock())


def test_claims_together_are_won_and_refused_in_the_order_they_came(ctx):
    claims = batch(ctx)
    out_of_rotation(ctx, "U0SELLER3")
    outcomes = ownership.claim_all(ctx, claims)
    refusals = [o.reason if isinstance(o, Refused) else None for o in outcomes]
    assert refusals == [
        None,
        "already_claimed",
        "not_allowed",
        None,
        "out_of_rotation",
        "not_claimable",
        "lead_gone",
    ]
    assert (outcomes[0].owner, outcomes[3].owner) == ("U0SELLER1", "U0SELLER2")
    assert outcomes[1].details["owner"] == "U0SELLER1"


def test_claims_together_leave_what_each_claim_alone_leaves(ctx):
    together, alone = batch(ctx), batch(ctx)
    out_of_rotation(ctx, "U0SELLER3")
    decided = ownership.claim_all(ctx, together)
    one_by_one = []
    for lead_id, user in alone:
        try:
            one_by_one.append(ownership.claim(ctx, lead_id=lead_id, user=user))
        except Refused as refusal:
            one_by_one.append(refusal)

    def outcome(o) -> tuple:
        if isinstance(o, Refused):
            return ("refused", o.reason, o.details)
        return ("claimed", o.owner, o.stage)

    def left(lead_id: str) -> tuple:
        with ctx.sessions() as session:
            lead = stored.get(session=session, lead_id=lead_id)
            if lead is None:
                return ()
            history = stored.history(session=session, lead_id=lead_id)
            clocks = deadlines.of_lead(session=session, lead_id=lead_id)
            queued = session.exec(select(Outbox).where(Outbox.lead_id == lead_id)).all()
            return (
                lead.owner,
                lead.stage,
                [(e.kind, e.actor) for e in history],
                sorted((c.kind, c.resolved_at is None, c.next_at is None) for c in clocks),
                sorted((row.kind, row.recipient, row.payload.get("template")) for row in queued),
            )

    assert [outcome(o) for o in decided] == [outcome(o) for o in one_by_one]
    assert [left(lead_id) for lead_id, _ in together] == [left(lead_id) for lead_id, _ in alone]


def test_claims_together_are_one_statement_for_the_leads_and_one_for_their_clocks(ctx):
    lead_ids = [new_lead(ctx) for _ in range(5)]
    for lead_id in lead_ids:
        show_card(ctx, lead_id)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement.split(None, 2)[1])

    engine = ctx.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        claims = [(lead_id, f"U0SELLER{n % 3 + 1}") for n, lead_id in enumerate(lead_ids)]
        outcomes = ownership.claim_all(ctx, claims)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [o.owner for o in outcomes] == [user for _, user in claims]
    assert (statements.count("lead"), statements.count("deadline")) == (1, 1)


def test_claims_together_under_a_cap_count_each_sellers_leads_one_claim_at_a_time(ctx):
    capped = Context(
        agreement=parse_agreement(AGREEMENT + "routing: {max_open: 1}\n"),
        sessions=ctx.sessions,
        clock=ctx.clock,
    )
    first, second, third = (new_lead(ctx) for _ in range(3))
    for lead_id in (first, second, third):
        show_card(ctx, lead_id)
    outcomes = ownership.claim_all(
        capped, [(first, "U0SELLER1"), (second, "U0SELLER1"), (third, "U0SELLER2")]
    )
    assert [o.reason if isinstance(o, Refused) else o.owner for o in outcomes] == [
        "U0SELLER1",
        "at_cap",
        "U0SELLER2",
    ]
