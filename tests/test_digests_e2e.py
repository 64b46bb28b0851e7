"""Digests end to end: the real app, the real courier and the fake Slack, with a claim clock
of seconds."""

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.actions import ActionId, BlockId, ViewId
from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.demo.slack_standin import FakeSlack
from storage.db import transaction
from storage.models import Deadline, Digest, DigestItem, Lead
from tests.support import AGREEMENT, Baton, block_action, eventually, lead, view_submission

SECONDS = (
    AGREEMENT.replace("claim_within: 1h", "claim_within: 3s")
    .replace("remind_before: 30m", "remind_before: 3s")
    .replace("after: 2h", "after: 1h")
)


@pytest.fixture
def agreement() -> Agreement:
    return parse_agreement(SECONDS)


def named_in(message: dict) -> set[str]:
    """The leads a message names, by the names these tests give them."""
    text = json.dumps(message.get("blocks", [])) + message.get("text", "")
    return {f"Storm {n:03d}" for n in range(200) if f"Storm {n:03d}" in text}


def hand_over_all(baton: Baton, count: int) -> list[str]:
    return [
        baton.hand_over(lead(email=f"storm{n}@nordlys.dk", name=f"Storm {n:03d}")).json()["id"]
        for n in range(count)
    ]


def manager_sees(slack: FakeSlack, wanted: set[str]) -> bool:
    seen: set[str] = set()
    for message in slack.messages(slack.dm_channel("U0MANAGER")):
        seen |= named_in(message)
    return wanted <= seen


def test_a_storm_reaches_the_manager_as_one_message_kept_up_to_date(baton: Baton, slack: FakeSlack):
    hand_over_all(baton, 12)
    wanted = {f"Storm {n:03d}" for n in range(12)}
    assert eventually(lambda: manager_sees(slack, wanted), timeout=30)
    time.sleep(1.5)  # long enough for a message too many to show up, if there were one
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "U0MANAGER"]
    assert 1 <= len(posts) <= 2  # the hand-overs may straddle a minute: two messages then
    messages = slack.messages(slack.dm_channel("U0MANAGER"))
    assert len(messages) == len(posts)
    every = [name for message in messages for name in named_in(message)]
    assert sorted(every) == sorted(wanted)  # each lead named once, in one message
    assert slack.calls_to("chat.update", include_failed=True)  # kept up to date in place


def digest_text(slack: FakeSlack) -> str:
    return json.dumps(slack.messages(slack.dm_channel("U0MANAGER")), ensure_ascii=False)


def overflow(user: str, choice: str, channel: str) -> dict:
    payload = block_action(user=user, action_id=ActionId.DIGEST, value="", channel=channel)
    payload["actions"][0] = {
        "type": "overflow",
        "action_id": ActionId.DIGEST.value,
        "block_id": "row",
        "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": choice},
        "action_ts": str(time.time()),
    }
    return payload


def menu_of(slack: FakeSlack, lead_name: str) -> dict[str, str]:
    """The options of the lead's menu in the manager's digest, by their text."""
    for message in reversed(slack.messages(slack.dm_channel("U0MANAGER"))):
        for block in message.get("blocks", []):
            accessory = block.get("accessory") or {}
            if lead_name in json.dumps(block) and accessory.get("type") == "overflow":
                return {o["text"]["text"]: o["value"] for o in accessory["options"]}
    raise AssertionError(f"no menu for {lead_name} in the manager's digest")


def test_the_managers_actions_in_a_digest_work_through_the_app(baton: Baton, slack: FakeSlack):
    ids = hand_over_all(baton, 3)
    wanted = {f"Storm {n:03d}" for n in range(3)}
    assert eventually(lambda: manager_sees(slack, wanted), timeout=30)
    assert eventually(
        lambda: "Reassign…" in json.dumps(slack.messages("D0MANAGER"), ensure_ascii=False),
        timeout=10,
    )
    channel = slack.dm_channel("U0MANAGER")

    # Reassign… opens the assign modal for that lead; submitting it gives the lead a seller
    baton.interact(overflow("U0MANAGER", menu_of(slack, "Storm 001")["Reassign…"], channel))
    view = slack.wait_for("views.open")[0].json("view")
    assert view["callback_id"] == ViewId.ASSIGN and view["private_metadata"] == ids[1]
    values = {BlockId.ASSIGNEE: {"user": {"type": "users_select", "selected_user": "U0SELLER2"}}}
    baton.interact(
        view_submission(
            user="U0MANAGER", callback_id=ViewId.ASSIGN, private_metadata=ids[1], values=values
        )
    )

    # Extend once… opens the extend modal; with a reason, the clock gets one more window
    baton.interact(overflow("U0MANAGER", menu_of(slack, "Storm 002")["Extend once…"], channel))
    view = slack.wait_for("views.open", 2)[-1].json("view")
    assert view["callback_id"] == ViewId.EXTEND
    assert view["private_metadata"] == f"{ids[2]}:claim"
    values = {BlockId.REASON: {"text": {"type": "plain_text_input", "value": "Trade fair"}}}
    baton.interact(
        view_submission(
            user="U0MANAGER",
            callback_id=ViewId.EXTEND,
            private_metadata=f"{ids[2]}:claim",
            values=values,
        )
    )

    assert eventually(lambda: "claimed by <@U0SELLER2>" in digest_text(slack), timeout=15)
    assert eventually(lambda: "extended to" in digest_text(slack), timeout=15)
    with baton.runtime.ctx.sessions() as session:
        assert session.get(Lead, ids[1]).owner == "U0SELLER2"
        extended = session.exec(
            select(Deadline).where(Deadline.lead_id == ids[2], Deadline.kind == "claim")
        ).one()
    assert extended.extended_at is not None


