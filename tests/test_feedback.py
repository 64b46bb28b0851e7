"""The feedback loop end to end: signed requests in, Slack calls out, the database in between."""

import json
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from bot import feedback, intake, ownership
from bot.actions import ActionId, BlockId, ViewId
from bot.refusals import Refused
from bot.schemas import LeadIn
from storage import leads as stored
from storage.models import Feedback, Lead
from tests.support import GOOD_LEAD, slack_headers, view_submission


def claimed_and_contacted(baton, slack, owner="U0SELLER1") -> str:
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    baton.click(owner, ActionId.CLAIM, lead_id)
    slack.wait_for("chat.update")
    baton.click(owner, ActionId.MARK_CONTACTED, lead_id)
    slack.wait_for("chat.update", 2)
    return lead_id


def feedback_values(
    outcome="rejected", reason="wrong_decision_maker", missed=(), note=None, recheck=None
):
    return {
        BlockId.OUTCOME: {
            "value": {
                "type": "radio_buttons",
                "selected_option": ({"value": outcome} if outcome else None),
            }
        },
        BlockId.REASON: {
            "value": {
                "type": "static_select",
                "selected_option": ({"value": reason} if reason else None),
            }
        },
        BlockId.MISSED: {
            "value": {
                "type": "multi_static_select",
                "selected_options": [{"value": m} for m in missed],
            }
        },
        BlockId.RECHECK: {"value": {"type": "datepicker", "selected_date": recheck}},
        BlockId.NOTE: {"value": {"type": "plain_text_input", "value": note}},
    }


def submit_feedback(baton, lead_id, user="U0SELLER1", **given):
    payload = view_submission(
        user=user,
        callback_id=ViewId.FEEDBACK,
        private_metadata=json.dumps({"lead": lead_id, "channel": "C0SALES"}),
        values=feedback_values(**given),
    )
    return baton.interact(payload)


def stage_of(baton, lead_id):
    with baton.runtime.ctx.sessions() as session:
        return stored.get(session=session, lead_id=lead_id).stage


