"""The SLA clock with an injected clock: reminders, breaches and the escalation ladder."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot import availability, digests, escalation, intake, ownership
from bot.actions import ActionId
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.refusals import Refused
from bot.scheduler import DeadlineScheduler
from bot.schemas import LeadIn
from bot.slack import digest_layout
from bot.slack.render import Renderer
from storage import deadlines
from storage.models import Breach, Digest, DigestItem, Event, Outbox
from tests.support import AGREEMENT, GOOD_LEAD, show_card

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday
OWNER_FIRST = AGREEMENT.replace("notify: sales_manager}", "notify: owner}")
"""The ladder's first step is the owner's, at the deadline; the CEO's two hours on."""


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def timed(ctx: Context, clock: FakeClock) -> Context:
    ctx.clock = clock
    return ctx


def hand_over(ctx: Context) -> str:
    """A lead whose card is in the sales channel at once: its clocks start now."""
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    show_card(ctx, lead_id)
    return lead_id


def queued(ctx: Context, *, template: str | None = None, kind: str | None = None) -> list[Outbox]:
    with ctx.sessions() as session:
        rows = session.exec(select(Outbox).order_by(Outbox.id)).all()
    return [
        row
        for row in rows
        if (template is None or row.payload.get("template") == template)
        and (kind is None or row.kind == kind)
    ]


def dms_to(ctx: Context, user: str) -> list[DigestItem]:
    """What the clock has told `user`: each reminder or escalation step, in the order told.

    They go out in digests (one message for the notices close together), so they are read
    from the digests' items, not from one queued DM each."""
    with ctx.sessions() as session:
        return list(
            session.exec(
                select(DigestItem)
                .join(Digest)
                .where(Digest.recipient == user)
                .order_by(DigestItem.id)
            ).all()
        )


def tick(ctx: Context, clock: FakeClock, moment: datetime, times: int = 2) -> None:
    """Run the clock at `moment`, more than once: repeats must change nothing."""
    clock.at(moment)
    for _ in range(times):
        DeadlineScheduler(ctx).run_once()


def test_an_unclaimed_lead_is_reminded_in_its_thread_once(timed, clock):
    hand_over(timed)
    tick(timed, clock, START + timedelta(minutes=30))
    reminders = queued(timed, template="reminder_unclaimed")
    assert len(reminders) == 1
    assert reminders[0].kind == "reply"
    assert reminders[0].payload["facts"]["sellers"] == ["U0SELLER1", "U0SELLER2", "U0SELLER3"]
    assert not queued(timed, kind="digest")


def test_nothing_happens_before_its_time(timed, clock):
    hand_over(timed)
    tick(timed, clock, START + timedelta(minutes=29, seconds=59))
    assert not queued(timed, template="reminder_unclaimed")


def test_a_missed_claim_goes_to_the_manager_then_the_ceo_once_each(timed, clock):
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1))
    assert len(dms_to(timed, "U0MANAGER")) == 1
    assert not dms_to(timed, "U0CEO")
    with timed.sessions() as session:
        breach = session.exec(select(Breach)).one()
    assert (breach.kind, breach.owner, breach.due_at) == ("claim", None, START + timedelta(hours=1))
    assert breach.resolved_at is None

    tick(timed, clock, START + timedelta(hours=2, minutes=59))
    assert not dms_to(timed, "U0CEO")
    tick(timed, clock, START + timedelta(hours=3))
    assert len(dms_to(timed, "U0CEO")) == 1
    assert len(dms_to(timed, "U0MANAGER")) == 1
    facts = dms_to(timed, "U0CEO")[0].facts
    assert facts["role"] == "ceo"
    kinds = [event["kind"] for event in facts["history"]]
    assert kinds == ["handed_over", "card_posted", "breached", "escalated"]

    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    with timed.sessions() as session:
        assert session.exec(select(Breach)).one().resolved_at == START + timedelta(hours=3)


def test_a_claim_between_the_steps_stops_the_ladder(timed, clock):
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1))
    clock.at(START + timedelta(hours=1, minutes=5))
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER2")
    tick(timed, clock, START + timedelta(hours=3))
    assert not dms_to(timed, "U0CEO")


def test_a_lead_claimed_in_time_escalates_nothing_for_its_claim(timed, clock):
    lead_id = hand_over(timed)
    clock.at(START + timedelta(minutes=10))
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=3))
    assert not queued(timed, template="reminder_unclaimed")
    assert not dms_to(timed, "U0MANAGER")
    # the contact clock still runs: the owner is reminded half an hour before it is due
    tick(timed, clock, START + timedelta(hours=3, minutes=30))
    reminder = dms_to(timed, "U0SELLER1")
    assert [item.facts["template"] for item in reminder] == ["reminder_owner"]
    assert reminder[0].facts["kind"] == "contact"


