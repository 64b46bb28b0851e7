"""This week's figures and the weekly scorecard, computed from stored leads and events."""

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot import feedback, intake, messages, overview, ownership, reports
from bot.scheduler import DeadlineScheduler
from bot.schemas import LeadIn
from storage.models import Outbox
from tests.support import GOOD_LEAD, show_card

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def hand_over(ctx, number: int, **changes) -> str:
    """A lead handed over, its card (if qualified) in the sales channel at once."""
    body = {**GOOD_LEAD, "email": f"lead{number}@nordlys.dk", **changes}
    handed = intake.hand_over(ctx, LeadIn.model_validate(body), by="api").lead
    if handed.qualified:
        show_card(ctx, handed.id)
    return handed.id


def test_app_home_shows_the_figures_of_baton_stats(ctx):
    """One computation for `/baton stats`, App Home and the weekly message (`bot.scorecard`)."""
    clock = Clock(MONDAY)
    ctx.clock = clock
    on_time = hand_over(ctx, 1)
    late = hand_over(ctx, 2)
    hand_over(ctx, 3, country="US")
    ownership.claim(ctx, lead_id=on_time, user="U0SELLER1")
    clock.now = MONDAY + timedelta(hours=2)
    DeadlineScheduler(ctx).run_once()  # the second lead's claim deadline passes unmet
    ownership.claim(ctx, lead_id=late, user="U0SELLER2")
    verdict = feedback.Verdict(outcome="rejected", reason="wrong_decision_maker")
    feedback.give(ctx, lead_id=on_time, by="U0SELLER1", verdict=verdict)

    shown = overview.home(ctx, "U0CEO")["week"]
    assert shown == reports.this_week(ctx).as_json()
    assert (shown["handed_over"], shown["qualified"]) == (3, 2)
    assert (shown["clocks"]["claim"]["in_time"], shown["clocks"]["claim"]["late"]) == (1, 1)
    assert shown["sources"]["webinar"]["rejected_by_reason"] == {"wrong_decision_maker": 1}


def test_the_week_starts_on_monday_in_the_agreement_timezone(agreement):
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # Monday 00:30 in Copenhagen
    assert reports.week_start(agreement, sunday_night) == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


def test_the_weekly_scorecard_goes_out_once(ctx):
    ctx.clock = Clock(MONDAY - timedelta(days=3))
    hand_over(ctx, 1)
    ctx.clock = Clock(MONDAY)
    assert reports.send_weekly(ctx) is True
    assert reports.send_weekly(ctx) is False  # another replica, or a second run
    with ctx.sessions() as session:
        rows = session.exec(select(Outbox).where(Outbox.kind.in_(("post", "dm")))).all()
    scorecards = {row.payload["template"]: row for row in rows if row.payload["template"] != "card"}
    assert {name: row.recipient for name, row in scorecards.items()} == {
        "scorecard": "U0CEO",
        "scorecard_sales": "U0MANAGER",
        "scorecard_marketing": "C0MKTG",
    }
    assert {
        name: row.payload["facts"]["scorecard_chart"]["panels"] for name, row in scorecards.items()
    } == {
        "scorecard": ["handovers", "contact"],
        "scorecard_sales": ["contact"],
        "scorecard_marketing": ["handovers"],
    }
    assert scorecards["scorecard"].payload["facts"]["card"]["handed_over"] == 1
    assert {row.priority for row in scorecards.values()} == {messages.BULK}  # cards go first


def test_the_scorecard_groups_unqualified_leads_by_the_rules_code(ctx):
    ctx.clock = Clock(MONDAY)
    hand_over(ctx, 1, country="US")
    hand_over(ctx, 2, country="FR", title="Intern")
    hand_over(ctx, 3, country=None)
    hand_over(ctx, 4)
    with ctx.sessions() as session:
        card = reports.scorecard(
            session=session, agreement=ctx.agreement, since=MONDAY - timedelta(days=1)
        )
    assert card.unqualified_reasons == {"geography": 3, "contact_role": 1}
