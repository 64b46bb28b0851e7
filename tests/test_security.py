"""The security review, one test (or table of tests) per point.

1. Every request to /slack/events is verified, whatever its shape, within a 5-minute window.
2. The intake token is compared in constant time and never logged.
3. Bodies over 1 MB are refused with 413, with or without a Content-Length.
4. No secret reaches a log line, an error message or an HTTP answer.
5. Text from a lead reaches a DM escaped.
6. Who may do what is decided in one table, and that table says what DESIGN.md says.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import io
import json
import logging
import math
import re
import time
from collections.abc import Iterator
from itertools import product
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.routing import APIRoute

from bot import ownership
from bot.actions import ActionId
from bot.agreement import Agreement
from bot.permissions import Action, allowed
from bot.service import logs
from bot.service.body_limit import MAX_BODY, BodyLimit
from bot.service.settings import SettingsError, load_settings
from bot.service.web import create_app
from storage import leads
from tests.support import (
    GOOD_LEAD,
    INTAKE_TOKEN,
    SIGNING_SECRET,
    block_action,
    lead,
    slack_headers,
    view_submission,
)

BOT_TOKEN = "xoxb-test"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, INTAKE_TOKEN)
FORM = "application/x-www-form-urlencoded"


def owner_of(baton, lead_id: str) -> str | None:
    with baton.runtime.ctx.sessions() as session:
        return leads.get(session=session, lead_id=lead_id).owner


@pytest.fixture
def lead_id(baton, slack) -> str:
    lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
    slack.wait_for("chat.postMessage", where=lambda call: call.params["channel"] == "C0SALES")
    return lead_id


# 1. Slack signatures, on every kind of request ---------------------------------------------


def _form(payload: dict[str, Any]) -> tuple[str, str]:
    return urlencode({"payload": json.dumps(payload)}), FORM


def _claim(lead_id: str) -> tuple[str, str]:
    return _form(block_action(user="U0SELLER1", action_id=ActionId.CLAIM, value=lead_id))


def _view(lead_id: str) -> tuple[str, str]:
    values = {"assignee": {"user": {"type": "users_select", "selected_user": "U0SELLER1"}}}
    return _form(
        view_submission(
            user="U0MANAGER",
            callback_id="baton.assign_view",
            private_metadata=lead_id,
            values=values,
        )
    )


def _options(lead_id: str) -> tuple[str, str]:
    """An options load (`block_suggestion`), as Slack sends for an external select."""
    return _form(
        {
            "type": "block_suggestion",
            "user": {"id": "U0SELLER1", "team_id": "T0TEAM"},
            "team": {"id": "T0TEAM", "domain": "test"},
            "api_app_id": "A0BATON",
            "action_id": "baton.pick",
            "block_id": f"pick:{lead_id}",
            "value": "mett",
            "container": {"type": "view", "view_id": "V0VIEW"},
        }
    )


def _command(lead_id: str) -> tuple[str, str]:
    body = {
        "command": "/baton",
        "text": f"lead {lead_id}",
        "user_id": "U0SELLER1",
        "team_id": "T0TEAM",
        "channel_id": "C0SALES",
        "trigger_id": "t",
        "response_url": "https://hooks.slack.invalid/x",
    }
    return urlencode(body), FORM


def _event(lead_id: str) -> tuple[str, str]:
    body = {
        "type": "event_callback",
        "team_id": "T0TEAM",
        "api_app_id": "A0BATON",
        "event_id": f"Ev{lead_id[:8]}{time.monotonic_ns()}",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": "U0SELLER1", "tab": "home"},
    }
    return json.dumps(body), "application/json"


def _challenge(lead_id: str) -> tuple[str, str]:
    body = {"type": "url_verification", "challenge": lead_id, "token": "t"}
    return json.dumps(body), "application/json"


SHAPES = {
    "block_actions": _claim,
    "view_submission": _view,
    "block_suggestion": _options,
    "slash_command": _command,
    "event_callback": _event,
    "url_verification": _challenge,
}


def _signed(body: str, content_type: str, **sign: Any) -> dict[str, str]:
    return {**slack_headers(body, **sign), "Content-Type": content_type}


def _forgeries(body: str, content_type: str) -> dict[str, dict[str, str]]:
    now = time.time()
    return {
        "unsigned": {"Content-Type": content_type},
        "no signature": {
            "X-Slack-Request-Timestamp": str(int(now)),
            "Content-Type": content_type,
        },
        "forged": {
            "X-Slack-Request-Timestamp": str(int(now)),
            "X-Slack-Signature": "v0=" + "0" * 64,
            "Content-Type": content_type,
        },
        "wrong secret": _signed(body, content_type, secret="not-the-secret"),
        "5m01s old": _signed(body, content_type, at=math.floor(now) - 301),
        "5m01s ahead": _signed(body, content_type, at=math.ceil(now) + 301),
        "timestamp not a number": {
            **_signed(body, content_type),
            "X-Slack-Request-Timestamp": "soon",
        },
    }


@pytest.mark.parametrize("shape", SHAPES)
def test_every_kind_of_slack_request_is_verified(baton, slack, lead_id, shape):
    body, content_type = SHAPES[shape](lead_id)
    for name, headers in _forgeries(body, content_type).items():
        answer = baton.http.post("/slack/events", content=body, headers=headers)
        assert answer.status_code == 401, (shape, name, answer.text)
        assert lead_id not in answer.text  # not even the challenge is echoed
    signed = baton.http.post("/slack/events", content=body, headers=_signed(body, content_type))
    assert 200 <= signed.status_code < 300, (shape, signed.text)
    if shape == "url_verification":
        assert lead_id in signed.text


def test_the_replay_window_is_five_minutes(baton, slack, lead_id):
    body, content_type = _claim(lead_id)
    stale = _signed(body, content_type, at=math.floor(time.time()) - 301)
    assert baton.http.post("/slack/events", content=body, headers=stale).status_code == 401
    assert owner_of(baton, lead_id) is None
    assert not slack.calls_to("chat.update")

    fresh_enough = _signed(body, content_type, at=math.ceil(time.time()) - 299)
    assert baton.http.post("/slack/events", content=body, headers=fresh_enough).status_code == 200
    slack.wait_for("chat.update")
    assert owner_of(baton, lead_id) == "U0SELLER1"


def test_an_ssl_check_is_answered_and_smuggles_nothing_in(baton, slack, lead_id):
    """Slack's certificate probe is the one request answered unverified: with an empty 200
    and nothing else. A payload riding along makes it an ordinary request, verified as such."""
    probe = "ssl_check=1&token=x"
    answer = baton.http.post("/slack/events", content=probe, headers={"Content-Type": FORM})
    assert (answer.status_code, answer.text) == (200, "")

    claim, _ = _claim(lead_id)
    smuggled = f"{probe}&{claim}"
    answer = baton.http.post("/slack/events", content=smuggled, headers={"Content-Type": FORM})
    assert answer.status_code == 401
    time.sleep(0.3)
    assert owner_of(baton, lead_id) is None


@pytest.mark.parametrize(
    "body",
    ["payload=not-json", "payload=%7B", "[1, 2]", '"text"', "\ufffd", ""],
    ids=["form-not-json", "form-truncated", "json-list", "json-string", "garbage", "empty"],
)
def test_a_signed_body_that_is_no_slack_request_is_a_4xx(baton, body):
    for content_type in (FORM, "application/json"):
        headers = _signed(body, content_type)
        answer = baton.http.post("/slack/events", content=body.encode(), headers=headers)
        assert answer.status_code < 500, (content_type, answer.text)
        assert "Traceback" not in answer.text


# 2. The intake token ----------------------------------------------------------------------


def _intake_dependency(api) -> Any:
    (route,) = [r for r in api.routes if isinstance(r, APIRoute) and r.path == "/api/leads"]
    (dependency,) = route.dependant.dependencies
    return dependency.call


def test_the_intake_token_is_compared_in_constant_time(runtime, monkeypatch):
    check = _intake_dependency(create_app(runtime))
    source = inspect.getsource(check)
    assert "hmac.compare_digest(" in source
    # no plain comparison of the secret beside it, which would leak its length and prefix
    assert not re.search(r"(given|expected)\S*\s*[!=]=|[!=]=\s*(given|expected)", source)

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    asyncio.run(check(authorization=f"Bearer {INTAKE_TOKEN}"))
    with pytest.raises(Exception) as refused:
        asyncio.run(check(authorization=f"Bearer {INTAKE_TOKEN[:-1]}x"))
    assert getattr(refused.value, "status_code", None) == 401
    assert compared == [
        (INTAKE_TOKEN.encode(), INTAKE_TOKEN.encode()),
        (f"{INTAKE_TOKEN[:-1]}x".encode(), INTAKE_TOKEN.encode()),
    ]
    assert INTAKE_TOKEN not in str(refused.value.detail)


def test_without_a_configured_token_the_intake_refuses_everyone(baton):
    baton.runtime.settings.baton_intake_token = None
    try:
        for header in ("Bearer", "Bearer None", "Bearer null", "Basic Og=="):
            answer = baton.http.post(
                "/api/leads", json=GOOD_LEAD, headers={"Authorization": header}
            )
            assert answer.status_code == 401
    finally:
        baton.runtime.settings.baton_intake_token = INTAKE_TOKEN


# 3. Bodies over 1 MB ------------------------------------------------------------------------


def _chunks(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent with `Transfer-Encoding: chunked`: it has no Content-Length to check."""
    sent = 0
    while sent < size:
        yield b"x" * min(chunk, size - sent)
        sent += chunk