def test_contacting_in_time_stops_the_contact_clock_and_starts_feedback(timed, clock):
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    clock.at(START + timedelta(hours=2))
    ownership.mark_contacted(timed, lead_id=lead_id, user="U0SELLER1")
    with timed.sessions() as session:
        clocks = {c.kind: c for c in deadlines.of_lead(session=session, lead_id=lead_id)}
    assert clocks["contact"].resolved_at == START + timedelta(hours=2)
    assert clocks["feedback"].due_at == START + timedelta(hours=2, days=2)
    tick(timed, clock, START + timedelta(days=2, hours=1, minutes=45))
    assert not dms_to(timed, "U0MANAGER")
    assert [item.facts["kind"] for item in dms_to(timed, "U0SELLER1")] == ["feedback"]


def test_only_the_owner_marks_contacted(timed):
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    with pytest.raises(Refused):
        ownership.mark_contacted(timed, lead_id=lead_id, user="U0SELLER2")


def test_after_a_long_outage_each_step_fires_once_and_no_late_reminder(timed, clock):
    hand_over(timed)
    tick(timed, clock, START + timedelta(days=1))
    assert len(dms_to(timed, "U0MANAGER")) == 2  # claim and contact clocks both missed
    assert len(dms_to(timed, "U0CEO")) == 2
    assert not queued(timed, template="reminder_unclaimed")


def test_reassigning_after_a_contact_breach_stops_the_ladder_and_gives_a_fresh_window(timed, clock):
    """The manager handed the lead on after its contact deadline passed: the CEO is not told
    of it, and the new owner has a whole contact window from the reassignment."""
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))
    assert len(dms_to(timed, "U0MANAGER")) == 1
    clock.at(START + timedelta(hours=4, minutes=10))
    ownership.assign(timed, lead_id=lead_id, by="U0MANAGER", to="U0SELLER2")
    with timed.sessions() as session:
        contacts = [
            c for c in deadlines.of_lead(session=session, lead_id=lead_id) if c.kind == "contact"
        ]
        breach = session.exec(select(Breach).where(Breach.kind == "contact")).one()
    old, fresh = contacts
    assert old.resolved_at == START + timedelta(hours=4, minutes=10)
    assert breach.resolved_at == START + timedelta(hours=4, minutes=10)
    assert fresh.due_at == START + timedelta(hours=8, minutes=10)
    assert fresh.resolved_at is None and fresh.breached_at is None
    tick(timed, clock, START + timedelta(hours=6))
    assert not dms_to(timed, "U0CEO")
    tick(timed, clock, START + timedelta(hours=7, minutes=40))
    assert [item.facts["kind"] for item in dms_to(timed, "U0SELLER2")] == ["contact"]


def test_assigning_an_unclaimed_lead_in_time_keeps_its_contact_clock(timed, clock):
    lead_id = hand_over(timed)
    clock.at(START + timedelta(minutes=20))
    ownership.assign(timed, lead_id=lead_id, by="U0MANAGER", to="U0SELLER2")
    with timed.sessions() as session:
        contacts = [
            c for c in deadlines.of_lead(session=session, lead_id=lead_id) if c.kind == "contact"
        ]
    assert [(c.due_at, c.resolved_at) for c in contacts] == [(START + timedelta(hours=4), None)]


def test_the_manager_extends_a_missed_deadline_once(timed, clock):
    lead_id = hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1, minutes=10))
    extended = escalation.extend(
        timed, lead_id=lead_id, kind="claim", by="U0MANAGER", reason="Team offsite"
    )
    assert extended.due_at == START + timedelta(hours=2, minutes=10)
    assert extended.breached_at is None
    with pytest.raises(Refused) as twice:
        escalation.extend(timed, lead_id=lead_id, kind="claim", by="U0MANAGER", reason="again")
    assert twice.value.reason == "extended_before"
    with pytest.raises(Refused) as not_manager:
        escalation.extend(timed, lead_id=lead_id, kind="contact", by="U0SELLER1", reason="x")
    assert not_manager.value.reason == "not_allowed"
    tick(timed, clock, START + timedelta(hours=2, minutes=10))
    assert len(dms_to(timed, "U0MANAGER")) == 2
    with timed.sessions() as session:
        assert len(session.exec(select(Breach).where(Breach.kind == "claim")).all()) == 2


def test_an_extension_needs_a_reason(timed, clock):
    lead_id = hand_over(timed)
    with pytest.raises(Refused) as refusal:
        escalation.extend(timed, lead_id=lead_id, kind="claim", by="U0MANAGER", reason="  ")
    assert refusal.value.reason == "reason_required"


def test_an_owner_step_without_an_owner_is_passed_over(timed, clock):
    timed.agreement = parse_agreement(AGREEMENT.replace("notify: sales_manager}", "notify: owner}"))
    hand_over(timed)
    tick(timed, clock, START + timedelta(hours=1))
    assert not queued(timed, kind="digest")
    tick(timed, clock, START + timedelta(hours=3))
    assert len(dms_to(timed, "U0CEO")) == 1


