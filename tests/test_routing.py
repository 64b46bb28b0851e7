"""Baton's choice of seller (`bot.routing`): fairness with weights over thousands of leads,
the cap, absences without a catch-up flood, and the rotation; on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import availability, feedback, intake, ownership, routing
from bot.agreement_file import AgreementError, parse_agreement
from bot.context import Context
from bot.refusals import Refused
from bot.scheduler import DeadlineScheduler
from bot.schemas import LeadIn
from storage import deadlines, leads, sellers
from storage.db import transaction
from storage.models import Lead
from tests.support import AGREEMENT, GOOD_LEAD, show_card
from tests.test_clock import FakeClock, dms_to, queued

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
S1, S2, S3 = "U0SELLER1", "U0SELLER2", "U0SELLER3"


def with_routing(ctx: Context, routing_yaml: str, clock=lambda: NOW) -> Context:
    return Context(
        agreement=parse_agreement(AGREEMENT + routing_yaml), sessions=ctx.sessions, clock=clock
    )


def rotate(ctx: Context, count: int, *, now: datetime = NOW, exclude=()) -> list[str]:
    """`count` choices in a row, each counted as the seller's turn and open lead."""
    chosen = []
    with transaction(ctx.sessions) as session:
        rotation = routing.Rotation(session, ctx.agreement, now)
        for _ in range(count):
            choice = rotation.choose(exclude)
            assert choice is not None
            rotation.took(choice.seller)
            chosen.append(choice.seller)
    return chosen


def hold(ctx: Context, seller: str, count: int) -> None:
    """`seller` holds `count` open (claimed) leads."""
    rows = [
        {
            **LeadIn.model_validate(GOOD_LEAD).columns(),
            "id": f"{seller[-1]}{index:031d}",
            "qualified": True,
            "reasons": [],
            "stage": "claimed",
            "owner": seller,
            "handed_over_by": "api",
            "received_at": NOW,
            "claimed_at": NOW,
        }
        for index in range(count)
    ]
    with transaction(ctx.sessions) as session:
        leads.insert_all(session=session, rows=rows)


def within_one_of_the_shares(chosen: list[str], shares: dict[str, float]) -> dict[str, int]:
    """At every prefix of n leads, each seller's count is within one lead of n * share."""
    counts = dict.fromkeys(shares, 0)
    for n, seller in enumerate(chosen, start=1):
        counts[seller] += 1
        for name, share in shares.items():
            assert abs(counts[name] - n * share) <= 1, (n, counts)
    return counts


# fairness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["round_robin", "least_loaded"])
def test_weighted_shares_hold_at_every_point_of_four_thousand_leads(ctx, mode):
    # Weight 2 against 1 and 1: shares 2/4, 1/4, 1/4. Stride scheduling (round robin) and
    # open leads per unit of weight (least loaded, no lead closed meanwhile) both keep each
    # seller within one lead of the exact share after every lead, not only at the end.
    ctx = with_routing(ctx, f"routing: {{mode: {mode}, weights: {{{S1}: 2}}}}\n")
    counts = within_one_of_the_shares(rotate(ctx, 4000), {S1: 0.5, S2: 0.25, S3: 0.25})
    assert counts == {S1: 2000, S2: 1000, S3: 1000}


def test_least_loaded_gives_the_lead_to_the_fewest_open_leads(ctx):
    ctx = with_routing(ctx, "routing: {mode: least_loaded}\n")
    hold(ctx, S1, 3)
    hold(ctx, S2, 1)
    hold(ctx, S3, 2)
    with transaction(ctx.sessions) as session:
        choice = routing.choose_seller(session, ctx.agreement, NOW)
    assert choice == routing.Choice(S2, "fewest open leads (1)")


