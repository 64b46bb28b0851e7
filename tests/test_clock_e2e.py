"""The clock in real time, with an agreement of seconds, against the fake Slack.

These tests wait for real deadlines to pass; they assert what arrives and how often,
never how fast (speed is measured in bench/).
"""

import json
import re
import time
from pathlib import Path

import pytest

from bot.actions import ActionId
from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from tests.replicas import hand_over, two_replicas
from tests.support import (
    AGREEMENT,
    GOOD_LEAD,
    card_out_then_stopped,
    eventually,
    lead,
    serve,
)

SECONDS = (
    AGREEMENT.replace("claim_within: 1h", "claim_within: 2s")
    .replace("remind_before: 30m", "remind_before: 1s")
    .replace("after: 2h", "after: 2s")
)


@pytest.fixture
def agreement() -> Agreement:
    return parse_agreement(SECONDS)


def to(user: str):
    return lambda call: call.params.get("channel") == user


def test_the_manager_and_then_the_ceo_hear_of_a_missed_claim_once_each(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    reminder = slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" in c.params)[0]
    assert "<@U0SELLER1>" in reminder.params["text"]
    assert "<!channel>" not in reminder.params["text"]
    manager = slack.wait_for("chat.postMessage", where=to("U0MANAGER"))[0]
    assert "Missed claim deadline" in manager.params["text"]
    assert lead_id in str(manager.params["blocks"])  # the Reassign select names the lead
    ceo = slack.wait_for("chat.postMessage", where=to("U0CEO"))[0]
    assert "Mette Hansen" in ceo.params["text"]
    overdue = slack.wait_for("chat.update", where=lambda c: "overdue" in str(c.params["blocks"]))
    assert overdue
    time.sleep(2.5)  # long enough for a duplicate to show up, if there were one
    assert (
        len(slack.calls_to("chat.postMessage", include_failed=True)) == 4
    )  # card, reminder, 2 DMs
    assert len([c for c in slack.calls if to("U0MANAGER")(c)]) == 1
    assert len([c for c in slack.calls if to("U0CEO")(c)]) == 1


# A lead nobody claims, handed over beside the one under test: its escalations prove that the
# clock ran through the time in which the other lead's did not come.
UNCLAIMED = lead(name="Ulla Uclaimed", email="ulla@nordlys.dk", external_id="control")


def naming(name: str, *users: str):
    """Messages to any of `users` (posted or updated in place) that name the lead `name`."""
    return lambda call: any(to(user)(call) for user in users) and name in json.dumps(call.params)


def test_nothing_escalates_when_the_lead_is_claimed_in_time(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    baton.hand_over(UNCLAIMED)
    slack.wait_for("chat.postMessage")
    baton.click("U0SELLER1", ActionId.CLAIM, lead_id)
    slack.wait_for("chat.update")
    # Past the claim deadline and both escalation steps: the unclaimed lead reached both.
    slack.wait_for("chat.postMessage", where=naming("Ulla Uclaimed", "U0MANAGER"))
    slack.wait_for("chat.postMessage", where=naming("Ulla Uclaimed", "U0CEO"))
    time.sleep(1)  # long enough for a late one to show up, if there were one
    assert not [c for c in slack.calls if naming("Mette Hansen", "U0MANAGER", "U0CEO")(c)]


def test_a_claim_between_the_steps_keeps_the_ceo_out_of_it(baton, slack):
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    baton.hand_over(UNCLAIMED)
    slack.wait_for("chat.postMessage", where=naming("Mette Hansen", "U0MANAGER"))
    baton.click("U0SELLER2", ActionId.CLAIM, lead_id)
    slack.wait_for("chat.postMessage", where=naming("Ulla Uclaimed", "U0CEO"))  # the CEO's step ran
    time.sleep(1)
    assert not [c for c in slack.calls if naming("Mette Hansen", "U0CEO")(c)]


def test_a_deadline_that_passed_while_baton_was_down_escalates_once_after_start(runtime, slack):
    card_out_then_stopped(runtime, GOOD_LEAD)
    time.sleep(2.5)
    with serve(runtime):
        slack.wait_for("chat.postMessage", where=to("U0MANAGER"))
        slack.wait_for("chat.postMessage", where=to("U0CEO"))
        time.sleep(1.5)
    assert len([c for c in slack.calls if to("U0MANAGER")(c)]) == 1
    assert len([c for c in slack.calls if to("U0CEO")(c)]) == 1
    assert not [c for c in slack.calls if "thread_ts" in c.params]  # no reminder after the fact


@pytest.mark.slow
def test_two_baton_processes_on_one_database_tell_each_person_of_each_lead_once(
    database_url, slack, tmp_path: Path
):
    """Ten leads falling due together, two processes: the manager and the CEO each hear of
    every lead exactly once, in a message or two (a digest kept up to date), and each lead's
    unclaimed reminder goes once, in its card's thread or in the channel's digest."""
    names = {f"Twin {number}" for number in range(10)}
    with two_replicas(
        SECONDS, database_url=database_url, slack_url=slack.url, folder=tmp_path
    ) as urls:
        hand_over(urls, [twin(number) for number in range(10)])
        for user in ("U0MANAGER", "U0CEO"):
            assert eventually(lambda u=user: names <= told(slack, u), timeout=30), user
        time.sleep(2)  # long enough for a message too many to show up, if there were one
        for user in ("U0MANAGER", "U0CEO"):
            messages = slack.messages(slack.dm_channel(user))
            named = [name for message in messages for name in named_in(message)]
            assert sorted(named) == sorted(names), user  # each lead once, in one message
            posts = [c for c in slack.calls_to("chat.postMessage") if to(user)(c)]
            assert len(posts) == len(messages) <= 2, user
        posts = [c for c in slack.calls_to("chat.postMessage") if to("C0SALES")(c)]
        cards = [c for c in posts if "thread_ts" not in c.params and "Lead:" in c.params["text"]]
        assert len(cards) == 10
        card_of = {c.response["ts"]: named_in(c.params) for c in cards if c.response}
        reminded = [
            name
            for c in posts
            if "thread_ts" in c.params
            for name in card_of.get(c.params["thread_ts"], [])
        ]
        for message in slack.messages("C0SALES"):
            if "unclaimed" in message["text"]:  # the channel's digest, as it stands now
                reminded += named_in(message)
        assert sorted(reminded) == sorted(names)


def twin(number: int) -> dict:
    return lead(
        external_id=f"twin-{number}", email=f"lead{number}@nordlys.dk", name=f"Twin {number}"
    )


def named_in(message: dict) -> list[str]:
    """The leads a message names (these tests name them Twin 0 … Twin 9), once each."""
    text = json.dumps(message.get("blocks", [])) + str(message.get("text", ""))
    return [f"Twin {n}" for n in range(10) if re.search(rf"Twin {n}\b", text)]


def told(slack, user: str) -> set[str]:
    return {name for m in slack.messages(slack.dm_channel(user)) for name in named_in(m)}