@pytest.mark.parametrize("path", ["/api/leads", "/slack/events"])
def test_a_body_over_one_megabyte_is_413(baton, path):
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}
    declared = baton.http.post(path, content=b"x" * (MAX_BODY + 1), headers=headers)
    assert declared.status_code == 413

    chunked = baton.http.post(path, content=_chunks(MAX_BODY + 1), headers=headers)
    assert chunked.status_code == 413
    huge = baton.http.post(path, content=_chunks(50 * MAX_BODY), headers=headers)
    assert huge.status_code == 413

    at_the_limit = baton.http.post(path, content=_chunks(MAX_BODY), headers=headers)
    assert at_the_limit.status_code not in (413, 500)  # a 4xx about the content instead


def test_the_limit_reads_at_most_one_chunk_past_one_megabyte():
    """The middleware stops reading as soon as the body is over the limit, and the app never
    sees it."""
    pulled = 0
    chunk = 1000
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:
        raise AssertionError("the app was called with an oversized body")

    scope = {"type": "http", "method": "POST", "path": "/api/leads", "headers": []}
    asyncio.run(BodyLimit(app, limit=MAX_BODY)(scope, receive, send))
    assert MAX_BODY < pulled <= MAX_BODY + chunk
    assert sent[0]["status"] == 413


