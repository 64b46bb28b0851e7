"""Pausing a lead's clocks: once, until a day the customer named, within the agreement's
bound; the deadlines move by the paused business time. The domain with an injected clock,
then the card's button and modal through signed requests to the real app."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from bot import consequences, ownership, pause
from bot.actions import ActionId, BlockId, ViewId
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.refusals import Refused
from bot.scorecard import compute
from storage import deadlines, leads, sellers
from storage.db import transaction
from storage.models import Event
from tests.support import AGREEMENT, GOOD_LEAD, view_submission
from tests.test_clock import START, FakeClock, dms_to, tick
from tests.test_consequences import hand_over

BUSINESS_HOURS = """
business_hours:
  days: [mon, tue, wed, thu, fri]
  start: "08:00"
  end: "16:00"
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def timed(ctx: Context, clock: FakeClock) -> Context:
    ctx.clock = clock
    return ctx


def contact_clock(ctx: Context, lead_id: str):
    with ctx.sessions() as session:
        (found,) = [
            c for c in deadlines.of_lead(session=session, lead_id=lead_id) if c.kind == "contact"
        ]
    return found


def claimed(ctx: Context, number: int = 0) -> str:
    lead_id = hand_over(ctx, number)
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    return lead_id


def test_a_pause_moves_the_deadline_by_the_paused_time(timed, clock):
    """24/7: paused at 10:00 UTC on Tuesday until Thursday (00:00 in Copenhagen, 23:00 UTC
    on Wednesday), 37 hours; the contact deadline at 13:00 on Tuesday moves 37 hours on."""
    lead_id = claimed(timed)
    clock.at(START + timedelta(hours=1))
    lead = pause.pause(
        timed,
        lead_id=lead_id,
        user="U0SELLER1",
        until=date(2026, 11, 26),
        reason="customer_asked_to_be_called_later",
    )
    assert lead.paused_until == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    assert (lead.paused_by, lead.pause_reason, lead.pause_note) == (
        "U0SELLER1",
        "customer_asked_to_be_called_later",
        None,
    )
    contact = contact_clock(timed, lead_id)
    assert contact.due_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert contact.remind_at == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    with timed.sessions() as session:
        (event,) = session.exec(select(Event).where(Event.kind == "paused")).all()
    assert event.actor == "U0SELLER1"
    assert event.data["business_seconds"] == 37 * 3600
    # Nothing is due at the old deadline; the new one escalates as any other.
    tick(timed, clock, START + timedelta(hours=5))
    assert not dms_to(timed, "U0MANAGER")
    tick(timed, clock, datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    assert len(dms_to(timed, "U0MANAGER")) == 1


def test_in_business_hours_the_deadline_keeps_its_business_time_left(ctx, clock, database_url):
    """Mon-Fri 08-16 in Copenhagen. Claimed Tuesday 10:00, contact due 14:00 (4 business
    hours). Paused at 10:00 until Thursday: 6 + 8 business hours pass meanwhile, so the
    deadline is 14 business hours later: Thursday 12:00 (11:00 UTC), four hours into the day."""
    ctx.agreement = parse_agreement(AGREEMENT + BUSINESS_HOURS)
    ctx.clock = clock
    lead_id = claimed(ctx)
    assert contact_clock(ctx, lead_id).due_at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    pause.pause(ctx, lead_id=lead_id, user="U0SELLER1", until=date(2026, 11, 26), note="Fair")
    assert contact_clock(ctx, lead_id).due_at == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def test_a_lead_is_paused_once(timed, clock):
    lead_id = claimed(timed)
    pause.pause(timed, lead_id=lead_id, user="U0SELLER1", until=date(2026, 11, 25), note="Later")
    with pytest.raises(Refused) as refused:
        pause.pause(
            timed, lead_id=lead_id, user="U0SELLER1", until=date(2026, 11, 27), note="Again"
        )
    assert refused.value.reason == "paused_before"
    # Paused 14 hours (10:00 to midnight in Copenhagen): due at 13:00 + 14h, moved once.
    assert contact_clock(timed, lead_id).due_at == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("user", "until", "reason", "note", "refusal"),
    [
        ("U0SELLER2", date(2026, 11, 25), None, "not mine", "not_allowed"),
        ("U0SELLER1", date(2026, 11, 24), None, "today", "pause_not_ahead"),
        ("U0SELLER1", None, None, "no day", "pause_not_ahead"),
        ("U0SELLER1", date(2026, 12, 9), None, "15 days", "pause_too_long"),
        ("U0SELLER1", date(2026, 11, 25), None, "   ", "pause_reason_required"),
        ("U0SELLER1", date(2026, 11, 25), "on_holiday", None, "pause_reason_unknown"),
    ],
)
def test_a_pause_that_the_agreement_does_not_allow_changes_nothing(
    timed, user, until, reason, note, refusal
):
    lead_id = claimed(timed)
    with pytest.raises(Refused) as refused:
        pause.pause(timed, lead_id=lead_id, user=user, until=until, reason=reason, note=note)
    assert refused.value.reason == refusal
    with timed.sessions() as session:
        assert leads.get(session=session, lead_id=lead_id).paused_at is None
    assert contact_clock(timed, lead_id).due_at == START + timedelta(hours=4)


