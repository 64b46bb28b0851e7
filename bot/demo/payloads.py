"""What Slack sends Baton when a person acts, built and signed as Slack builds and signs it.

The demo's page says what a person did (pressed a button on a message, submitted a modal,
typed `/baton stats`, opened App Home); this module turns that into the request Slack would
make to the Request URL: the same payload shapes, a trigger id from the stand-in that
expires as Slack's does, and `X-Slack-Signature` over the body with the signing secret.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.demo.slack_standin import APP_ID, TEAM_ID, FakeSlack

TEAM = {"id": TEAM_ID, "domain": "baton-demo"}


@dataclass(frozen=True)
class Answer:
    """Baton's HTTP answer, as Slack would receive it."""

    status: int
    body: bytes

    def json(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.body) if self.body else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST and return the answer whatever its status (a 4xx is an answer, not an error)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())


@dataclass
class Slack:
    """Slack's side of the conversation with one Baton: what it signs with and where it posts."""

    baton_url: str
    signing_secret: str
    standin: FakeSlack

    def _send(self, body: str, content_type: str) -> Answer:
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=timestamp, body=body
        )
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        return post(f"{self.baton_url}/slack/events", body.encode(), headers)

    def _interaction(self, payload: dict[str, Any]) -> Answer:
        body = urlencode({"payload": json.dumps(payload)})
        return self._send(body, "application/x-www-form-urlencoded")

    @staticmethod
    def _user(user: str) -> dict[str, Any]:
        return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID}

    def block_action(
        self,
        user: str,
        action: dict[str, Any],
        *,
        channel: str | None,
        ts: str | None,
        view_id: str | None = None,
        ephemeral: bool = False,
    ) -> Answer:
        """A button pressed or an option chosen, on a message or in a view (App Home, modal)."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": TEAM,
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "trigger_id": self.standin.issue_trigger(user),
            "is_enterprise_install": False,
            "enterprise": None,
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        }
        if view_id:
            view = self.standin.view(view_id) or {"id": view_id}
            view.pop("user", None)
            payload |= {"container": {"type": "view", "view_id": view_id}, "view": view}
        else:
            assert channel and ts
            message = next((m for m in self.standin.messages(channel) if m["ts"] == ts), {"ts": ts})
            payload |= {
                "container": {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": ephemeral,
                },
                "channel": {"id": channel, "name": channel.lower()},
                "state": {"values": {}},
                "response_url": self.standin.response_url(f"{user}/{secrets.token_hex(8)}"),
            }
            if not ephemeral:
                payload["message"] = message
        return self._interaction(payload)

    def view_submission(self, user: str, view_id: str, values: dict[str, Any]) -> Answer:
        """A modal submitted with what was entered, in Slack's `state.values` shape."""
        view = self.standin.view(view_id) or {"id": view_id}
        view.pop("user", None)
        view["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": TEAM,
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "trigger_id": self.standin.issue_trigger(user),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interaction(payload)

    def slash_command(self, user: str, channel: str, text: str) -> Answer:
        """`/baton <text>` typed in `channel`."""
        body = urlencode(
            {
                "token": "unused-verification-token",
                "team_id": TEAM_ID,
                "team_domain": TEAM["domain"],
                "channel_id": channel,
                "channel_name": channel.lower(),
                "user_id": user,
                "user_name": user.lower(),
                "command": "/baton",
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": self.standin.response_url(f"{user}/{secrets.token_hex(8)}"),
                "trigger_id": self.standin.issue_trigger(user),
            }
        )
        return self._send(body, "application/x-www-form-urlencoded")

    def home_opened(self, user: str) -> Answer:
        """The person opened Baton's App Home tab."""
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.standin.dm_channel(user),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        body = {
            "token": "unused-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
        }
        return self._send(json.dumps(body), "application/json")
