"""The consequences agreed in advance, with an injected clock: each applied once, recorded,
told and counted; across two schedulers on one database and a restart; SQLite and PostgreSQL.

The agreement is the tests' (24/7 in Copenhagen, claim 1h, contact 4h, manager at the
deadline, CEO 2h after) with `reassign_after: 1h`, `out_of_rotation_after: 3` and
`marketing_shortfall: 20%`.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot import consequences, intake, ownership, routing
from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.refusals import Refused
from bot.scheduler import DeadlineScheduler
from bot.schemas import LeadIn
from bot.scorecard import compute
from storage import deadlines, leads, sellers
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Consequence, Event, Lead
from tests.support import AGREEMENT, lead, show_card
from tests.test_clock import START, FakeClock, dms_to, queued, tick

CONSEQUENCES = """
consequences:
  reassign_after: 1h
  out_of_rotation_after: 3
  marketing_shortfall: 20%
"""


@pytest.fixture
def agreement() -> Agreement:
    return parse_agreement(AGREEMENT + CONSEQUENCES)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def timed(ctx: Context, clock: FakeClock) -> Context:
    ctx.clock = clock
    return ctx


def hand_over(ctx: Context, number: int = 0, **changes) -> str:
    body = lead(external_id=f"lead-{number}", email=f"lead{number}@nordlys.dk", **changes)
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(body), by="api").lead.id
    show_card(ctx, lead_id)
    return lead_id


def ledger(ctx: Context, kind: str | None = None) -> list[Consequence]:
    with ctx.sessions() as session:
        rows = session.exec(select(Consequence).order_by(Consequence.id)).all()
    return [row for row in rows if kind is None or row.kind == kind]


def stored(ctx: Context, lead_id: str) -> Lead:
    with ctx.sessions() as session:
        found = leads.get(session=session, lead_id=lead_id)
    assert found is not None
    return found


def clocks(ctx: Context, lead_id: str, kind: str):
    with ctx.sessions() as session:
        return [c for c in deadlines.of_lead(session=session, lead_id=lead_id) if c.kind == kind]


def events(ctx: Context, lead_id: str, kind: str) -> list[Event]:
    with ctx.sessions() as session:
        return list(session.exec(select(Event).where(Event.lead_id == lead_id, Event.kind == kind)))


def direct(ctx: Context, user: str, template: str):
    return [row for row in queued(ctx, template=template) if row.recipient == user]


# --- reassign_after ---------------------------------------------------------------------


def test_an_unclaimed_lead_goes_to_a_seller_an_hour_after_its_claim_deadline(timed, clock):
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1, minutes=59))
    assert stored(timed, lead_id).owner is None
    assert len(dms_to(timed, "U0MANAGER")) == 1  # the ladder's first step, at the deadline

    tick(timed, clock, START + timedelta(hours=2))
    found = stored(timed, lead_id)
    assert (found.owner, found.stage) == ("U0SELLER1", "claimed")  # fewest open leads, first
    (claim,) = clocks(timed, lead_id, "claim")
    assert claim.resolved_at == START + timedelta(hours=2)
    old, fresh = clocks(timed, lead_id, "contact")
    assert old.resolved_at == START + timedelta(hours=2)
    assert fresh.due_at == START + timedelta(hours=6)  # a fresh 4h window from now
    (row,) = ledger(timed)
    assert (row.kind, row.subject, row.lead_id) == ("reassigned", "U0SELLER1", lead_id)
    (event,) = events(timed, lead_id, "reassigned")
    assert event.data["clock"] == "claim" and event.data["to"] == "U0SELLER1"
    assert [r.payload["facts"]["role"] for r in direct(timed, "U0MANAGER", "reassigned")] == [
        "sales_manager"
    ]
    assert direct(timed, "U0SELLER1", "assigned_to_you")

    tick(timed, clock, START + timedelta(hours=3))  # the CEO's step of the old claim clock
    assert not dms_to(timed, "U0CEO")
    assert len(ledger(timed)) == 1


def test_a_lead_not_contacted_goes_to_another_seller_and_its_owner_is_told(timed, clock):
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))
    assert len(dms_to(timed, "U0MANAGER")) == 1
    tick(timed, clock, START + timedelta(hours=5))
    found = stored(timed, lead_id)
    assert found.owner == "U0SELLER2"  # the owner is passed over
    old, fresh = clocks(timed, lead_id, "contact")
    assert (old.resolved_at, fresh.due_at) == (
        START + timedelta(hours=5),
        START + timedelta(hours=9),
    )
    (told,) = direct(timed, "U0SELLER1", "reassigned")
    assert told.payload["facts"]["role"] == "previous_owner"
    assert told.payload["facts"]["to"] == "U0SELLER2"
    assert told.payload["facts"]["late_seconds"] == 3600
    tick(timed, clock, START + timedelta(hours=6))  # the old clock's CEO step
    assert not dms_to(timed, "U0CEO")
    # The new owner's own window runs and is reminded for, as any other.
    tick(timed, clock, START + timedelta(hours=8, minutes=30))
    assert [item.facts["kind"] for item in dms_to(timed, "U0SELLER2")] == ["contact"]


def test_with_nobody_available_the_manager_is_told_and_the_ladder_goes_on(timed, clock):
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    with transaction(timed.sessions) as session:
        for seller in ("U0SELLER2", "U0SELLER3"):
            sellers.set_away(session=session, seller=seller, until=None, at=START)
    tick(timed, clock, START + timedelta(hours=5))
    assert stored(timed, lead_id).owner == "U0SELLER1"
    (row,) = ledger(timed)
    assert row.kind == "not_reassigned"
    (told,) = direct(timed, "U0MANAGER", "reassigned")
    assert told.payload["facts"]["to"] is None
    assert "2 away" in told.payload["facts"]["why"]
    tick(timed, clock, START + timedelta(hours=6))
    assert len(dms_to(timed, "U0CEO")) == 1  # nobody took it: the CEO hears of it
    tick(timed, clock, START + timedelta(hours=9))
    assert len(ledger(timed)) == 1


def test_after_an_outage_both_clocks_of_a_lead_hand_it_on_once(timed, clock):
    """Claim and contact deadlines both long past in one sweep: one reassignment, no CEO."""
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=6))
    assert stored(timed, lead_id).owner == "U0SELLER1"
    assert [row.kind for row in ledger(timed)] == ["reassigned"]
    running = [c for c in clocks(timed, lead_id, "contact") if c.resolved_at is None]
    assert [c.due_at for c in running] == [START + timedelta(hours=10)]
    assert not dms_to(timed, "U0CEO")


def replicas_of(database_url: str, agreement: Agreement, clock: FakeClock):
    """Two processes' worth of context on one database, each with its own engine."""
    engines = [make_engine(database_url) for _ in range(2)]
    migrate(engines[0])
    return engines, [
        Context(agreement=agreement, sessions=session_factory(engine), clock=clock)
        for engine in engines
    ]