def test_fourteen_days_is_the_default_bound_and_the_agreement_may_change_it(timed):
    lead_id = claimed(timed)
    pause.pause(timed, lead_id=lead_id, user="U0SELLER1", until=date(2026, 12, 8), note="ok")
    timed.agreement = parse_agreement(AGREEMENT + "pause: {longest: 3}\n")
    other = hand_over(timed, 1)
    ownership.claim(timed, lead_id=other, user="U0SELLER1")
    with pytest.raises(Refused) as refused:
        pause.pause(timed, lead_id=other, user="U0SELLER1", until=date(2026, 11, 28), note="x")
    assert refused.value.details == {"longest": 3, "latest": "2026-11-27"}


def test_a_clock_past_its_deadline_is_not_paused(timed, clock):
    lead_id = claimed(timed)
    tick(timed, clock, START + timedelta(hours=4))
    with pytest.raises(Refused) as refused:
        pause.pause(timed, lead_id=lead_id, user="U0SELLER1", until=date(2026, 11, 26), note="x")
    assert refused.value.reason == "nothing_to_pause"


def test_the_scorecard_counts_pauses_by_reason(timed):
    for number, reason, note in ((1, "customer_out_of_office", None), (2, None, "A demo first")):
        lead_id = claimed(timed, number)
        pause.pause(
            timed,
            lead_id=lead_id,
            user="U0SELLER1",
            until=date(2026, 11, 27),
            reason=reason,
            note=note,
        )
    with timed.sessions() as session:
        card = compute(
            session=session,
            agreement=timed.agreement,
            since=START - timedelta(days=1),
            until=START + timedelta(days=1),
            now=START,
        )
    assert card.paused == {"customer_out_of_office": 1, "note": 1}


# --- through Slack ----------------------------------------------------------------------


def ephemeral_to(slack, user: str, containing: str) -> str:
    call = slack.wait_for(
        "chat.postEphemeral",
        where=lambda c: c.params["user"] == user and containing in c.params["text"],
    )[0]
    return call.params["text"]


def today(baton) -> date:
    return datetime.now(UTC).astimezone(baton.runtime.ctx.agreement.tz).date()


def submit_pause(baton, lead_id: str, *, until: date, reason: str | None, note: str | None):
    values = {
        BlockId.UNTIL: {"date": {"type": "datepicker", "selected_date": until.isoformat()}},
        BlockId.REASON: {
            "choice": {
                "type": "static_select",
                "selected_option": {"value": reason} if reason else None,
            }
        },
        BlockId.NOTE: {"text": {"type": "plain_text_input", "value": note}},
    }
    payload = view_submission(
        user="U0SELLER1",
        callback_id=ViewId.PAUSE,
        private_metadata=json.dumps({"lead": lead_id, "channel": "C0SALES"}),
        values=values,
    )
    return baton.interact(payload)


