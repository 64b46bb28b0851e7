"""Lead card buttons through signed requests to the real app, answered by a fake Slack."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bot.actions import ActionId, BlockId, ViewId
from bot.slack.app import slack_app
from handlers.actions import acknowledged
from storage import leads
from tests.support import GOOD_LEAD, block_action, eventually, serve, view_submission


def handed_over(baton, slack) -> str:
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    return lead_id


def stored(baton, lead_id):
    with baton.runtime.ctx.sessions() as session:
        return leads.get(session=session, lead_id=lead_id)


def ephemeral_to(slack, user: str) -> str:
    call = slack.wait_for("chat.postEphemeral", where=lambda c: c.params["user"] == user)[0]
    return call.params["text"]


def test_a_seller_claims_and_the_card_shows_the_owner(baton, slack):
    lead_id = handed_over(baton, slack)
    assert baton.click("U0SELLER1", ActionId.CLAIM, lead_id).status_code == 200

    update = slack.wait_for("chat.update")[0]
    card = json.dumps(update.json("blocks"))
    assert "<@U0SELLER1>" in card
    assert "Release" in card
    assert "baton.claim" not in card
    assert update.params["ts"] == stored(baton, lead_id).card_message_id
    lead = stored(baton, lead_id)
    assert lead.owner == "U0SELLER1"
    assert lead.stage == "claimed"


def test_the_second_claim_is_told_who_won(baton, slack):
    lead_id = handed_over(baton, slack)
    baton.click("U0SELLER1", ActionId.CLAIM, lead_id)
    slack.wait_for("chat.update")
    baton.click("U0SELLER2", ActionId.CLAIM, lead_id)
    assert "already claimed by <@U0SELLER1>" in ephemeral_to(slack, "U0SELLER2")
    assert stored(baton, lead_id).owner == "U0SELLER1"


def test_ten_sellers_clicking_at_once_give_one_owner(baton, slack):
    lead_id = handed_over(baton, slack)
    sellers = ["U0SELLER1", "U0SELLER2", "U0SELLER3", "U0MANAGER"] * 3
    with ThreadPoolExecutor(len(sellers)) as pool:
        answers = list(pool.map(lambda u: baton.click(u, ActionId.CLAIM, lead_id), sellers[:10]))
    assert all(answer.status_code == 200 for answer in answers)
    owner = eventually(lambda: stored(baton, lead_id).owner)
    assert owner in sellers
    slack.wait_for("chat.postEphemeral", 9 - sellers[:10].count(owner) + 1)
    with baton.runtime.ctx.sessions() as session:
        claims = [e for e in leads.history(session=session, lead_id=lead_id) if e.kind == "claimed"]
    assert len(claims) == 1


def test_someone_outside_sales_cannot_claim(baton, slack):
    lead_id = handed_over(baton, slack)
    baton.click("U0MKTG1", ActionId.CLAIM, lead_id)
    assert "Only the sellers" in ephemeral_to(slack, "U0MKTG1")
    assert stored(baton, lead_id).owner is None
    assert not slack.calls_to("chat.update")


def test_the_owner_releases_the_lead_back_to_the_channel(baton, slack):
    lead_id = handed_over(baton, slack)
    baton.click("U0SELLER1", ActionId.CLAIM, lead_id)
    slack.wait_for("chat.update")
    baton.click("U0SELLER2", ActionId.RELEASE, lead_id)
    assert "Only the lead's owner or the sales manager" in ephemeral_to(slack, "U0SELLER2")

    baton.click("U0SELLER1", ActionId.RELEASE, lead_id)
    update = slack.wait_for("chat.update", 2)[-1]
    assert "baton.claim" in json.dumps(update.json("blocks"))
    reply = slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" in c.params)[0]
    assert "released" in reply.params["text"]
    assert stored(baton, lead_id).owner is None


def test_only_the_sales_manager_opens_the_assign_picker(baton, slack):
    lead_id = handed_over(baton, slack)
    baton.click("U0SELLER1", ActionId.ASSIGN, lead_id)
    assert "Only the sales manager may assign" in ephemeral_to(slack, "U0SELLER1")
    assert not slack.calls_to("views.open")

    baton.click("U0MANAGER", ActionId.ASSIGN, lead_id)
    view = slack.wait_for("views.open")[0].json("view")
    assert view["callback_id"] == ViewId.ASSIGN
    assert view["private_metadata"] == lead_id
    assert "users_select" in json.dumps(view["blocks"])


def assign(baton, lead_id: str, to: str, by: str = "U0MANAGER"):
    values = {BlockId.ASSIGNEE: {"user": {"type": "users_select", "selected_user": to}}}
    payload = view_submission(
        user=by, callback_id=ViewId.ASSIGN, private_metadata=lead_id, values=values
    )
    return baton.interact(payload)


def test_the_manager_assigns_a_seller_who_gets_a_dm(baton, slack):
    lead_id = handed_over(baton, slack)
    answer = assign(baton, lead_id, "U0SELLER2")
    assert answer.status_code == 200
    assert not answer.content or "errors" not in answer.json()
    slack.wait_for("chat.update")
    dm = slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "U0SELLER2")
    assert "assigned you" in dm[0].params["text"]
    assert stored(baton, lead_id).owner == "U0SELLER2"


def test_assigning_to_someone_outside_sales_answers_inside_the_modal(baton, slack):
    lead_id = handed_over(baton, slack)
    answer = assign(baton, lead_id, "U0MKTG1")
    assert answer.json()["response_action"] == "errors"
    assert "U0MKTG1" in answer.json()["errors"][BlockId.ASSIGNEE]
    assert stored(baton, lead_id).owner is None


def test_a_seller_cannot_assign_by_forging_the_modal(baton, slack):
    lead_id = handed_over(baton, slack)
    answer = assign(baton, lead_id, "U0SELLER2", by="U0SELLER1")
    assert answer.json()["response_action"] == "errors"
    assert stored(baton, lead_id).owner is None


def test_the_owner_marks_the_lead_contacted(baton, slack):
    lead_id = handed_over(baton, slack)
    baton.click("U0SELLER1", ActionId.MARK_CONTACTED, lead_id)
    assert "Only the lead's owner" in ephemeral_to(slack, "U0SELLER1")

    baton.click("U0SELLER1", ActionId.CLAIM, lead_id)
    slack.wait_for("chat.update")
    baton.click("U0SELLER1", ActionId.MARK_CONTACTED, lead_id)
    card = json.dumps(slack.wait_for("chat.update", 2)[-1].json("blocks"))
    assert "contacted" in card
    assert "feedback by" in card
    assert stored(baton, lead_id).stage == "contacted"


def test_a_click_on_a_lead_that_does_not_exist_is_explained(baton, slack):
    baton.click("U0SELLER1", ActionId.CLAIM, "f" * 32)
    assert "no longer exists" in ephemeral_to(slack, "U0SELLER1")


def test_slow_listeners_overlap_instead_of_queueing(runtime, slack):
    """Two clicks that each wait for the other can only both finish if they run side by side."""
    bolt = slack_app(runtime)
    meeting = threading.Barrier(2, timeout=10)
    met: list[bool] = []

    @bolt.action("test.slow")
    def slow(ack):
        try:
            meeting.wait()
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        ack()

    with serve(runtime, bolt) as baton, ThreadPoolExecutor(2) as pool:
        payloads = [block_action(user=u, action_id="test.slow", value="x") for u in ("U1", "U2")]
        answers = list(pool.map(baton.interact, payloads))
    assert [a.status_code for a in answers] == [200, 200]
    assert met == [True, True]


def _slow_click(runtime, work):
    """Bolt with one more button, `test.slow`, whose work is `work`, acknowledged at once."""
    bolt = slack_app(runtime)
    bolt.action("test.slow")(acknowledged(work))
    return bolt


SLOW_CLICK = block_action(user="U1", action_id="test.slow", value="x")


def test_a_click_is_answered_before_its_work_is_done(runtime, slack):
    """Slack gets its answer at once; the claim, the card and the ephemerals come after."""
    release = threading.Event()
    done: list[str] = []

    def slow(body, baton):
        release.wait(10)
        done.append(body["user"]["id"])

    with serve(runtime, _slow_click(runtime, slow)) as baton:
        answer = baton.interact(SLOW_CLICK)
        assert answer.status_code == 200
        assert done == []
        release.set()
        assert eventually(lambda: done) == ["U1"]


def test_work_acknowledged_to_slack_is_finished_before_baton_stops(runtime, slack):
    done: list[str] = []

    def slow(body, baton):
        time.sleep(0.3)
        done.append(body["user"]["id"])

    with serve(runtime, _slow_click(runtime, slow)) as baton:
        baton.interact(SLOW_CLICK)
    assert done == ["U1"]
