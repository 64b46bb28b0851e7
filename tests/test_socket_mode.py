"""Socket Mode: the same listeners over a WebSocket that Baton opens to Slack."""

import hashlib
import hmac
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.sync.server import ServerConnection, serve

from bot.actions import ActionId
from bot.service.runtime import build
from bot.service.settings import SettingsError
from bot.slack.app import connect_socket_mode, socket_mode
from storage import leads
from tests.support import (
    AGREEMENT,
    GOOD_LEAD,
    INTAKE_TOKEN,
    SIGNING_SECRET,
    block_action,
    slack_headers,
)
from tests.support import serve as serve_app


class SocketSlack:
    """Slack's side of Socket Mode: it pushes envelopes and waits for Baton's acks."""

    def __init__(self) -> None:
        self.outgoing: queue.Queue[dict] = queue.Queue()
        self.acks: queue.Queue[dict] = queue.Queue()
        self.server = serve(self._session, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _session(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1}))
        while True:
            try:
                envelope = self.outgoing.get(timeout=0.1)
            except queue.Empty:
                envelope = None
            if envelope is not None:
                connection.send(json.dumps(envelope))
            try:
                self.acks.put(json.loads(connection.recv(timeout=0.1)))
            except TimeoutError:
                continue
            except Exception:
                return


@pytest.fixture
def socket_slack(slack) -> Iterator[SocketSlack]:
    fake = SocketSlack()
    slack.socket_url = fake.url
    yield fake
    fake.server.shutdown()


@pytest.mark.parametrize("secret", [SIGNING_SECRET, None], ids=["with-secret", "socket-only"])
def test_a_claim_arrives_over_socket_mode(settings, agreement, slack, socket_slack, secret):
    settings.slack_app_token = "xapp-1-test"
    settings.slack_signing_secret = secret
    runtime = build(settings, agreement)
    with serve_app(runtime) as baton:
        lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
        slack.wait_for("chat.postMessage")
        handler = socket_mode(runtime)
        handler.connect()
        try:
            payload = block_action(user="U0SELLER1", action_id=ActionId.CLAIM, value=lead_id)
            socket_slack.outgoing.put(
                {
                    "envelope_id": "env-1",
                    "type": "interactive",
                    "payload": payload,
                    "accepts_response_payload": False,
                }
            )
            ack = socket_slack.acks.get(timeout=10)
            assert ack["envelope_id"] == "env-1"
            assert "<@U0SELLER1>" in str(slack.wait_for("chat.update")[0].params["blocks"])
        finally:
            handler.close()
    assert next(
        c.params.get("token") or c.headers.get("authorization")
        for c in slack.calls_to("apps.connections.open")
    ).endswith("xapp-1-test")
    with runtime.ctx.sessions() as session:
        assert leads.get(session=session, lead_id=lead_id).owner == "U0SELLER1"


def test_without_a_signing_secret_slack_events_is_not_served(settings, agreement, slack):
    """Socket Mode alone: nothing could verify an HTTP request, so none is taken, signed or
    not, and a Claim cannot be forged by whoever reaches the port."""
    settings.slack_app_token = "xapp-1-test"
    settings.slack_signing_secret = None
    runtime = build(settings, agreement)
    with serve_app(runtime) as baton:
        lead_id = baton.hand_over(GOOD_LEAD).json()["id"]
        slack.wait_for("chat.postMessage")
        payload = block_action(user="U0SELLER1", action_id=ActionId.CLAIM, value=lead_id)
        body = urlencode({"payload": json.dumps(payload)})
        now = str(int(time.time()))
        empty_key = hmac.new(b"", f"v0:{now}:{body}".encode(), hashlib.sha256).hexdigest()
        signed_with_nothing = {
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": f"v0={empty_key}",
        }
        for headers in ({}, slack_headers(body), signed_with_nothing):
            answer = baton.http.post("/slack/events", content=body, headers=headers)
            assert answer.status_code == 404
        assert baton.http.get("/healthz").status_code == 200
    with runtime.ctx.sessions() as session:
        assert leads.get(session=session, lead_id=lead_id).owner is None
    assert not slack.calls_to("chat.update")


def test_a_token_slack_refuses_is_one_clear_error(settings, agreement, slack):
    settings.slack_app_token = "xapp-1-revoked"
    slack.fail("apps.connections.open", "invalid_auth")
    with pytest.raises(SettingsError, match=r"Slack refused SLACK_APP_TOKEN \(invalid_auth\)"):
        connect_socket_mode(build(settings, agreement))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_baton_run_with_a_bad_app_token_is_one_line_and_exit_2(slack, tmp_path: Path):
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    slack.fail("apps.connections.open", "invalid_auth")
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-1-revoked",
        "SLACK_SIGNING_SECRET": "",
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'baton.db'}",
        "BATON_AGREEMENT": str(agreement),
        "BATON_INTAKE_TOKEN": INTAKE_TOKEN,
        "COLUMNS": "300",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(_free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("baton:")]
    assert len(problems) == 1, done.stderr
    assert "SLACK_APP_TOKEN" in problems[0] and "invalid_auth" in problems[0]