def test_least_loaded_counts_open_leads_per_unit_of_weight(ctx):
    ctx = with_routing(ctx, f"routing: {{mode: least_loaded, weights: {{{S1}: 4}}}}\n")
    hold(ctx, S1, 7)  # 7 / 4 = 1.75
    hold(ctx, S2, 2)
    hold(ctx, S3, 2)
    with transaction(ctx.sessions) as session:
        choice = routing.choose_seller(session, ctx.agreement, NOW)
    assert choice == routing.Choice(S1, "fewest open leads (7), weight 4")


def test_the_reason_names_the_weight_when_weights_are_set(ctx):
    plain = with_routing(ctx, "routing: {mode: round_robin}\n")
    with transaction(plain.sessions) as session:
        assert routing.choose_seller(session, plain.agreement, NOW).reason == "round robin"
    weighted = with_routing(ctx, f"routing: {{mode: round_robin, weights: {{{S1}: 2}}}}\n")
    with transaction(weighted.sessions) as session:
        assert routing.choose_seller(session, weighted.agreement, NOW) == routing.Choice(
            S1, "round robin, weight 2"
        )


# caps, exclusions, nobody -----------------------------------------------------------------


def test_a_seller_at_the_cap_gets_no_lead(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin, max_open: 2}\n")
    hold(ctx, S1, 2)
    with transaction(ctx.sessions) as session:
        rotation = routing.Rotation(session, ctx.agreement, NOW)
        chosen = []
        for _ in range(4):
            choice = rotation.choose()
            rotation.took(choice.seller)
            chosen.append(choice.seller)
        assert chosen == [S2, S3, S2, S3]
        assert rotation.choose() is None
        assert rotation.nobody() == "nobody is available: 3 at the cap of 2 open leads"