def sweep_together(replicas: list[Context], times: int = 3) -> None:
    """Both replicas sweep the same due clocks from the same moment, `times` each."""
    gate = threading.Barrier(len(replicas))
    failures: list[BaseException] = []

    def sweep(replica: Context) -> None:
        try:
            gate.wait()
            for _ in range(times):
                DeadlineScheduler(replica).run_once()
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=sweep, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_two_schedulers_on_one_database_reassign_each_lead_once(database_url, agreement):
    moment = FakeClock(START)
    engines, replicas = replicas_of(database_url, agreement, moment)
    lead_ids = [hand_over(replicas[0], number) for number in range(6)]
    moment.at(START + timedelta(hours=2))
    sweep_together(replicas)
    rows = ledger(replicas[0], "reassigned")
    assert sorted(row.lead_id for row in rows) == sorted(lead_ids)
    for lead_id in lead_ids:
        assert len(events(replicas[0], lead_id, "reassigned")) == 1
        assert len(clocks(replicas[0], lead_id, "contact")) == 2
    told = direct(replicas[0], "U0MANAGER", "reassigned")
    assert len(told) == 6
    # Spread over the sellers as the rotation chooses: two each.
    owners = sorted(stored(replicas[0], lead_id).owner or "" for lead_id in lead_ids)
    assert owners == ["U0SELLER1"] * 2 + ["U0SELLER2"] * 2 + ["U0SELLER3"] * 2
    for engine in engines:
        engine.dispose()


def test_two_schedulers_take_a_seller_out_of_rotation_once(database_url, agreement):
    moment = FakeClock(START)
    engines, replicas = replicas_of(database_url, agreement, moment)
    for number in range(5):
        lead_id = hand_over(replicas[0], number)
        ownership.claim(replicas[0], lead_id=lead_id, user="U0SELLER1")
    moment.at(START + timedelta(hours=4))
    sweep_together(replicas)
    (row,) = ledger(replicas[0], "out_of_rotation")
    assert row.subject == "U0SELLER1"
    told = queued(replicas[0], template="out_of_rotation")
    assert sorted(r.recipient or "" for r in told) == ["U0MANAGER", "U0SELLER1"]
    for engine in engines:
        engine.dispose()


