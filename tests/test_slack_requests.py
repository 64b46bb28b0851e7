"""Every request to /slack/events is verified; verified ones are always acknowledged."""

import json
import time
from urllib.parse import urlencode

import pytest

from bot.actions import ActionId
from storage import leads
from storage.db import make_engine
from tests.support import GOOD_LEAD, block_action, slack_headers


@pytest.fixture
def lead_id(baton, slack) -> str:
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage")
    return lead_id


def _claim_body(lead_id: str) -> str:
    payload = block_action(user="U0SELLER1", action_id=ActionId.CLAIM, value=lead_id)
    return urlencode({"payload": json.dumps(payload)})


def _owner(baton, lead_id):
    with baton.runtime.ctx.sessions() as session:
        return leads.get(session=session, lead_id=lead_id).owner


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
        "wrong secret",
        "ten minutes old",
    ],
    ids=["unsigned", "forged", "wrong-secret", "replayed"],
)
def test_unverified_requests_are_401_and_change_nothing(baton, slack, lead_id, headers):
    body = _claim_body(lead_id)
    if headers == "wrong secret":
        headers = slack_headers(body, secret="not-the-secret")
    elif headers == "ten minutes old":
        headers = slack_headers(body, at=int(time.time()) - 600)
    answer = baton.http.post("/slack/events", content=body, headers=headers)
    assert answer.status_code == 401
    assert _owner(baton, lead_id) is None
    assert not slack.calls_to("chat.update")


def test_a_signed_request_with_a_tampered_body_is_401(baton, lead_id):
    headers = slack_headers(_claim_body(lead_id))
    tampered = _claim_body(lead_id).replace("U0SELLER1", "U0SELLER2")
    assert baton.http.post("/slack/events", content=tampered, headers=headers).status_code == 401
    assert _owner(baton, lead_id) is None


def test_url_verification_is_answered(baton):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    headers = {**slack_headers(body), "Content-Type": "application/json"}
    answer = baton.http.post("/slack/events", content=body, headers=headers)
    assert answer.status_code == 200
    assert "abc123" in answer.text


def test_an_event_nobody_listens_to_is_still_acknowledged(baton):
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0TEAM",
            "api_app_id": "A0BATON",
            "event_id": "Ev1",
            "event_time": int(time.time()),
            "event": {"type": "reaction_added", "user": "U0SELLER1", "reaction": "tada"},
        }
    )
    headers = {**slack_headers(body), "Content-Type": "application/json"}
    assert baton.http.post("/slack/events", content=body, headers=headers).status_code == 200


def test_the_slash_command_answers_with_help(baton):
    body = urlencode(
        {
            "command": "/baton",
            "text": "help",
            "user_id": "U0SELLER1",
            "team_id": "T0TEAM",
            "channel_id": "C0SALES",
            "trigger_id": "t",
            "response_url": "https://hooks.slack.invalid/x",
        }
    )
    answer = baton.http.post("/slack/events", content=body, headers=slack_headers(body))
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert "Claim" in json.dumps(answer.json()["blocks"])


def test_health_and_metrics(baton, slack, lead_id):
    health = baton.http.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["clock"]["running"] is True
    assert health["clock"]["last_sweep_seconds_ago"] < 90
    text = baton.http.get("/metrics").text
    assert 'baton_leads_received_total{qualified="true"}' in text
    assert "baton_leads_posted_total" in text


def test_health_is_503_when_the_database_is_gone(baton, tmp_path):
    unreachable = {
        "sqlite": f"sqlite:///{tmp_path}/missing/dir/baton.db",
        "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2",
    }[baton.runtime.engine.dialect.name]
    working, baton.runtime.engine = baton.runtime.engine, make_engine(unreachable)
    try:
        answer = baton.http.get("/healthz")
    finally:
        baton.runtime.engine = working
    assert answer.status_code == 503
    assert "database unreachable" in answer.json()["problems"][0]
