"""Socket Mode: the same listeners over a WebSocket that Baton opens to Slack."""

import json
import queue
import threading
from collections.abc import Iterator

import pytest
from websockets.sync.server import ServerConnection, serve

from bot.app import socket_mode
from bot.ids import ActionId
from bot.runtime import build
from storage import leads
from tests.support import GOOD_LEAD, block_action
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


def test_a_claim_arrives_over_socket_mode(settings, agreement, slack, socket_slack):
    settings.slack_app_token = "xapp-1-test"
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