def test_a_restarted_clock_applies_nothing_twice(timed, clock):
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=2))
    # A new process: a new scheduler, the same database.
    tick(timed, clock, START + timedelta(hours=2, seconds=1))
    tick(timed, clock, START + timedelta(hours=5, minutes=59))
    assert len(ledger(timed, "reassigned")) == 1
    assert len(events(timed, lead_id, "reassigned")) == 1
    # The new owner's fresh window (due at 6h) is missed too: an hour on, the lead moves again.
    tick(timed, clock, START + timedelta(hours=7))
    assert [row.subject for row in ledger(timed, "reassigned")] == ["U0SELLER1", "U0SELLER2"]


# --- out_of_rotation_after --------------------------------------------------------------


def test_three_breaches_in_a_week_take_a_seller_out_of_rotation_once(timed, clock):
    owned = [hand_over(timed, number) for number in range(4)]
    for lead_id in owned:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))  # four contact breaches in one sweep
    (row,) = ledger(timed, "out_of_rotation")
    assert (row.subject, row.data) == ("U0SELLER1", {"breaches": 3, "limit": 3})
    with timed.sessions() as session:
        status = sellers.status(session=session, seller="U0SELLER1")
        assert status is not None and status.out_of_rotation_since == START + timedelta(hours=4)
        choice = routing.choose_seller(session, timed.agreement, START + timedelta(hours=4))
    assert choice is not None and choice.seller != "U0SELLER1"
    roles = {
        r.recipient: r.payload["facts"]["role"] for r in queued(timed, template="out_of_rotation")
    }
    assert roles == {"U0SELLER1": "seller", "U0MANAGER": "sales_manager"}
    assert consequences.out_of_rotation(timed) == ["U0SELLER1"]
    # No new leads by Claim either, until the sales manager puts them back.
    fresh = hand_over(timed, 20)
    with pytest.raises(Refused) as refused:
        ownership.claim(timed, lead_id=fresh, user="U0SELLER1")
    assert refused.value.reason == "out_of_rotation"
    ownership.assign(timed, lead_id=fresh, by="U0MANAGER", to="U0SELLER1")  # the manager may


def test_breaches_older_than_a_week_do_not_count(timed, clock):
    first = [hand_over(timed, number) for number in range(2)]
    for lead_id in first:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))
    clock.at(START + timedelta(days=7, hours=1))
    late = hand_over(timed, 9)
    ownership.claim(timed, lead_id=late, user="U0SELLER1")
    tick(timed, clock, START + timedelta(days=7, hours=5))
    assert not ledger(timed, "out_of_rotation")


def test_the_manager_puts_a_seller_back_and_counting_starts_again(timed, clock):
    owned = [hand_over(timed, number) for number in range(3)]
    for lead_id in owned:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))
    with pytest.raises(Refused) as refused:
        consequences.restore(timed, seller="U0SELLER1", by="U0SELLER2")
    assert refused.value.reason == "not_allowed"
    clock.at(START + timedelta(hours=4, minutes=30))
    consequences.restore(timed, seller="U0SELLER1", by="U0MANAGER")
    assert consequences.out_of_rotation(timed) == []
    assert [r.recipient for r in queued(timed, template="back_in_rotation")] == ["U0SELLER1"]
    with pytest.raises(Refused) as refused:
        consequences.restore(timed, seller="U0SELLER1", by="U0MANAGER")
    assert refused.value.reason == "not_out_of_rotation"
    # The breaches before the return were answered: two more are not three.
    more = [hand_over(timed, number) for number in range(10, 12)]
    for lead_id in more:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=8, minutes=30))
    assert len(ledger(timed, "out_of_rotation")) == 1
    third = hand_over(timed, 12)
    ownership.claim(timed, lead_id=third, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=12, minutes=30))
    assert [row.key for row in ledger(timed, "out_of_rotation")] == [
        "out_of_rotation:U0SELLER1:0",
        "out_of_rotation:U0SELLER1:1",
    ]


# --- marketing_shortfall ----------------------------------------------------------------

MID_NOVEMBER = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
"""Tuesday 17 November, 10:00 in Copenhagen: 16 days and 10 hours of November's 30 are gone,
so 8 a month is 8 × 16.4167 / 30 = 4.38 due by now."""