def test_the_owner_pauses_from_the_card_and_a_second_pause_is_refused(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    baton.click("U0SELLER1", ActionId.CLAIM, lead_id)
    card = slack.wait_for("chat.update")[0]
    assert "Pause clock" in json.dumps(card.json("blocks"))

    baton.click("U0SELLER2", ActionId.PAUSE, lead_id)
    assert "Only the lead's owner or the sales manager may pause" in ephemeral_to(
        slack, "U0SELLER2", "Only"
    )
    baton.click("U0SELLER1", ActionId.PAUSE, lead_id)
    view = slack.wait_for("views.open")[0].json("view")
    assert view["callback_id"] == ViewId.PAUSE
    shown = json.dumps(view["blocks"])
    assert "customer asked to be called later" in shown and "datepicker" in shown

    too_far = submit_pause(
        baton, lead_id, until=today(baton) + timedelta(days=15), reason=None, note="x"
    )
    assert too_far.json()["response_action"] == "errors"
    assert "at most 14 days" in too_far.json()["errors"][BlockId.UNTIL]
    no_why = submit_pause(
        baton, lead_id, until=today(baton) + timedelta(days=3), reason=None, note=None
    )
    assert BlockId.REASON in no_why.json()["errors"]

    answer = submit_pause(
        baton,
        lead_id,
        until=today(baton) + timedelta(days=3),
        reason="customer_out_of_office",
        note=None,
    )
    assert answer.status_code == 200 and not answer.content
    assert "Paused until" in ephemeral_to(slack, "U0SELLER1", "Paused")
    paused_card = slack.wait_for(
        "chat.update", where=lambda c: "Clock paused" in json.dumps(c.params.get("blocks"))
    )[0]
    text = json.dumps(paused_card.json("blocks"))
    assert "<@U0SELLER1>" in text and "customer out of office" in text
    assert "Pause clock" not in text

    views = len(slack.calls_to("views.open"))
    baton.click("U0SELLER1", ActionId.PAUSE, lead_id)  # from a card not yet brought up to date
    assert "paused once already" in ephemeral_to(slack, "U0SELLER1", "once already")
    assert len(slack.calls_to("views.open")) == views


def test_the_manager_puts_a_seller_back_with_one_click(baton, slack):
    ctx = baton.runtime.ctx
    with transaction(ctx.sessions) as session:
        sellers.take_out_of_rotation(session, "U0SELLER2", "3 breaches", datetime.now(UTC))
    baton.click("U0SELLER1", ActionId.RESTORE, "U0SELLER2", channel="D0DM")
    assert "Only the sales manager may put a seller back" in ephemeral_to(
        slack, "U0SELLER1", "Only"
    )
    assert consequences.out_of_rotation(ctx) == ["U0SELLER2"]
    baton.click("U0MANAGER", ActionId.RESTORE, "U0SELLER2", channel="D0DM")
    assert "back in rotation" in ephemeral_to(slack, "U0MANAGER", "back in rotation")
    assert consequences.out_of_rotation(ctx) == []
    dm = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "U0SELLER2")
    assert "back in rotation" in dm[0].params["text"]
    home = slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == "U0MANAGER")
    assert "out of rotation" not in json.dumps(home[0].json("view"))


def test_app_home_offers_the_manager_one_click_for_a_seller_out_of_rotation(baton, slack):
    from tests.test_feedback import home_opened

    ctx = baton.runtime.ctx
    with transaction(ctx.sessions) as session:
        sellers.take_out_of_rotation(session, "U0SELLER3", "3 breaches", datetime.now(UTC))
    assert home_opened(baton, "U0MANAGER", "Ev-home-rotation").status_code == 200
    view = slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == "U0MANAGER")
    blocks = view[0].json("view")["blocks"]
    (offer,) = [b for b in blocks if "out of rotation" in json.dumps(b)]
    assert "<@U0SELLER3>" in offer["text"]["text"]
    button = offer["accessory"]
    assert (button["action_id"], button["value"]) == (ActionId.RESTORE, "U0SELLER3")
    # The button as App Home sends it: no channel to answer in, so the answer is a DM.
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "test"},
        "user": {"id": "U0MANAGER", "username": "u0manager", "team_id": "T0TEAM"},
        "api_app_id": "A0BATON",
        "trigger_id": "trigger-home",
        "container": {"type": "view", "view_id": "V0HOME"},
        "view": {"id": "V0HOME", "type": "home"},
        "actions": [
            {
                "type": "button",
                "action_id": ActionId.RESTORE,
                "block_id": offer.get("block_id", "x"),
                "value": "U0SELLER3",
                "action_ts": "1",
            }
        ],
    }
    assert baton.interact(payload).status_code == 200
    slack.wait_for(
        "chat.postMessage",
        where=lambda c: (
            c.params["channel"] == "U0MANAGER" and "back in rotation" in c.params["text"]
        ),
    )
    assert consequences.out_of_rotation(ctx) == []
