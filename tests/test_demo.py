"""`baton demo`'s parts: its clock, its sample leads, and Slack's requests as it builds them,
sent to the real app (the browser test drives the whole of it)."""

import json
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.agreement_file import load_agreement
from bot.demo import slack_standin
from bot.demo.baton import _weekly_on_demo_time
from bot.demo.clock import DemoClock, opening_after
from bot.demo.page import create_page
from bot.demo.payloads import Slack
from bot.demo.run import AGREEMENT
from bot.demo.samples import sample_leads
from bot.demo.slack_standin import FakeSlack
from bot.qualification import qualify
from bot.schemas import LeadIn
from bot.service.cli import cli
from bot.service.runtime import build
from bot.service.settings import Settings
from storage import leads as stored
from tests.support import SIGNING_SECRET, Baton, eventually, lead

EXAMPLE = load_agreement(AGREEMENT)
COPENHAGEN = EXAMPLE.tz


def test_the_example_agreement_ships_inside_the_package() -> None:
    root = Path(__file__).resolve().parent.parent / "agreement.example.yml"
    assert AGREEMENT.is_relative_to(Path(__file__).resolve().parent.parent / "bot")
    assert root.read_text() == AGREEMENT.read_text()


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Sunday morning: Monday's opening.
        (datetime(2026, 11, 29, 9, 0), datetime(2026, 11, 30, 8, 0)),
        # Tuesday before opening: that morning.
        (datetime(2026, 12, 1, 6, 30), datetime(2026, 12, 1, 8, 0)),
        # Tuesday during business hours: a whole day ahead, Wednesday's opening.
        (datetime(2026, 12, 1, 10, 0), datetime(2026, 12, 2, 8, 0)),
        # Christmas: the office is closed on the 24th, the 25th and 26th are holidays.
        (datetime(2026, 12, 23, 12, 0), datetime(2026, 12, 28, 8, 0)),
    ],
)
def test_the_demo_starts_when_the_office_next_opens(now: datetime, opens: datetime) -> None:
    at = now.replace(tzinfo=COPENHAGEN)
    assert opening_after(EXAMPLE, at) == opens.replace(tzinfo=COPENHAGEN)


def test_the_demo_clock_runs_speed_times_as_fast() -> None:
    start = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    clock = DemoClock(start=start, since=time.time() - 10, speed=60)
    gone = clock.now() - start
    assert timedelta(minutes=10) <= gone < timedelta(minutes=11)
    assert clock.epoch() == pytest.approx(clock.now().timestamp(), abs=1)


def test_the_sample_leads_are_valid_and_some_are_not_qualified() -> None:
    bodies = sample_leads(datetime(2026, 11, 30, 7, 0, tzinfo=UTC))
    assert len(bodies) == 20
    assert len({body["external_id"] for body in bodies}) == 20
    verdicts = [qualify(LeadIn(**body), EXAMPLE.qualified_lead) for body in bodies]
    qualified = [v for v in verdicts if v.qualified]
    assert 10 <= len(qualified) < 20
    assert {body["country"] for body in bodies} >= {"DK", "SE", "NO"}
    assert all(body["activity"] for body in bodies)


def test_a_click_built_by_the_demo_is_taken_as_slacks(baton: Baton, slack: FakeSlack) -> None:
    created = baton.hand_over(lead()).json()
    card = slack.wait_for("chat.postMessage")[0]
    demo = Slack(baton.url, SIGNING_SECRET, slack)
    claim = {
        "type": "button",
        "action_id": "baton.claim",
        "block_id": "lead",
        "value": created["id"],
        "text": {"type": "plain_text", "text": "Claim"},
    }
    answer = demo.block_action("U0SELLER1", claim, channel="C0SALES", ts=card.response["ts"])
    assert answer.status == 200

    def owner() -> str | None:
        with baton.runtime.ctx.sessions() as session:
            return stored.get(session=session, lead_id=created["id"]).owner

    assert eventually(lambda: owner() == "U0SELLER1")


def test_a_modal_opens_on_the_demos_trigger_and_submits(baton: Baton, slack: FakeSlack) -> None:
    created = baton.hand_over(lead()).json()
    card = slack.wait_for("chat.postMessage")[0]
    demo = Slack(baton.url, SIGNING_SECRET, slack)
    button = {"type": "button", "block_id": "lead", "value": created["id"]}
    ts = card.response["ts"]
    demo.block_action("U0SELLER1", {**button, "action_id": "baton.claim"}, channel="C0SALES", ts=ts)
    eventually(lambda: slack.calls_to("chat.update"))
    demo.block_action(
        "U0SELLER1", {**button, "action_id": "baton.give_feedback"}, channel="C0SALES", ts=ts
    )
    modal = slack.snapshot("U0SELLER1")["modal"]
    assert modal["title"]["text"] == "Give feedback"
    nothing_chosen = demo.view_submission("U0SELLER1", modal["id"], {})
    assert nothing_chosen.json()["response_action"] == "errors"
    rejected = {
        "outcome": {"value": {"type": "radio_buttons", "selected_option": {"value": "rejected"}}},
        "reason": {
            "value": {"type": "static_select", "selected_option": {"value": "no_relevant_need"}}
        },
    }
    assert demo.view_submission("U0SELLER1", modal["id"], rejected).status == 200
    slack.wait_for("chat.postMessage", where=lambda c: c.params.get("channel") == "C0MKTG")