def test_marketing_behind_is_told_once_a_week_while_it_lasts(timed, clock):
    clock.at(MID_NOVEMBER - timedelta(hours=1))
    hand_over(timed, 1)
    hand_over(timed, 2)  # 2 of 4.38: 54% behind, more than 20%
    clock.at(MID_NOVEMBER)
    assert consequences.check_shortfall(timed)
    assert not consequences.check_shortfall(timed)
    (ceo,) = direct(timed, "U0CEO", "marketing_shortfall")
    facts = ceo.payload["facts"]
    assert (facts["qualified"], facts["committed"], facts["pro_rata"]) == (2, 8, 4.4)
    assert facts["behind_share"] == pytest.approx(1 - 2 / (8 * (16 + 10 / 24) / 30), abs=1e-3)
    (post,) = queued(timed, template="marketing_shortfall", kind="post")
    assert post.recipient == "C0MKTG"
    clock.at(MID_NOVEMBER + timedelta(days=5))  # Sunday: the same week
    assert not consequences.check_shortfall(timed)
    clock.at(MID_NOVEMBER + timedelta(days=6))  # Monday: a new week, still behind
    assert consequences.check_shortfall(timed)
    assert [row.key for row in ledger(timed, "marketing_shortfall")] == [
        "marketing_shortfall:2026-11-16",
        "marketing_shortfall:2026-11-23",
    ]


def test_no_shortfall_within_the_agreed_share_or_below_one_lead(timed, clock):
    clock.at(MID_NOVEMBER - timedelta(hours=1))
    for number in range(4):  # 4 of 4.38: 9% behind
        hand_over(timed, number)
    hand_over(timed, 9, country="US")  # not qualified: not counted
    clock.at(MID_NOVEMBER)
    assert not consequences.check_shortfall(timed)
    clock.at(datetime(2026, 11, 1, 1, 0, tzinfo=UTC))  # the month's first hours: 0 of 0.01
    assert not consequences.check_shortfall(timed)
    assert not ledger(timed)


def test_two_replicas_checking_at_once_tell_marketing_once(database_url, agreement):
    engines = [make_engine(database_url) for _ in range(2)]
    migrate(engines[0])
    replicas = [
        Context(agreement=agreement, sessions=session_factory(engine), clock=lambda: MID_NOVEMBER)
        for engine in engines
    ]
    gate = threading.Barrier(2)
    told: list[bool] = []

    def check(replica: Context) -> None:
        gate.wait()
        told.append(consequences.check_shortfall(replica))

    threads = [threading.Thread(target=check, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(told) == [False, True]
    assert len(queued(replicas[0], template="marketing_shortfall")) == 2  # the CEO, the channel
    for engine in engines:
        engine.dispose()


# --- the scorecard ----------------------------------------------------------------------


def test_the_scorecard_counts_the_consequences_of_the_period(timed, clock):
    clock.at(MID_NOVEMBER)
    owned = [hand_over(timed, number) for number in range(3)]
    for lead_id in owned:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER2")
    consequences.check_shortfall(timed)
    tick(timed, clock, MID_NOVEMBER + timedelta(hours=5))  # 3 breaches, out; 3 reassigned
    with timed.sessions() as session:
        card = compute(
            session=session,
            agreement=timed.agreement,
            since=MID_NOVEMBER - timedelta(days=1),
            until=MID_NOVEMBER + timedelta(days=1),
            now=MID_NOVEMBER + timedelta(hours=6),
        )
    applied = card.consequences
    assert (applied.reassigned, applied.not_reassigned, applied.shortfall_weeks) == (3, 0, 1)
    assert applied.out_of_rotation == {"U0SELLER2": 1}
    assert card.as_json()["consequences"]["reassigned"] == 3


def test_a_seller_taken_out_in_a_sweep_gets_none_of_its_reassignments(timed, clock):
    """One sweep: U0SELLER2's third breach takes them out, and the leads that move in the
    same sweep go to the others only."""
    mine = [hand_over(timed, number) for number in range(3)]
    for lead_id in mine:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER2")
    others = [hand_over(timed, number) for number in range(10, 14)]
    for lead_id in others:
        ownership.claim(timed, lead_id=lead_id, user="U0SELLER3")
    tick(timed, clock, START + timedelta(hours=5))  # breaches and reassignments at once
    assert [row.subject for row in ledger(timed, "out_of_rotation")] == ["U0SELLER2", "U0SELLER3"]
    owners = {stored(timed, lead_id).owner for lead_id in mine + others}
    assert owners == {"U0SELLER1"}
