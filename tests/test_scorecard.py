"""The two-sided scorecard against answers worked out by hand, in business time, on every
backend."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.agreement_file import parse_agreement
from bot.scorecard import ALL, BEHIND, compute
from storage.db import transaction
from storage.models import Breach, Deadline, Feedback, Lead
from tests.support import AGREEMENT

CPH = ZoneInfo("Europe/Copenhagen")
OFFICE = (
    AGREEMENT + 'business_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}\n'
)


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CPH).astimezone(UTC)


def lead(number: int, received: datetime, **values) -> Lead:
    defaults = dict(
        name=f"Lead {number}",
        email=f"lead{number}@nordlys.dk",
        company="Nordlys",
        qualified=True,
        stage="claimed",
        handed_over_by="api",
        source="webinar",
        received_at=received,
        card_at=received,
    )
    return Lead(id=f"lead{number:04d}", **(defaults | values))


@pytest.fixture
def office(ctx):
    ctx.agreement = parse_agreement(OFFICE)
    return ctx


def week_of_leads(session) -> None:
    """Five qualified leads and one that is not, in the week of Monday 23 November 2026 (CET).

    Business hours 08-16 local. Waits from card to claim: A 30m, B 1h (30m Monday, 30m
    Tuesday), C 2h (Friday 15-16, Monday 08-09), D 10m, E 2h. From card to contact: A 2h,
    B 2h30m, E 5h (Wednesday 12-16, Thursday 08-09).
    """
    mon = (2026, 11, 23)
    a = lead(1, local(*mon, 9), claimed_at=local(*mon, 9, 30), contacted_at=local(*mon, 11))
    a.owner, a.stage = "U0SELLER1", "accepted"
    b = lead(2, local(*mon, 15, 30), claimed_at=local(2026, 11, 24, 8, 30))
    b.contacted_at, b.owner, b.stage = local(2026, 11, 24, 10), "U0SELLER1", "rejected"
    c = lead(3, local(2026, 11, 27, 15), claimed_at=local(2026, 11, 30, 9), owner="U0SELLER1")
    d = lead(4, local(2026, 11, 24, 10), claimed_at=local(2026, 11, 24, 10, 10), owner="U0SELLER2")
    e = lead(5, local(2026, 11, 25, 12), claimed_at=local(2026, 11, 25, 14))
    e.contacted_at, e.owner, e.stage = local(2026, 11, 26, 9), "U0SELLER2", "nurture"
    f = lead(6, local(*mon, 10), qualified=False, stage="unqualified", source="fair", card_at=None)
    waiting = lead(7, local(2026, 10, 5, 9), stage="contacted", owner="U0SELLER3")
    session.add_all([a, b, c, d, e, f, waiting])
    session.flush()
    kept = Deadline(lead_id=a.id, kind="claim", opened_at=a.card_at, due_at=a.card_at)
    kept.resolved_at = a.claimed_at
    broken = Deadline(lead_id=b.id, kind="claim", opened_at=b.card_at, due_at=local(*mon, 16))
    broken.resolved_at = b.claimed_at
    running = Deadline(lead_id=c.id, kind="contact", opened_at=c.card_at, due_at=c.card_at)
    session.add_all([kept, broken, running])
    session.flush()
    session.add_all(
        [
            Breach(
                deadline_id=broken.id,
                lead_id=b.id,
                kind="claim",
                owner="U0SELLER1",
                due_at=local(*mon, 16),
                recorded_at=local(*mon, 16),
            ),
            Breach(
                deadline_id=running.id,
                lead_id=c.id,
                kind="contact",
                owner="U0SELLER2",
                due_at=local(2026, 11, 18, 12),
                recorded_at=local(2026, 11, 18, 12),
            ),
            Feedback(lead_id=a.id, by="U0SELLER1", at=a.contacted_at, outcome="accepted"),
            Feedback(
                lead_id=b.id,
                by="U0SELLER1",
                at=b.contacted_at,
                outcome="rejected",
                reason="wrong_decision_maker",
                missed_rules=["contact_role"],
            ),
            Feedback(lead_id=e.id, by="U0SELLER2", at=e.contacted_at, outcome="nurture"),
        ]
    )


def test_a_week_of_leads_worked_out_by_hand(office):
    with transaction(office.sessions) as session:
        week_of_leads(session)
    since, until = local(2026, 11, 23), local(2026, 11, 28)
    with office.sessions() as session:
        card = compute(
            session=session,
            agreement=office.agreement,
            since=since,
            until=until,
            now=local(2026, 12, 1, 12),
        )
    hour = 3600.0
    assert (card.handed_over, card.qualified) == (6, 5)
    assert card.definition_share == pytest.approx(5 / 6)
    claim = card.time_to_claim
    assert (claim[ALL].count, claim[ALL].median_seconds, claim[ALL].p95_seconds) == (
        5,
        hour,
        2 * hour,
    )
    assert (claim["U0SELLER1"].median_seconds, claim["U0SELLER1"].p95_seconds) == (hour, 2 * hour)
    assert (claim["U0SELLER2"].median_seconds, claim["U0SELLER2"].p95_seconds) == (
        65 * 60,
        2 * hour,
    )
    contact = card.time_to_contact
    assert (contact[ALL].count, contact[ALL].median_seconds) == (3, 2.5 * hour)
    assert contact[ALL].p95_seconds == 5 * hour
    assert contact["U0SELLER1"].median_seconds == 2.25 * hour
    webinar, fair = card.sources["webinar"], card.sources["fair"]
    assert (webinar.handed_over, webinar.claimed, webinar.contacted) == (5, 5, 3)
    assert (webinar.accepted, webinar.won) == (1, 0)
    assert webinar.acceptance_rate == pytest.approx(1 / 3)
    assert webinar.rejected_by_reason == {"wrong_decision_maker": 1}
    assert (fair.handed_over, fair.qualified, fair.acceptance_rate) == (1, 0, None)
    assert card.missed_rules == {"contact_role": 1}
    assert (card.clocks["claim"].in_time, card.clocks["claim"].late) == (1, 1)
    assert card.clocks["claim"].share_in_time == 0.5
    assert card.clocks["contact"].late == 1  # a breach counts although the clock still runs
    assert card.breaches_this_week == {"U0SELLER1": 1}
    assert card.breaches_last_week == {"U0SELLER2": 1}
    assert (card.waiting_for_feedback, card.feedback_overdue) == (1, 0)
    month = card.commitment
    assert month is not None
    # November to the 28th: 27 of 30 days gone, 8 x 0.9 = 7.2 due by now, 5 qualified.
    assert (month.qualified, month.committed, month.pro_rata, month.verdict) == (5, 8, 7.2, BEHIND)


def test_a_wait_across_the_end_of_summer_time_counts_opening_hours(office):
    """Friday 23 October 15:00 (CEST) to Monday 26 October 09:00 (CET): one hour each day,
    two in all, though the weekend's clock change makes it 67 hours by the wall clock."""
    with transaction(office.sessions) as session:
        session.add(lead(1, local(2026, 10, 23, 15), claimed_at=local(2026, 10, 26, 9)))
    with office.sessions() as session:
        card = compute(
            session=session,
            agreement=office.agreement,
            since=local(2026, 10, 19),
            until=local(2026, 11, 2),
            now=local(2026, 11, 2),
        )
    assert card.time_to_claim[ALL].median_seconds == 2 * 3600.0