def escalated(ctx: Context) -> list[dict]:
    """The data of each escalation step taken, as the lead's history keeps it."""
    with ctx.sessions() as session:
        events = session.exec(select(Event).where(Event.kind == "escalated").order_by(Event.id))
        return [event.data for event in events]


def as_slack_shows(ctx: Context, item: DigestItem) -> dict:
    """The Slack message the digest holding `item` reads as."""
    with ctx.sessions() as session:
        shown = digests.view(
            session,
            item.digest_id,
            agreement=ctx.agreement,
            now=ctx.clock(),
            link=lambda _: None,
            pack=digest_layout.pack,
        )
    assert shown is not None
    return Renderer(ctx.agreement).message(shown.template, **shown.facts)


def test_an_owner_step_tells_the_owner(timed, clock):
    timed.agreement = parse_agreement(OWNER_FIRST)
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))  # the contact deadline
    [item] = dms_to(timed, "U0SELLER1")
    assert (item.facts["template"], item.facts["role"]) == ("escalation", "owner")
    assert "away_owner" not in item.facts
    assert not dms_to(timed, "U0MANAGER")
    assert escalated(timed) == [
        {"clock": "contact", "step": 0, "notify": "owner", "user": "U0SELLER1"}
    ]


def test_an_owner_step_for_an_owner_who_is_away_goes_to_the_sales_manager(timed, clock):
    """Like the reminders of an away owner's leads: the manager, told whose lead it is and
    that they are away, can reassign it or extend the deadline meanwhile."""
    timed.agreement = parse_agreement(OWNER_FIRST)
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    clock.at(START + timedelta(hours=1))
    availability.go_away(timed, user="U0SELLER1", until=None)
    tick(timed, clock, START + timedelta(hours=4))  # the contact deadline
    assert not dms_to(timed, "U0SELLER1")
    [item] = dms_to(timed, "U0MANAGER")
    assert item.facts["template"] == "escalation"
    assert (item.facts["role"], item.facts["away_owner"]) == ("sales_manager", "U0SELLER1")
    assert escalated(timed) == [
        {
            "clock": "contact",
            "step": 0,
            "notify": "owner",
            "user": "U0MANAGER",
            "away_owner": "U0SELLER1",
        }
    ]
    message = as_slack_shows(timed, item)
    assert message["text"].startswith(":rotating_light: <@U0SELLER1> is away.")
    section = message["blocks"][0]["text"]["text"]
    assert "<@U0SELLER1> is away, so this comes to you" in section
    assert "Owner: <@U0SELLER1>" in section
    actions = [
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert actions == [ActionId.REASSIGN, ActionId.EXTEND]

    tick(timed, clock, START + timedelta(hours=6))  # the CEO's step is the CEO's, as ever
    assert len(dms_to(timed, "U0CEO")) == 1
    assert len(dms_to(timed, "U0MANAGER")) == 1


def test_an_owner_back_from_away_is_told_again(timed, clock):
    timed.agreement = parse_agreement(OWNER_FIRST)
    lead_id = hand_over(timed)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    availability.go_away(timed, user="U0SELLER1", until=None)
    clock.at(START + timedelta(hours=2))
    availability.come_back(timed, user="U0SELLER1")
    tick(timed, clock, START + timedelta(hours=4))
    assert [item.facts["role"] for item in dms_to(timed, "U0SELLER1")] == ["owner"]
    assert not dms_to(timed, "U0MANAGER")


def test_clocks_count_business_time(ctx, clock):
    copenhagen = ZoneInfo("Europe/Copenhagen")
    ctx.agreement = parse_agreement(
        AGREEMENT.replace(
            "timezone: Europe/Copenhagen",
            "timezone: Europe/Copenhagen\nbusiness_hours:\n  days: [mon, tue, wed, thu, fri]\n"
            '  start: "08:00"\n  end: "16:00"\n  holidays: DK',
        )
    )
    ctx.clock = clock
    clock.at(datetime(2026, 4, 1, 15, 30, tzinfo=copenhagen))  # Wednesday before Easter
    lead_id = hand_over(ctx)
    with ctx.sessions() as session:
        due = {c.kind: c.due_at for c in deadlines.of_lead(session=session, lead_id=lead_id)}
    assert due["contact"] == datetime(2026, 4, 7, 11, 30, tzinfo=copenhagen)
    assert due["claim"] == datetime(2026, 4, 7, 8, 30, tzinfo=copenhagen)


def test_the_next_clock_is_the_earliest_pending_moment(timed, clock):
    hand_over(timed)
    scheduler = DeadlineScheduler(timed)
    assert scheduler.next_deadline().next_at == START + timedelta(minutes=30)
    tick(timed, clock, START + timedelta(minutes=30))
    assert scheduler.next_deadline().next_at == START + timedelta(hours=1)
