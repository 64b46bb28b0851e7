"""Stopping a lead's clocks closes their breaches, including one whose clock was extended
since: the breach update is skipped only when no stopped clock was ever breached."""

from datetime import timedelta

from sqlmodel import select

from bot import escalation, ownership
from storage.models import Breach, Deadline
from tests.test_clock import START, clock, hand_over, tick, timed  # noqa: F401


def test_a_claim_after_an_extension_closes_the_breach_before_it(timed, clock):  # noqa: F811
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1, minutes=10))
    escalation.extend(timed, lead_id=lead_id, kind="claim", by="U0MANAGER", reason="Offsite")
    clock.at(START + timedelta(hours=1, minutes=30))
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    with timed.sessions() as session:
        breaches = session.exec(select(Breach).where(Breach.lead_id == lead_id)).all()
        claim = session.exec(
            select(Deadline).where(Deadline.lead_id == lead_id, Deadline.kind == "claim")
        ).one()
    assert [breach.resolved_at for breach in breaches] == [START + timedelta(hours=1, minutes=30)]
    assert claim.resolved_at == START + timedelta(hours=1, minutes=30)


def test_a_claim_on_time_stops_its_clock_and_records_no_breach(timed, clock):  # noqa: F811
    lead_id = hand_over(timed)
    clock.at(START + timedelta(minutes=5))
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    with timed.sessions() as session:
        claim = session.exec(
            select(Deadline).where(Deadline.lead_id == lead_id, Deadline.kind == "claim")
        ).one()
        assert not session.exec(select(Breach)).all()
    assert (claim.resolved_at, claim.next_at) == (START + timedelta(minutes=5), None)


def test_claims_together_close_the_late_ones_breach_and_stop_both_clocks(
    timed,  # noqa: F811
    clock,  # noqa: F811
):
    late = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1, minutes=10))
    on_time = hand_over(timed)
    clock.at(START + timedelta(hours=1, minutes=20))
    outcomes = ownership.claim_all(timed, [(late, "U0SELLER1"), (on_time, "U0SELLER2")])
    assert [lead.owner for lead in outcomes] == ["U0SELLER1", "U0SELLER2"]
    with timed.sessions() as session:
        breaches = session.exec(select(Breach)).all()
        claims = session.exec(select(Deadline).where(Deadline.kind == "claim")).all()
    assert [(b.lead_id, b.resolved_at) for b in breaches] == [
        (late, START + timedelta(hours=1, minutes=20))
    ]
    assert {c.lead_id: (c.resolved_at, c.next_at) for c in claims} == {
        late: (START + timedelta(hours=1, minutes=20), None),
        on_time: (START + timedelta(hours=1, minutes=20), None),
    }