def test_without_business_hours_waits_are_wall_clock(ctx):
    received = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)  # a Saturday night
    with transaction(ctx.sessions) as session:
        for number, minutes in enumerate((30, 90, 600)):
            claimed = received + timedelta(minutes=minutes)
            session.add(lead(number, received, claimed_at=claimed, owner="U0SELLER1"))
    with ctx.sessions() as session:
        card = compute(
            session=session,
            agreement=ctx.agreement,
            since=received - timedelta(days=1),
            until=received + timedelta(days=1),
            now=received + timedelta(days=2),
        )
    assert card.time_to_claim[ALL].median_seconds == 90 * 60
    assert card.time_to_claim["U0SELLER1"].p95_seconds == 600 * 60


def test_an_empty_period_has_no_rates(office):
    with office.sessions() as session:
        card = compute(
            session=session,
            agreement=office.agreement,
            since=local(2026, 11, 23),
            until=local(2026, 11, 30),
            now=local(2026, 11, 30),
        )
    assert card.empty
    assert card.definition_share is None
    assert card.time_to_claim == {} and card.clocks == {} and card.sources == {}
    assert "NaN" not in str(card.as_json())
    assert card.as_json()["commitment"]["verdict"] == BEHIND


def test_missed_rules_and_reasons_are_counted_per_feedback_across_its_groups(office):
    """Four rejections from one source, grouped in the database by reason and missed rules:
    two name the contact's role, one the role and the size, one nothing."""
    given = [["contact_role"], ["contact_role"], ["contact_role", "min_employees"], []]
    received = local(2026, 11, 24, 9)
    with transaction(office.sessions) as session:
        for number, rules in enumerate(given):
            session.add(lead(number, received, stage="rejected", owner="U0SELLER1"))
            session.flush()
            session.add(
                Feedback(
                    lead_id=f"lead{number:04d}",
                    by="U0SELLER1",
                    at=received,
                    outcome="rejected",
                    reason="wrong_decision_maker" if number < 3 else "bad_contact_data",
                    missed_rules=rules,
                )
            )
    with office.sessions() as session:
        card = compute(
            session=session,
            agreement=office.agreement,
            since=local(2026, 11, 23),
            until=local(2026, 11, 30),
            now=local(2026, 11, 30),
        )
    assert card.missed_rules == {"contact_role": 3, "min_employees": 1}
    webinar = card.sources["webinar"]
    assert webinar.rejected_by_reason == {"wrong_decision_maker": 3, "bad_contact_data": 1}
    assert (webinar.feedback, webinar.acceptance_rate) == ({"rejected": 4}, 0.0)
