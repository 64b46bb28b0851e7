"""Baton with `platform: teams`, served for real, and activities as Teams sends them: JSON
with a bearer token signed by the fake Bot Framework's keys (`tests.fake_teams`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bot.agreement_file import parse_agreement
from bot.service.addresses import ADDRESSES
from bot.service.runtime import Runtime, build
from bot.service.settings import Settings
from tests.fake_teams import TEAM_ID, TENANT_ID, FakeTeams
from tests.support import AGREEMENT, INTAKE_TOKEN, serve

SALES = "19:5a1b2c3d4e5f40718293a4b5c6d7e8f9@thread.tacv2"
MARKETING = "19:0f1e2d3c4b5a49687766554433221100@thread.tacv2"
MANAGER = "6f1c2a3b-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
CEO = "0c0e0000-0000-4000-8000-00000000000c"
SELLERS = [f"5e11e700-0000-4000-8000-0000000000{n:02d}" for n in range(1, 11)]
MKTG = "3a4b5c6d-0000-4000-8000-00000000000a"
OUTSIDER = "99999999-0000-4000-8000-000000000099"

TEAMS_AGREEMENT = (
    AGREEMENT.replace("channels: {sales: C0SALES, marketing: C0MKTG}", "")
    .replace("  sales_manager: U0MANAGER\n", f"  sales_manager: {MANAGER}\n")
    .replace("  ceo: U0CEO\n", f"  ceo: {CEO}\n")
    .replace("  sales: [U0SELLER1, U0SELLER2, U0SELLER3]\n", f"  sales: [{', '.join(SELLERS)}]\n")
    .replace("  marketing: [U0MKTG1]\n", f"  marketing: [{MKTG}]\n")
    + f'platform: teams\nchannels: {{sales: "{SALES}", marketing: "{MARKETING}"}}\n'
)


def teams_environment(teams: FakeTeams) -> dict[str, str]:
    """The `TEAMS_…` settings of a Baton whose Microsoft is the stand-in (`teams`, or the
    bench's one in a process of its own)."""
    return {
        "TEAMS_APP_ID": teams.app_id,
        "TEAMS_APP_PASSWORD": teams.password,
        "TEAMS_TENANT_ID": TENANT_ID,
        "TEAMS_TOKEN_URL": f"{teams.url}/{TENANT_ID}/oauth2/v2.0/token",
        "TEAMS_OPENID_URL": teams.metadata_url,
        "TEAMS_SERVICE_URL": teams.service_url,
        "TEAMS_GRAPH_URL": f"{teams.url}/graph/v1.0",
    }


def teams_settings(teams: FakeTeams, database_url: str, **more: Any) -> Settings:
    return Settings(
        **{name.lower(): value for name, value in teams_environment(teams).items()},
        slack_api_url="http://127.0.0.1:9/",  # nothing of Slack's is used; nothing listens
        database_url=database_url,
        baton_intake_token=INTAKE_TOKEN,
        _env_file=None,
        **more,
    )


@contextmanager
def teams_baton(
    teams: FakeTeams, database_url: str, agreement_text: str = TEAMS_AGREEMENT
) -> Iterator[TeamsBaton]:
    agreement = parse_agreement(agreement_text, addresses=ADDRESSES)
    runtime = build(teams_settings(teams, database_url), agreement)
    try:
        with serve(runtime) as running:
            yield TeamsBaton(running.runtime, running.url, teams)
    finally:
        runtime.engine.dispose()


class TeamsBaton:
    """The running app as Teams reaches it."""

    def __init__(self, runtime: Runtime, url: str, teams: FakeTeams) -> None:
        self.runtime = runtime
        self.teams = teams
        self.http = httpx.Client(base_url=url, timeout=30)

    def send(self, activity: dict[str, Any], token: str | None = None) -> httpx.Response:
        activity = {
            **activity,
            "serviceUrl": activity.get("serviceUrl") or self.teams.service_url,
            "recipient": {"id": f"28:{self.teams.app_id}", "name": "Baton"},
        }
        token = token if token is not None else self.teams.sign()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post("/api/messages", json=activity, headers=headers)

    def hand_over(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            "/api/leads", json=body, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
        )

    def click(self, user: str, verb: str, lead_id: str) -> httpx.Response:
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": {"value": lead_id}}}
        return self.send(invoke("adaptiveCard/action", value, user=user))

    def fetch(self, user: str, action: str, value: str) -> httpx.Response:
        data = {"msteams": {"type": "task/fetch"}, "action": action, "value": value}
        return self.send(
            invoke("task/fetch", {"data": data, "context": {"theme": "default"}}, user=user)
        )

    def submit(self, user: str, action: str, value: str, **fields: Any) -> httpx.Response:
        data = {"action": action, "value": value, **fields}
        return self.send(
            invoke("task/submit", {"data": data, "context": {"theme": "dark"}}, user=user)
        )


def person(user: str) -> dict[str, Any]:
    return {"id": f"29:1{user.replace('-', '')}", "name": f"Person {user[:4]}", "aadObjectId": user}


def activity(
    kind: str,
    *,
    user: str = SELLERS[0],
    conversation: str = SALES,
    personal: bool = False,
    service_url: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """An activity as Teams posts it to the bot; `service_url` is the fake's unless given."""
    channel_data: dict[str, Any] = {"tenant": {"id": TENANT_ID}}
    if not personal:
        channel_data.update(
            team={"id": SALES, "name": "Sales", "aadGroupId": TEAM_ID},
            channel={"id": conversation.split(";")[0]},
        )
    return {
        "type": kind,
        "id": f"f:{uuid.uuid4().hex}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "channelId": "msteams",
        "serviceUrl": service_url,  # the fake's, filled in by `TeamsBaton.send`
        "from": person(user),
        "conversation": {
            "id": conversation,
            "conversationType": "personal" if personal else "channel",
            "tenantId": TENANT_ID,
            **({} if personal else {"isGroup": True}),
        },
        "channelData": channel_data,
        **more,
    }


def invoke(name: str, value: dict[str, Any], *, user: str) -> dict[str, Any]:
    return activity(
        "invoke", user=user, conversation=f"{SALES};messageid=1764400000000", name=name, value=value
    )