def test_rejection_reaches_the_thread_marketing_and_the_card(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    baton.click("U0SELLER1", ActionId.GIVE_FEEDBACK, lead_id)
    view = slack.wait_for("views.open")[0].json("view")
    assert view["callback_id"] == ViewId.FEEDBACK
    assert "wrong decision-maker" in json.dumps(view)

    answer = submit_feedback(
        baton, lead_id, missed=["contact_role"], note="Spoke to <!channel> & the CFO"
    )
    assert answer.status_code == 200
    assert not answer.content or "errors" not in answer.json()

    thread = slack.wait_for(
        "chat.postMessage",
        where=lambda c: "thread_ts" in c.params and "Rejected" in c.params["text"],
    )[0]
    assert "wrong decision-maker" in thread.params["text"]
    assert "*Missed in practice:* contact role" in json.dumps(thread.json("blocks"))
    assert "&lt;!channel&gt; &amp; the CFO" in json.dumps(thread.json("blocks"))
    marketing = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0MKTG")
    body = json.dumps(marketing[0].json("blocks"))
    assert "wrong decision-maker" in body
    assert "https://test.slack.com/archives/C0SALES/p" in body
    card = slack.wait_for("chat.update", where=lambda c: "Rejected" in str(c.params["blocks"]))
    assert "wrong decision-maker" in str(card[0].params["blocks"])
    assert stage_of(baton, lead_id) == "rejected"


def test_the_form_offers_the_rules_and_reasons_by_code_and_stores_the_codes(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    baton.click("U0SELLER1", ActionId.GIVE_FEEDBACK, lead_id)
    view = slack.wait_for("views.open")[0].json("view")
    blocks = {block.get("block_id"): block for block in view["blocks"]}
    offered = {
        option["value"]: option["text"]["text"]
        for option in blocks[BlockId.MISSED]["element"]["options"]
    }
    assert offered == {
        "industry": "industry",
        "geography": "country",
        "company_size": "company size",
        "contact_role": "contact role",
        "budget": "budget",
        "challenges": "challenges",
        "buying_stage": "buying stage",
    }
    reasons = [option["value"] for option in blocks[BlockId.REASON]["element"]["options"]]
    assert reasons == [
        "wrong_decision_maker",
        "no_relevant_need",
        "too_early_in_the_buying_process",
    ]

    answer = submit_feedback(baton, lead_id, missed=["challenges", "budget"])
    assert not answer.content or "errors" not in answer.json()
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0MKTG")
    with baton.runtime.ctx.sessions() as session:
        (given,) = session.exec(select(Feedback)).all()
    assert (given.reason, given.missed_rules) == ("wrong_decision_maker", ["challenges", "budget"])


def test_a_rule_or_reason_outside_the_vocabulary_stays_in_the_modal(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    answer = submit_feedback(baton, lead_id, reason="wrong decision-maker", missed=["title"])
    errors = answer.json()["errors"]
    assert set(errors) == {BlockId.REASON, BlockId.MISSED}
    assert "title" in errors[BlockId.MISSED]


def test_a_rejection_without_a_reason_stays_in_the_modal(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    answer = submit_feedback(baton, lead_id, reason=None)
    assert answer.json()["response_action"] == "errors"
    assert BlockId.REASON in answer.json()["errors"]
    with baton.runtime.ctx.sessions() as session:
        assert not session.exec(select(Feedback)).all()
    assert stage_of(baton, lead_id) == "contacted"


def test_nurture_needs_a_date_in_the_future(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    answer = submit_feedback(baton, lead_id, outcome="nurture", reason=None)
    assert BlockId.RECHECK in answer.json()["errors"]
    past = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    answer = submit_feedback(baton, lead_id, outcome="nurture", reason=None, recheck=past)
    assert BlockId.RECHECK in answer.json()["errors"]


def test_feedback_on_a_lead_that_changed_meanwhile_is_explained(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    submit_feedback(baton, lead_id, outcome="accepted", reason=None)
    answer = submit_feedback(baton, lead_id)
    assert answer.status_code == 200
    assert slack.wait_for("chat.postEphemeral", where=lambda c: "given already" in c.params["text"])
    assert stage_of(baton, lead_id) == "accepted"


def test_feedback_for_a_lead_that_no_longer_exists_is_explained(baton, slack):
    answer = submit_feedback(baton, "0" * 32)
    assert answer.status_code == 200
    text = slack.wait_for("chat.postEphemeral")[0].params["text"]
    assert "no longer exists" in text


def test_only_the_owner_opens_feedback(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    baton.click("U0SELLER2", ActionId.GIVE_FEEDBACK, lead_id)
    text = slack.wait_for("chat.postEphemeral", where=lambda c: c.params["user"] == "U0SELLER2")
    assert "Only the lead's owner" in text[0].params["text"]
    assert not slack.calls_to("views.open")


def test_an_oversized_note_is_cut_visibly(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    submit_feedback(baton, lead_id, note="word " * 2000)
    thread = slack.wait_for(
        "chat.postMessage",
        where=lambda c: "thread_ts" in c.params and "Rejected" in c.params["text"],
    )[0]
    note = thread.json("blocks")[-1]["text"]["text"]
    assert len(note) <= 3000
    assert note.endswith("…")


def test_an_accepted_lead_is_won(baton, slack):
    lead_id = claimed_and_contacted(baton, slack)
    submit_feedback(baton, lead_id, outcome="accepted", reason=None)
    slack.wait_for("chat.update", where=lambda c: "baton.won" in str(c.params["blocks"]))
    baton.click("U0SELLER1", ActionId.WON, lead_id)
    won = slack.wait_for("chat.postMessage", where=lambda c: "Won" in c.params.get("text", ""))
    assert won[0].params["channel"] == "C0MKTG"
    assert stage_of(baton, lead_id) == "won"


def test_feedback_also_stops_a_contact_clock_still_running(ctx):
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    verdict = feedback.Verdict(outcome="rejected", reason="no_relevant_need")
    feedback.give(ctx, lead_id=lead_id, by="U0SELLER1", verdict=verdict)
    with ctx.sessions() as session:
        from storage import deadlines

        clocks = deadlines.of_lead(session=session, lead_id=lead_id)
    assert all(clock.resolved_at is not None for clock in clocks)


def test_a_nurtured_lead_comes_back_to_marketing_and_to_another_seller(ctx):
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(GOOD_LEAD), by="api").lead.id
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    soon = ctx.clock().date() + timedelta(days=3)
    verdict = feedback.Verdict(outcome="nurture", recheck_on=soon)
    feedback.give(ctx, lead_id=lead_id, by="U0SELLER1", verdict=verdict)
    assert feedback.recheck_due(ctx) == 0
    later = ctx.clock() + timedelta(days=4)
    ctx.clock = lambda: later
    assert feedback.recheck_due(ctx) == 1
    assert feedback.recheck_due(ctx) == 0  # posted once
    with pytest.raises(Refused):
        feedback.hand_over_again(ctx, lead_id=lead_id, by="U0SELLER2")
    lead = feedback.hand_over_again(ctx, lead_id=lead_id, by="U0MKTG1")
    assert lead.owner != "U0SELLER1"
    assert lead.stage == "claimed"
    with pytest.raises(Refused) as twice:
        feedback.hand_over_again(ctx, lead_id=lead_id, by="U0MKTG1")
    assert twice.value.reason == "not_in_nurture"


def command(baton, text: str, user: str):
    body = urlencode(
        {
            "command": "/baton",
            "text": text,
            "user_id": user,
            "team_id": "T0TEAM",
            "channel_id": "C0SALES",
            "trigger_id": f"t-{time.monotonic_ns()}",
            "response_url": "https://hooks.slack.invalid/x",
        }
    )
    return baton.http.post("/slack/events", content=body, headers=slack_headers(body))


def test_a_seller_cannot_hand_over_from_slack(baton, slack):
    answer = command(baton, "lead", "U0SELLER1")
    assert "Only Marketing" in answer.json()["text"]
    assert not slack.calls_to("views.open")


def hand_over_form(baton, user="U0MKTG1", view_id="V0FORM", **fields):
    given = {
        "name": "Eva Lund",
        "email": "eva@lund.se",
        "company": "Lund AB",
        "title": "CIO",
        "country": "SE",
        "industry": "software",
        "employees": "300",
        "buying_stage": "ready_to_buy",
        **fields,
    }
    values = {
        name: {
            "value": {
                "type": "number_input" if name == "employees" else "plain_text_input",
                "value": value,
            }
        }
        for name, value in given.items()
    }
    payload = view_submission(
        user=user, callback_id=ViewId.HAND_OVER, private_metadata="", values=values
    )
    payload["view"]["id"] = view_id
    return baton.interact(payload)


def test_a_marketer_hands_over_from_slack(baton, slack):
    answer = command(baton, "lead", "U0MKTG1")
    assert answer.status_code == 200
    modal = slack.wait_for("views.open")[0].json("view")
    assert modal["callback_id"] == ViewId.HAND_OVER
    assert hand_over_form(baton).status_code == 200
    verdict = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "U0MKTG1")
    assert "qualified" in verdict[0].params["text"]
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    hand_over_form(baton)  # Slack delivering the same submission twice
    with baton.runtime.ctx.sessions() as session:
        found = session.exec(select(Lead)).all()
    assert len(found) == 1
    assert found[0].handed_over_by == "U0MKTG1"


def test_the_slack_form_shows_field_errors_in_place(baton, slack):
    answer = hand_over_form(baton, email="not an email", country="XX")
    errors = answer.json()["errors"]
    assert set(errors) == {"email", "country"}
    with baton.runtime.ctx.sessions() as session:
        assert not session.exec(select(Lead)).all()


def test_baton_subcommands(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage")
    opened = command(baton, "open", "U0SELLER1").json()
    assert "Mette Hansen" in json.dumps(opened["blocks"])
    assert opened["response_type"] == "ephemeral"
    baton.click("U0SELLER1", ActionId.CLAIM, lead_id)
    slack.wait_for("chat.update")
    mine = command(baton, "mine", "U0SELLER1").json()
    assert "Mette Hansen" in json.dumps(mine["blocks"])
    assert "contact due" in json.dumps(mine["blocks"])
    stats = command(baton, "stats", "U0CEO").json()
    assert "handed over 1 lead, 1 qualified (100% met the definition)" in json.dumps(
        stats["blocks"]
    )
    history = command(baton, f"history {lead_id}", "U0MKTG1").json()
    assert history["response_type"] == "ephemeral"
    said = json.dumps(history["blocks"])
    assert said.index("*handed over*") < said.index("<@U0SELLER1>  *claimed*")
    assert "No lead has" in json.dumps(command(baton, "history x@y.dk", "U0CEO").json())
    refused = command(baton, "history mette@nordlys.dk", "U0STRANGER").json()
    assert "may read a lead's history" in json.dumps(refused)
    agreement = command(baton, "agreement", "U0MKTG1").json()
    assert "claim a lead within 1h" in json.dumps(agreement["blocks"])
    unknown = command(baton, "frobnicate", "U0MKTG1").json()
    assert "don't know" in json.dumps(unknown["blocks"])
    assert "/baton mine" in json.dumps(command(baton, "", "U0MKTG1").json()["blocks"])


def home_opened(baton, user: str, event_id: str):
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0TEAM",
            "api_app_id": "A0BATON",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"},
        }
    )
    headers = {**slack_headers(body), "Content-Type": "application/json"}
    return baton.http.post("/slack/events", content=body, headers=headers)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("U0SELLER1", "Your leads"),
        ("U0MANAGER", "The team"),
        ("U0CEO", "This week"),
        ("U0MKTG1", "Handed over this month"),
        ("U0STRANGER", "not named in the agreement"),
    ],
)
def test_app_home_for_each_role(baton, slack, user, expected):
    for number in range(3):
        baton.hand_over({**GOOD_LEAD, "email": f"l{number}@nordlys.dk"})
    assert home_opened(baton, user, f"Ev-{user}").status_code == 200
    view = slack.wait_for("views.publish")[0]
    assert view.params["user_id"] == user
    blocks = view.json("view")["blocks"]
    assert len(blocks) <= 100
    assert expected in json.dumps(blocks)


def test_a_retried_event_is_handled_once(baton, slack):
    home_opened(baton, "U0SELLER1", "Ev-same")
    slack.wait_for("views.publish")
    assert home_opened(baton, "U0SELLER1", "Ev-same").status_code == 200
    time.sleep(0.5)
    assert len(slack.calls_to("views.publish")) == 1


def test_app_home_stays_within_100_blocks_with_many_leads(ctx):
    from bot.overview import home
    from bot.slack.render import Renderer

    for number in range(120):
        lead = intake.hand_over(
            ctx, LeadIn.model_validate({**GOOD_LEAD, "email": f"n{number}@x.dk"}), by="api"
        ).lead
        if number % 2:
            ownership.claim(ctx, lead_id=lead.id, user="U0MANAGER")
    view = Renderer(ctx.agreement).view("home", **home(ctx, "U0MANAGER"))
    assert len(view["blocks"]) <= 100
    assert "more" in json.dumps(view["blocks"])
    assert isinstance(date.today(), date)