# 4. Secrets in logs, errors and answers ----------------------------------------------------


class _Raw(logging.Handler):
    """Every record as code logged it, before any formatter could mask something."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{text} {vars(record)}")


def test_no_secret_reaches_a_log_an_error_or_an_answer(baton, slack, lead_id):
    written = io.StringIO()
    raw = _Raw()
    root = logging.getLogger()
    level = root.level
    handler = logs.setup(level=logging.DEBUG, stream=written, json_lines=True)
    root.addHandler(raw)
    answers: list[httpx.Response] = []
    try:
        # a hand-over, a refused one, an unsigned Slack request
        answers.append(baton.hand_over(lead(external_id="flow-1", email="flow@nordlys.dk")))
        answers.append(baton.hand_over(GOOD_LEAD, token=INTAKE_TOKEN + "x"))
        answers.append(baton.hand_over(GOOD_LEAD, token=INTAKE_TOKEN.upper()))
        answers.append(baton.http.post("/slack/events", content="payload=%7B%7D"))
        # a claim through a signed request, whose card update Slack refuses
        slack.fail("chat.update", "invalid_auth")
        answers.append(baton.click("U0SELLER1", ActionId.CLAIM, lead_id))
        slack.wait_for("chat.update", include_failed=True)
        # a second claim, whose refusal Slack cannot deliver either
        slack.fail("chat.postEphemeral", "token_revoked")
        answers.append(baton.click("U0SELLER2", ActionId.CLAIM, lead_id))
        slack.wait_for("chat.postEphemeral", include_failed=True)
        # Slack itself down for a while
        slack.server_error("chat.postMessage", times=5)
        answers.append(baton.hand_over(lead(external_id="flow-2", email="flow2@nordlys.dk")))
        slack.wait_for("chat.postMessage", 2, include_failed=True)
        time.sleep(0.5)
        for path in ("/healthz", "/metrics", "/openapi.json", "/nowhere"):
            answers.append(baton.http.get(path))
    finally:
        root.removeHandler(raw)
        root.removeHandler(handler)
        root.setLevel(level)

    log = written.getvalue()
    assert "invalid_auth" in log and "token_revoked" in log  # the failures were logged
    assert any(json.loads(line).get("request_id") for line in log.splitlines())
    for secret in SECRETS:
        assert secret not in log, secret
        assert not [line for line in raw.lines if secret in line], secret
        for answer in answers:
            assert secret not in answer.text, (secret, answer.request.url)
            assert secret not in str(answer.headers), (secret, answer.request.url)


@pytest.mark.parametrize(
    "setting, value",
    [
        ("slack_bot_token", "notaslacktoken-s3cr3t-value"),
        ("slack_app_token", "xoxb-s3cr3t-value-in-the-wrong-place"),
        ("database_url", 12345),
    ],
)
def test_a_wrong_setting_is_named_without_its_value(setting, value, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as error:
        load_settings(slack=False, **{setting: value, "_env_file": None})
    assert setting.upper() in str(error.value) or "DATABASE_URL" in str(error.value)
    assert str(value) not in str(error.value)


def test_log_lines_mask_secrets_that_slip_into_a_message():
    written = io.StringIO()
    handler = logs.setup(
        level=logging.INFO, stream=written, json_lines=True, secrets=[INTAKE_TOKEN]
    )
    try:
        sneaky = logging.getLogger("tests.sneaky")
        sneaky.warning("token %s and header Bearer abc.def", INTAKE_TOKEN)
        try:
            raise RuntimeError(f"failed with {BOT_TOKEN}-1234 and xapp-1-A0-123")
        except RuntimeError:
            sneaky.exception("oops", extra={"header": f"Bearer {INTAKE_TOKEN}"})
    finally:
        logging.getLogger().removeHandler(handler)
    text = written.getvalue()
    assert INTAKE_TOKEN not in text
    assert "xoxb-" not in text and "xapp-" not in text
    assert "abc.def" not in text
    assert text.count(logs.MASK) >= 4


# 5. Escaping, cross-checked on a DM --------------------------------------------------------


def test_lead_text_reaches_a_dm_escaped(baton, slack):
    hostile = lead(
        name="<!channel> Eve <@U0CEO>",
        company="<https://evil.example|Click me> & <!here>",
        title="CIO <!subteam^S123>",
    )
    lead_id = baton.hand_over(hostile).json()["id"]
    slack.wait_for("chat.postMessage", where=lambda call: call.params["channel"] == "C0SALES")

    ownership.assign(baton.runtime.ctx, lead_id=lead_id, by="U0MANAGER", to="U0SELLER2")

    (dm,) = slack.wait_for(
        "chat.postMessage", where=lambda call: call.params["channel"] == "U0SELLER2"
    )
    sent = json.dumps({"text": dm.params["text"], "blocks": dm.json("blocks")})
    assert "&lt;!channel&gt; Eve &lt;@U0CEO&gt;" in sent
    assert "&lt;https://evil.example|Click me&gt; &amp; &lt;!here&gt;" in sent
    for raw in ("<!channel>", "<!here>", "<@U0CEO>", "<https://evil", "<!subteam"):
        assert raw not in sent, raw
    assert "<@U0MANAGER>" in sent  # Baton's own mention still works


# 6. Who may do what --------------------------------------------------------------------------

# DESIGN.md, "Who may do what": people.sales and the sales manager claim; the sales manager
# assigns and reassigns; the owner (or the sales manager) marks contacted, releases and gives
# feedback; anyone else is refused. Marketing (and the sales manager) hand leads over. A
# lead's history is for the people of the agreement, not for a former seller who owns one.
# The owner (or the sales manager) pauses a lead's clock; only the sales manager puts a
# seller back in rotation.
MAY: dict[str, set[str]] = {
    "sales": {"claim", "read_history"},
    "sales_manager": {
        "claim",
        "assign",
        "release",
        "mark_contacted",
        "give_feedback",
        "hand_over",
        "read_history",
        "pause",
        "restore",
    },
    "ceo": {"read_history"},
    "marketing": {"hand_over", "read_history"},
    "owner": {"release", "mark_contacted", "give_feedback", "pause"},
    "stranger": set(),
}
DECIDED = {
    "claim",
    "assign",
    "release",
    "mark_contacted",
    "give_feedback",
    "hand_over",
    "read_history",
    "pause",
    "restore",
}
# One person per role; the owner is a former seller who still owns a lead, so the row shows
# what owning alone allows.
USERS = {
    "sales": "U0SELLER1",
    "sales_manager": "U0MANAGER",
    "ceo": "U0CEO",
    "marketing": "U0MKTG1",
    "owner": "U0FORMER",
    "stranger": "U0STRANGER",
}


def test_the_table_decides_every_action():
    assert {action.value for action in Action} == DECIDED, (
        "a new Action: decide in MAY who may do it, as DESIGN.md says"
    )


@pytest.mark.parametrize("role, action", list(product(USERS, Action)), ids=lambda value: str(value))
def test_who_may_do_what(agreement: Agreement, role: str, action: Action):
    user = USERS[role]
    expected = action.value in MAY[role]
    assert allowed(agreement, user, action, owner="U0FORMER") is expected


def test_being_someone_elses_owner_gives_nothing(agreement: Agreement):
    for action in Action:
        assert not allowed(agreement, "U0STRANGER", action, owner="U0FORMER")
        assert not allowed(agreement, "U0STRANGER", action, owner=None)