def test_a_slash_command_and_app_home_as_the_demo_sends_them(
    baton: Baton, slack: FakeSlack
) -> None:
    demo = Slack(baton.url, SIGNING_SECRET, slack)
    stats = demo.slash_command("U0CEO", "C0SALES", "stats")
    assert stats.status == 200
    assert "This week" in json.dumps(stats.json())
    assert demo.home_opened("U0MANAGER").status == 200
    slack.wait_for("views.publish")
    assert slack.snapshot("U0MANAGER")["home"]["type"] == "home"


def test_a_trigger_works_once_and_for_three_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSlack(strict=True) as fake:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        client = WebClient(token="xoxb-demo", base_url=fake.url)
        view = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
        trigger = fake.issue_trigger("U0SELLER1")
        assert re.fullmatch(r"\d+\.\d{9}\.[0-9a-f]{20}", trigger)
        opened = client.views_open(trigger_id=trigger, view=view)
        assert re.fullmatch(r"V[A-Z0-9]{10}", opened["view"]["id"])
        assert fake.snapshot("U0SELLER1")["modal"]["id"] == opened["view"]["id"]
        for used, error in [
            (trigger, "exchanged_trigger_id"),
            ("12345.67890.abcdef", "invalid_trigger_id"),
        ]:
            with pytest.raises(SlackApiError) as refused:
                client.views_open(trigger_id=used, view=view)
            assert refused.value.response["error"] == error
        monkeypatch.setattr(slack_standin.views, "TRIGGER_LIFETIME", 0.0)
        late = fake.issue_trigger("U0SELLER1")
        with pytest.raises(SlackApiError) as expired:
            client.views_open(trigger_id=late, view=view)
        assert expired.value.response["error"] == "expired_trigger_id"


def test_the_stand_ins_ts_follow_its_clock_and_ephemerals_reach_one_person() -> None:
    with FakeSlack(clock=lambda: 1_800_000_000.25) as fake:
        from slack_sdk import WebClient

        client = WebClient(token="xoxb-demo", base_url=fake.url)
        posted = client.chat_postMessage(channel="C0SALES", text="hello")
        assert posted["ts"].startswith("1800000000.25")
        before = fake.version
        client.chat_postEphemeral(channel="C0SALES", user="U0SELLER1", text="only you")
        assert fake.version > before
        assert [m["text"] for m in fake.snapshot("U0SELLER1")["ephemeral"]] == ["only you"]
        assert fake.snapshot("U0SELLER2")["ephemeral"] == []


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--no-browser", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} is in use" in result.output


def test_the_scorecard_goes_out_when_the_demos_week_turns_with_its_chart(
    settings: Settings, slack: FakeSlack
) -> None:
    monday = datetime(2026, 11, 30, 7, 59, 59, tzinfo=UTC).astimezone(COPENHAGEN)
    monday = monday.replace(hour=7, minute=59, second=59)  # a second before "mon 08:00"
    clock = DemoClock(start=monday.astimezone(UTC), since=time.time(), speed=1)
    runtime = build(settings, EXAMPLE, clock=clock.now)
    runtime.start()
    try:
        _weekly_on_demo_time(runtime, clock)
        # The example agreement's marketing_shortfall tells the channel too, at start; the
        # scorecard is the other message.
        (card,) = slack.wait_for(  # its chart drawn first: give a loaded machine time
            "chat.postMessage",
            where=lambda c: (
                c.params.get("channel") == "C0MKTG"
                and "behind its commitment" not in c.params["text"]
            ),
            timeout=60,
        )
        assert "week" in card.params["text"].lower()
        (image,) = [block for block in card.json("blocks") if block["type"] == "image"]
        page = create_page(
            agreement=EXAMPLE,
            standin=slack,
            slack=Slack(
                baton_url="http://127.0.0.1:9", signing_secret=SIGNING_SECRET, standin=slack
            ),
            clock=clock,
            intake_token="unused",
        )
        with TestClient(page) as browser:  # the page shows the chart where Slack would
            shown = browser.get(f"/demo/files/{image['slack_file']['id']}")
            assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
            assert shown.content[:8] == b"\x89PNG\r\n\x1a\n"
            assert browser.get("/demo/files/F0NOSUCHFILE").status_code == 404
            assert "slack_file" in browser.get("/static/demo.js").text
    finally:
        runtime.stop()
        runtime.engine.dispose()