def test_exclude_passes_over_a_seller(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    assert set(rotate(ctx, 10, exclude=[S1])) == {S2, S3}


def test_claim_mode_still_chooses_when_asked_least_loaded_first(ctx):
    hold(ctx, S1, 1)
    hold(ctx, S3, 1)
    with transaction(ctx.sessions) as session:
        choice = routing.choose_seller(session, ctx.agreement, NOW, exclude=[S2])
    assert choice == routing.Choice(S1, "fewest open leads (1)")


# absences and the rotation ----------------------------------------------------------------


def test_after_an_absence_the_seller_gets_their_share_from_the_return_no_flood(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    availability.go_away(ctx, user=S3, until=None)
    before = rotate(ctx, 300)
    assert before.count(S3) == 0
    assert before.count(S1) == before.count(S2) == 150
    assert availability.come_back(ctx, user=S3)
    after = rotate(ctx, 300)
    # level with the others from the return: a third each, never 150 in a row for S3
    within_one_of_the_shares(after, {S1: 1 / 3, S2: 1 / 3, S3: 1 / 3})
    assert sorted(after[:3]) == [S1, S2, S3]


def test_an_absence_with_an_end_day_ends_by_itself_and_counts_from_then(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    availability.go_away(ctx, user=S1, until=date(2026, 12, 3))
    assert S1 not in rotate(ctx, 40)
    ends = datetime(2026, 12, 3, tzinfo=ZoneInfo("Europe/Copenhagen"))  # the agreement's
    assert S1 not in rotate(ctx, 1, now=ends - timedelta(seconds=1))
    after = rotate(ctx, 30, now=ends + timedelta(hours=1))
    within_one_of_the_shares(after, {S1: 1 / 3, S2: 1 / 3, S3: 1 / 3})
    with ctx.sessions() as session:
        row = sellers.status(session=session, seller=S1)
    assert row.away_since is None and row.away_until is None
    assert row.counts_from == ends


def test_least_loaded_after_an_absence_counts_from_the_return_no_flood(ctx):
    ctx = with_routing(ctx, "routing: {mode: least_loaded}\n")
    availability.go_away(ctx, user=S3, until=None)
    hold(ctx, S1, 10)
    hold(ctx, S2, 10)
    availability.come_back(ctx, user=S3)
    # S3 holds none, but counts the ten it is behind the least loaded colleague at the
    # return: the next leads go round, a third each, not ten in a row to S3.
    chosen = rotate(ctx, 30)
    assert sorted(chosen[:3]) == [S1, S2, S3]
    within_one_of_the_shares(chosen, {S1: 1 / 3, S2: 1 / 3, S3: 1 / 3})


def test_the_head_start_ends_once_the_others_come_down_to_the_returner(ctx):
    ctx = with_routing(ctx, "routing: {mode: least_loaded}\n")
    availability.go_away(ctx, user=S3, until=None)
    hold(ctx, S1, 4)
    hold(ctx, S2, 4)
    availability.come_back(ctx, user=S3)
    with transaction(ctx.sessions) as session:
        rotation = routing.Rotation(session, ctx.agreement, NOW)
        assert rotation.load(S3) == 4  # none held, four behind
        # the others' backlog closes: two each left, S3 took two meanwhile
        rotation.open.update({S1: 2, S2: 2, S3: 2})
        assert rotation.choose() == routing.Choice(S1, "fewest open leads (2)")
        assert rotation.load(S3) == 2
    with ctx.sessions() as session:
        assert sellers.status(session=session, seller=S3).load_offset is None


def test_out_of_rotation_gets_nothing_until_restored_then_no_flood(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    with transaction(ctx.sessions) as session:
        assert sellers.take_out_of_rotation(session, S2, "4 breaches this week", NOW)
        assert not sellers.take_out_of_rotation(session, S2, "again", NOW)
    assert S2 not in rotate(ctx, 100)
    with transaction(ctx.sessions) as session:
        row = sellers.status(session=session, seller=S2)
        assert row.out_of_rotation_reason == "4 breaches this week"
        rotation = routing.Rotation(session, ctx.agreement, NOW)
        assert rotation.nobody(exclude=[S1, S3]).startswith(
            "nobody is available: 1 out of rotation"
        )
    with transaction(ctx.sessions) as session:
        assert sellers.restore_to_rotation(session, S2, "U0MANAGER", NOW)
        assert not sellers.restore_to_rotation(session, S2, "U0MANAGER", NOW)
    after = rotate(ctx, 60)
    assert sorted(after[:3]) == [S1, S2, S3]
    within_one_of_the_shares(after, {S1: 1 / 3, S2: 1 / 3, S3: 1 / 3})


def test_nobody_available_when_everyone_is_away(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    for seller in (S1, S2, S3):
        availability.go_away(ctx, user=seller, until=None)
    with transaction(ctx.sessions) as session:
        rotation = routing.Rotation(session, ctx.agreement, NOW)
        assert rotation.choose() is None
        assert rotation.nobody() == "nobody is available: 3 away"


def test_only_a_seller_can_be_away_and_back_needs_an_absence(ctx):
    with pytest.raises(Refused) as refused:
        availability.go_away(ctx, user="U0MKTG1", until=None)
    assert refused.value.reason == "not_a_seller"
    assert not availability.come_back(ctx, user=S1)


@pytest.mark.parametrize(
    ("words", "answer"),
    [
        ("", None),
        ("until 2026-12-07", date(2026, 12, 7)),
        ("2026-12-07", date(2026, 12, 7)),
        ("UNTIL 2026-12-02", date(2026, 12, 2)),
    ],
)
def test_the_day_an_absence_ends(agreement, words, answer):
    assert availability.parse_until(words, agreement, NOW) == answer


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ("until friday", "bad_date"),
        ("until 2026-13-01", "bad_date"),
        ("until 2026-12-01", "date_passed"),
        ("2025-01-01", "date_passed"),
    ],
)
def test_a_bad_or_past_day_is_refused(agreement, words, reason):
    with pytest.raises(Refused) as refused:
        availability.parse_until(words, agreement, NOW)
    assert refused.value.reason == reason


# the hand-over ----------------------------------------------------------------------------


def handed_over(ctx: Context) -> Lead:
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    with ctx.sessions() as session:
        return leads.get(session=session, lead_id=lead_id)


def test_a_qualified_lead_is_assigned_at_hand_over_with_its_reason(ctx):
    ctx = with_routing(ctx, f"routing: {{mode: round_robin, weights: {{{S1}: 2}}}}\n")
    owners = [handed_over(ctx) for _ in range(8)]
    assert [lead.owner for lead in owners].count(S1) == 4
    first = owners[0]
    assert (first.stage, first.claimed_at) == ("claimed", NOW)
    with ctx.sessions() as session:
        events = leads.history(session=session, lead_id=first.id)
        assert routing.why(session, lead_id=first.id) == {
            "kind": "assigned",
            "to": S1,
            "reason": "round robin, weight 2",
        }
    assigned = [e for e in events if e.kind == "assigned"]
    assert [(e.actor, e.data) for e in assigned] == [
        ("baton", {"from": None, "to": S1, "reason": "round robin, weight 2"})
    ]


def test_an_assigned_lead_starts_only_its_contact_clock_and_tells_the_owner(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    lead = handed_over(ctx)
    show_card(ctx, lead.id)
    with ctx.sessions() as session:
        clocks = deadlines.of_lead(session=session, lead_id=lead.id)
    assert [clock.kind for clock in clocks] == ["contact"]
    [told] = queued(ctx, template="assigned_to_you")
    assert (told.recipient, told.payload["facts"]) == (S1, {"by": "baton", "reason": "round robin"})
    # the card is queued first, so the message can link to it
    assert queued(ctx, kind="card")[0].id < told.id


def test_a_lead_nobody_can_take_stays_open_for_claim_and_says_why(ctx):
    ctx = with_routing(ctx, "routing: {mode: least_loaded}\n")
    for seller in (S1, S2, S3):
        availability.go_away(ctx, user=seller, until=None)
    lead = handed_over(ctx)
    assert (lead.owner, lead.stage) == (None, "handed_over")
    with ctx.sessions() as session:
        assert routing.why(session, lead_id=lead.id) == {
            "kind": "not_assigned",
            "to": "",
            "reason": "nobody is available: 3 away",
        }
    ownership.claim(ctx, lead_id=lead.id, user=S1)  # Claim still works


def test_claim_mode_assigns_nothing(ctx):
    lead = handed_over(ctx)
    assert lead.owner is None
    with ctx.sessions() as session:
        assert routing.why(session, lead_id=lead.id) is None


def test_reminders_of_an_away_owners_leads_go_to_the_sales_manager(ctx):
    clock = FakeClock(NOW)
    ctx.clock = clock
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    show_card(ctx, lead_id)
    ownership.claim(ctx, lead_id=lead_id, user=S1)
    availability.go_away(ctx, user=S1, until=None)
    clock.at(NOW + timedelta(hours=3, minutes=30))  # contact 4h, remind 30m before
    DeadlineScheduler(ctx).run_once()
    assert not dms_to(ctx, S1)
    [item] = dms_to(ctx, "U0MANAGER")
    assert item.facts["template"] == "reminder_owner"
    assert item.facts["away_owner"] == S1
    assert item.facts["role"] == "sales_manager"


# the agreement ----------------------------------------------------------------------------


def problems(routing_yaml: str) -> list[str]:
    with pytest.raises(AgreementError) as error:
        parse_agreement(AGREEMENT + routing_yaml)
    return error.value.problems


def test_routing_defaults_to_claim(agreement):
    assert agreement.routing.mode == "claim"
    assert not agreement.routing.assigns


def test_an_unknown_mode_is_named_with_its_line():
    line = AGREEMENT.count("\n") + 2
    assert problems("routing:\n  mode: lottery\n") == [
        f"agreement.yml:{line}: routing.mode: "
        '"lottery" is not a routing mode: use claim, round_robin or least_loaded'
    ]


def test_a_weight_for_someone_not_selling_is_named_with_its_line():
    line = AGREEMENT.count("\n") + 3
    assert problems("routing:\n  mode: round_robin\n  weights: {U0MKTG1: 2}\n") == [
        f"agreement.yml:{line}: routing.weights.U0MKTG1: U0MKTG1 is not in people.sales: "
        "only sellers get leads, so a weight can only be given to one of them"
    ]


@pytest.mark.parametrize("text", ["weights: {U0SELLER1: 0}", "max_open: 0", "max_open: -3"])
def test_weights_and_caps_must_be_positive(text):
    [problem] = problems(f"routing:\n  mode: round_robin\n  {text}\n")
    assert "is not a positive whole number: give 1 or more" in problem
    assert problem.startswith(f"agreement.yml:{AGREEMENT.count(chr(10)) + 3}: routing.")


def test_a_nurtured_lead_handed_back_skips_sellers_who_are_away(ctx):
    clock = FakeClock(NOW)
    ctx.clock = clock
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    ownership.claim(ctx, lead_id=lead_id, user=S1)
    verdict = feedback.Verdict(outcome="nurture", recheck_on=NOW.date() + timedelta(days=3))
    feedback.give(ctx, lead_id=lead_id, by=S1, verdict=verdict)
    clock.at(NOW + timedelta(days=4))
    availability.go_away(ctx, user=S2, until=None)
    lead = feedback.hand_over_again(ctx, lead_id=lead_id, by="U0MKTG1")
    assert lead.owner == S3
    with ctx.sessions() as session:
        [event] = [
            e
            for e in leads.history(session=session, lead_id=lead_id)
            if e.kind == "handed_over_again"
        ]
    assert event.data == {"from": S1, "to": S3, "reason": "fewest open leads (0)"}


def test_a_nurtured_lead_nobody_can_take_is_refused_and_stays(ctx):
    clock = FakeClock(NOW)
    ctx.clock = clock
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    ownership.claim(ctx, lead_id=lead_id, user=S1)
    verdict = feedback.Verdict(outcome="nurture", recheck_on=NOW.date() + timedelta(days=3))
    feedback.give(ctx, lead_id=lead_id, by=S1, verdict=verdict)
    for seller in (S1, S2, S3):
        availability.go_away(ctx, user=seller, until=None)
    with pytest.raises(Refused) as refused:
        feedback.hand_over_again(ctx, lead_id=lead_id, by="U0MKTG1")
    assert refused.value.details == {"why": "nobody is available: 3 away"}
    with ctx.sessions() as session:
        assert leads.get(session=session, lead_id=lead_id).stage == "nurture"


def test_the_reminder_of_an_unclaimed_lead_names_only_the_sellers_not_away(ctx):
    clock = FakeClock(NOW)
    ctx.clock = clock
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    show_card(ctx, lead_id)
    availability.go_away(ctx, user=S2, until=None)
    clock.at(NOW + timedelta(minutes=30))  # claim 1h, remind 30m before
    DeadlineScheduler(ctx).run_once()
    [reminder] = queued(ctx, template="reminder_unclaimed")
    assert reminder.payload["facts"]["sellers"] == [S1, S3]


def test_hand_overs_at_once_on_a_fresh_team_are_all_assigned(ctx):
    # Every one of them places the sellers new to the rotation: the rows are made once,
    # and no hand-over fails for the race.
    from tests.test_ownership import all_at_once

    ctx = with_routing(ctx, "routing: {mode: round_robin}\n")
    handed = all_at_once(
        8,
        lambda n: intake.hand_over(
            ctx, LeadIn.model_validate({**GOOD_LEAD, "email": f"l{n}@nordlys.dk"}), by="api"
        ),
    )
    with ctx.sessions() as session:
        owners = [leads.get(session=session, lead_id=h.lead.id).owner for h in handed]
        rows = sellers.statuses(session=session, sellers=[S1, S2, S3])
    assert set(owners) <= {S1, S2, S3} and None not in owners
    assert sum(row.turns for row in rows.values()) == 8
