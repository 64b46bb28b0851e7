"""Helpers for end-to-end tests: the real app on a real port, requests signed like Slack's."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from slack_bolt import App
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import update

from bot import cards, intake
from bot.context import Context
from bot.schemas import LeadIn
from bot.service.runtime import Runtime
from bot.service.settings import Settings
from bot.service.web import create_app
from storage import leads
from storage.db import migrate, transaction
from storage.models import Outbox

SIGNING_SECRET = "test-signing-secret"
INTAKE_TOKEN = "test-intake-token"

AGREEMENT = """
timezone: Europe/Copenhagen
channels: {sales: C0SALES, marketing: C0MKTG}
people:
  sales_manager: U0MANAGER
  ceo: U0CEO
  sales: [U0SELLER1, U0SELLER2, U0SELLER3]
  marketing: [U0MKTG1]
qualified_lead:
  countries: [DK, SE, NO]
  industries: [manufacturing, software]
  min_employees: 50
  max_employees: 5000
  contact_roles: [CIO, "IT manager", "HR manager", CMO]
  buying_stages: [problem_aware, solution_seeking, ready_to_buy]
sla:
  claim_within: 1h
  contact_within: 4h
  feedback_within: 2d
  remind_before: 30m
  escalation:
    - {after: 0m, notify: sales_manager}
    - {after: 2h, notify: ceo}
feedback_reasons: [wrong decision-maker, no relevant need, too early in the buying process]
marketing_commitment: {qualified_leads_per_month: 8}
"""

GOOD_LEAD: dict[str, Any] = {
    "name": "Mette Hansen",
    "email": "mette@nordlys.dk",
    "company": "Nordlys Maskinfabrik A/S",
    "title": "CIO",
    "phone": "+45 32 12 34 56",
    "country": "DK",
    "industry": "manufacturing",
    "employees": 240,
    "revenue": 48000000,
    "profit": 3100000,
    "buying_stage": "solution_seeking",
    "source": "webinar",
    "challenges": "Paper-based quality control across three plants",
    "activity": [
        {"at": "2026-11-20T09:12:00Z", "kind": "webinar", "detail": "Industry 4.0 in practice"},
        {"at": "2026-11-23T14:02:00Z", "kind": "download", "detail": "QC checklist"},
    ],
}


def settings(
    slack_url: str, database_url: str, *, bot_token: str = "xoxb-test", **more: Any
) -> Settings:
    """Settings for Baton on a Slack stand-in at `slack_url`, read from nothing but these
    (no `.env`); `more` adds settings, a CRM's for instance."""
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_url,
        database_url=database_url,
        baton_intake_token=INTAKE_TOKEN,
        _env_file=None,
        **more,
    )


def baton_run(port: int) -> list[str]:
    """The command line of `baton run` on 127.0.0.1:`port`, as a replica is started."""
    return [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)]


def run_bot(
    *args: str, env: Mapping[str, str], cwd: Path | str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` to its end, as an operator runs it; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def lead(**changes: Any) -> dict[str, Any]:
    return {**GOOD_LEAD, **changes}


def show_card(ctx: Context, lead_id: str) -> None:
    """What the courier does once Slack has a lead's card: its clocks start, at `ctx.clock()`."""
    with transaction(ctx.sessions) as session:
        cards.shown(session=session, agreement=ctx.agreement, lead_id=lead_id, at=ctx.clock())


def card_out_then_stopped(runtime: Runtime, body: dict[str, Any]) -> str:
    """A lead handed over whose card reached Slack just before Baton stopped: its clocks run
    from now, and nothing waits in the outbox. Its id."""
    migrate(runtime.engine)
    handed = intake.hand_over(runtime.ctx, LeadIn.model_validate(body), by="api")
    with transaction(runtime.ctx.sessions) as session:
        leads.set_card(
            session=session,
            lead_id=handed.lead.id,
            platform="slack",
            conversation="C0SALES",
            message_id="1.000001",
        )
        session.execute(update(Outbox).values(sent_at=runtime.ctx.clock(), next_attempt_at=None))
    show_card(runtime.ctx, handed.lead.id)
    return handed.lead.id


def slack_headers(body: str, *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict:
    timestamp = str(at if at is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def block_action(
    *,
    user: str,
    action_id: str,
    value: str,
    channel: str = "C0SALES",
    message_ts: str = "1700000000.000100",
    text: str = "button",
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0BATON",
        "token": "legacy-verification-token",
        "trigger_id": f"trigger-{user}-{time.monotonic_ns()}",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "sales"},
        "message": {"ts": message_ts, "text": "lead"},
        "response_url": "https://hooks.slack.invalid/actions/T0TEAM/1/x",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "lead",
                "value": value,
                "text": {"type": "plain_text", "text": text},
                "action_ts": str(time.time()),
            }
        ],
    }


def view_submission(
    *, user: str, callback_id: str, private_metadata: str, values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0BATON",
        "trigger_id": f"trigger-{user}",
        "view": {
            "id": "V0VIEW",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        },
    }


class Baton:
    """The running app as a client sees it."""

    def __init__(self, runtime: Runtime, url: str) -> None:
        self.runtime = runtime
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def hand_over(self, body: dict[str, Any], token: str = INTAKE_TOKEN) -> httpx.Response:
        return self.http.post("/api/leads", json=body, headers={"Authorization": f"Bearer {token}"})

    def interact(self, payload: dict[str, Any], **sign: Any) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.http.post("/slack/events", content=body, headers=slack_headers(body, **sign))

    def click(self, user: str, action_id: str, lead_id: str, **extra: Any) -> httpx.Response:
        return self.interact(block_action(user=user, action_id=action_id, value=lead_id, **extra))


@contextmanager
def serve(runtime: Runtime, bolt: App | None = None) -> Iterator[Baton]:
    """Run the real app under uvicorn on 127.0.0.1 and a free port, in this process."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime, bolt), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    # Generous: a loaded machine may start the app slowly (its migrations wait on a lock).
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True  # an app given up on must not go on starting
            thread.join(timeout=20)
            raise RuntimeError("the app did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    baton = Baton(runtime, f"http://127.0.0.1:{port}")
    try:
        yield baton
    finally:
        baton.http.close()
        server.should_exit = True
        thread.join(timeout=20)


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `check()` is truthy, for effects that land in the database, not in Slack.

    A click is answered before its work is done, so what it changes is waited for, not read
    at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)