def test_a_seller_cannot_use_the_managers_menu(baton: Baton, slack: FakeSlack):
    ids = hand_over_all(baton, 2)
    assert eventually(lambda: manager_sees(slack, {"Storm 000", "Storm 001"}), timeout=30)
    assert eventually(
        lambda: "Reassign…" in json.dumps(slack.messages("D0MANAGER"), ensure_ascii=False),
        timeout=10,
    )
    value = menu_of(slack, "Storm 000")["Reassign…"]
    baton.interact(overflow("U0SELLER1", value, "D0SELLER1"))
    refusal = slack.wait_for("chat.postEphemeral")[0]
    assert "Only the sales manager" in refusal.params["text"]
    assert not slack.calls_to("views.open")
    with baton.runtime.ctx.sessions() as session:
        assert session.get(Lead, ids[0]).owner is None


def test_a_digest_whose_post_was_taken_but_its_answer_lost_is_found_not_posted_again(
    baton: Baton, slack: FakeSlack
):
    """Slack took the digest, the answer never came back, and another lead joined meanwhile:
    the retry finds the message in the DM by its metadata and records it (the manager has one
    message), then updates it in place to name the lead that joined."""
    baton.runtime.courier.backoff = 1.0  # the retry comes a second or more later
    fresh_minute()  # both leads fall due in one minute, so they share one digest
    [first] = hand_over_all(baton, 1)
    slack.wait_for("chat.postMessage", where=lambda c: c.params["channel"] == "C0SALES")
    slack.disconnect("chat.postMessage", after_accepting=True)  # the digest's post
    slack.wait_for("chat.postMessage", include_failed=True, where=to_manager)
    second = baton.hand_over(lead(email="storm1@nordlys.dk", name="Storm 001")).json()["id"]
    assert eventually(lambda: clock_of(baton, second) is not None)  # its card is out
    with transaction(baton.runtime.ctx.sessions) as session:  # it falls due now, too
        session.execute(
            update(Deadline)
            .where(col(Deadline.lead_id) == second, Deadline.kind == "claim")
            .values(due_at=datetime.now(UTC), next_at=datetime.now(UTC))
        )
    baton.runtime.wake()
    assert eventually(lambda: manager_sees(slack, {"Storm 000", "Storm 001"}), timeout=30)

    def digest() -> Digest:
        with baton.runtime.ctx.sessions() as session:
            return session.exec(select(Digest)).one()

    assert eventually(lambda: digest().message_id is not None, timeout=15)
    messages = slack.messages(slack.dm_channel("U0MANAGER"))
    assert [m["ts"] for m in messages] == [digest().message_id]  # in Slack once, and found there
    posts = slack.calls_to("chat.postMessage", include_failed=True)
    assert [c.answered for c in posts if to_manager(c)] == ["dropped"]
    assert "conversations.history" in [c.method for c in slack.calls]
    with baton.runtime.ctx.sessions() as session:
        named = session.exec(select(DigestItem.lead_id)).all()
    assert sorted(named) == sorted([first, second])


def fresh_minute() -> None:
    """Start at the top of a minute when less than half of this one is left: a digest
    gathers the notices of one minute (`bot.digests.BUCKET`), and a test of one digest must
    not straddle two."""
    second = datetime.now(UTC).second
    if second >= 30:
        time.sleep(60.5 - second)


def clock_of(baton: Baton, lead_id: str) -> Deadline | None:
    """The lead's claim clock, once its card is in the channel and the clock has started."""
    with baton.runtime.ctx.sessions() as session:
        return session.exec(
            select(Deadline).where(Deadline.lead_id == lead_id, Deadline.kind == "claim")
        ).first()


def to_manager(call) -> bool:
    return call.params.get("channel") == "U0MANAGER"
