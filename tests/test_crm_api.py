"""POST /api/crm/hubspot and POST /api/crm/pipedrive through the real app, against local
HubSpot and Pipedrive fakes and the fake Slack: requests signed the way HubSpot signs them,
Pipedrive's HTTP Basic auth, and the leads handed over exactly as through /api/leads."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot import reports
from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.demo.slack_standin import FakeSlack
from bot.service.runtime import build
from bot.service.settings import Settings
from storage import deadlines, leads
from storage.models import Lead
from tests import fake_hubspot, fake_pipedrive, support
from tests.crm_examples import DEAL_WON, PERSON_ADDED, WORKFLOW
from tests.support import (
    AGREEMENT,
    GOOD_LEAD,
    Baton,
    eventually,
    serve,
)

CLIENT_SECRET = "hubspot-app-client-secret"
USER, PASSWORD = "baton", "pipedrive-webhook-password"
CRM_SECTION = """
crm:
  hubspot:
    fields: {buying_stage: buying_stage}
  pipedrive:
    fields: {budget: 9b1e2f}
"""
SIGNED_UP = copy.deepcopy(WORKFLOW)
SIGNED_UP["properties"]["buying_stage"] = {"value": "solution_seeking", "versions": []}


@pytest.fixture
def agreement() -> Agreement:
    """The tests' agreement with a `crm:` section: a custom property for the buying stage."""
    return parse_agreement(AGREEMENT + CRM_SECTION)


@pytest.fixture
def hubspot() -> Iterator[fake_hubspot.FakeHubSpot]:
    with fake_hubspot.FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def pipedrive() -> Iterator[fake_pipedrive.FakePipedrive]:
    with fake_pipedrive.FakePipedrive() as fake:
        fake.add_org(2, "Berg AB", country="SE")
        yield fake


@pytest.fixture
def settings(database_url: str, slack: FakeSlack, hubspot, pipedrive) -> Settings:
    return support.settings(
        slack.url,
        database_url,
        hubspot_client_secret=CLIENT_SECRET,
        hubspot_token=fake_hubspot.TOKEN,
        hubspot_api_url=hubspot.url,
        pipedrive_webhook_user=USER,
        pipedrive_webhook_password=PASSWORD,
        pipedrive_api_token=fake_pipedrive.TOKEN,
        pipedrive_api_url=pipedrive.url,
    )


def hubspot_signed(
    url: str, body: bytes, *, secret: str = CLIENT_SECRET, age: float = 0
) -> dict[str, str]:
    """The headers HubSpot sends: base64 HMAC-SHA256 of method + URI + body + timestamp."""
    stamp = str(int((time.time() - age) * 1000))
    source = b"POST" + url.encode() + body + stamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def send_hubspot(baton: Baton, payload: Any, **sign: Any) -> httpx.Response:
    body = json.dumps(payload).encode()
    url = f"{baton.url}/api/crm/hubspot"
    return baton.http.post(
        "/api/crm/hubspot", content=body, headers=hubspot_signed(url, body, **sign)
    )


def send_pipedrive(baton: Baton, payload: Any, password: str = PASSWORD) -> httpx.Response:
    return baton.http.post("/api/crm/pipedrive", json=payload, auth=(USER, password))


def stored(baton: Baton) -> list[Lead]:
    with baton.runtime.ctx.sessions() as session:
        return list(session.exec(select(Lead)).all())


def test_a_signed_hubspot_workflow_hands_the_lead_over_and_its_card_is_posted(baton, slack):
    answer = send_hubspot(baton, SIGNED_UP)
    assert answer.status_code == 200, answer.text
    (taken,) = answer.json()["leads"]
    assert taken["external_id"] == "hubspot-contact-81723"
    assert taken["qualified"] is True and taken["created"] is True
    (lead,) = stored(baton)
    assert (lead.id, lead.handed_over_by) == (taken["id"], "hubspot")
    assert (lead.name, lead.country, lead.employees) == ("Mette Hansen", "DK", 100)
    assert [item["kind"] for item in lead.activity] == ["conversion", "form"]
    post = slack.wait_for("chat.postMessage")[0]
    assert post.params["channel"] == "C0SALES"
    assert "Mette Hansen" in json.dumps(post.json("blocks"))


@pytest.mark.parametrize(
    "sign", [{"secret": "not-the-secret"}, {"age": 6 * 60}], ids=["bad signature", "stale"]
)
def test_a_bad_or_stale_hubspot_signature_is_a_401_and_nothing_is_stored(
    baton, slack, hubspot, sign
):
    answer = send_hubspot(baton, SIGNED_UP, **sign)
    assert answer.status_code == 401
    assert "not signed by HubSpot" in answer.json()["detail"]
    assert stored(baton) == [] and hubspot.calls == []
    unsigned = baton.http.post("/api/crm/hubspot", json=WORKFLOW)
    assert unsigned.status_code == 401 and stored(baton) == []
    assert slack.calls_to("chat.postMessage") == []


def test_a_retried_hubspot_webhook_is_taken_once(baton, slack):
    first = send_hubspot(baton, SIGNED_UP)
    again = send_hubspot(baton, SIGNED_UP)
    assert first.status_code == again.status_code == 200
    assert again.json()["leads"][0] == {**first.json()["leads"][0], "created": False}
    slack.wait_for("chat.postMessage")
    assert len(stored(baton)) == 1
    with baton.runtime.ctx.sessions() as session:
        (lead,) = stored(baton)
        kinds = [event.kind for event in leads.history(session=session, lead_id=lead.id)]
    assert kinds.count("handed_over") == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_an_unmappable_hubspot_contact_is_a_422_naming_what_is_missing(baton):
    payload = copy.deepcopy(SIGNED_UP)
    del payload["properties"]["email"]
    del payload["properties"]["company"]
    answer = send_hubspot(baton, payload)
    assert answer.status_code == 422
    missing = {item["loc"][-1]: item["msg"] for item in answer.json()["detail"]}
    assert set(missing) == {"email", "company"}
    assert "has no value in email" in missing["email"]
    assert stored(baton) == []


def test_an_app_webhook_batch_reads_each_contact_from_hubspot(baton, slack, hubspot):
    hubspot.add_contact(
        "501",
        firstname="Anna",
        lastname="Lind",
        email="anna@fjord.no",
        company="Fjord Software AS",
        jobtitle="CMO",
        country="Norway",
        industry="software",
        numemployees="250",
        buying_stage="ready_to_buy",
    )
    events = [
        {"subscriptionType": "contact.creation", "objectId": 501, "eventId": 1, "attemptNumber": 0},
        {"subscriptionType": "contact.propertyChange", "objectId": 501, "propertyName": "email"},
    ]
    answer = send_hubspot(baton, events)
    assert answer.status_code == 200, answer.text
    (taken,) = answer.json()["leads"]
    assert taken["external_id"] == "hubspot-contact-501" and taken["qualified"] is True
    assert hubspot.made("GET", r"/crm/v3/objects/contacts/501")
    assert slack.wait_for("chat.postMessage")[0].params["channel"] == "C0SALES"


def test_the_public_url_is_the_one_hubspot_signs(runtime, hubspot):
    runtime.settings.baton_public_url = "https://baton.example.com"
    with serve(runtime) as baton:
        body = json.dumps(SIGNED_UP).encode()
        as_signed = hubspot_signed("https://baton.example.com/api/crm/hubspot", body)
        answer = baton.http.post("/api/crm/hubspot", content=body, headers=as_signed)
        assert answer.status_code == 200, answer.text
        local = send_hubspot(baton, SIGNED_UP)  # signed for the address it came in on
        assert local.status_code == 401


def test_a_pipedrive_person_with_basic_auth_is_handed_over(baton, slack):
    answer = send_pipedrive(baton, PERSON_ADDED)
    assert answer.status_code == 200, answer.text
    (taken,) = answer.json()["leads"]
    assert taken["external_id"] == "pipedrive-person-45" and taken["created"] is True
    (lead,) = stored(baton)
    assert (lead.company, lead.country, lead.handed_over_by) == ("Berg AB", "SE", "pipedrive")
    assert (lead.email, lead.budget) == ("sven@berg.se", "100-200k SEK")
    slack.wait_for("chat.postMessage")


@pytest.mark.parametrize("password", ["guess", None])
def test_wrong_pipedrive_credentials_are_a_401_and_nothing_is_stored(baton, pipedrive, password):
    if password is None:
        answer = baton.http.post("/api/crm/pipedrive", json=PERSON_ADDED)
    else:
        answer = send_pipedrive(baton, PERSON_ADDED, password=password)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert stored(baton) == [] and pipedrive.calls == []


def test_a_retried_pipedrive_webhook_is_taken_once(baton, slack):
    first = send_pipedrive(baton, PERSON_ADDED)
    retry = copy.deepcopy(PERSON_ADDED)
    retry["meta"]["attempt"] = 2
    again = send_pipedrive(baton, retry)
    assert again.json()["leads"][0] == {**first.json()["leads"][0], "created": False}
    slack.wait_for("chat.postMessage")
    with baton.runtime.ctx.sessions() as session:
        assert session.exec(select(func.count()).select_from(Lead)).one() == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_an_unmappable_pipedrive_person_is_a_422_naming_what_is_missing(baton):
    payload = copy.deepcopy(PERSON_ADDED)
    payload["data"]["emails"] = []
    answer = send_pipedrive(baton, payload)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "crm", "pipedrive", "email"]
    assert "has no value in emails" in error["msg"]
    assert stored(baton) == []


def test_without_their_credentials_the_crm_routes_do_not_exist(settings, agreement):
    bare = settings.model_copy(
        update={"hubspot_client_secret": None, "pipedrive_webhook_user": None}
    )
    runtime = build(bare, agreement)
    try:
        with serve(runtime) as baton:
            assert send_hubspot(baton, SIGNED_UP).status_code == 404
            assert send_pipedrive(baton, PERSON_ADDED).status_code == 404
    finally:
        runtime.engine.dispose()


def deal_stage_changed(deal_id: int) -> list[dict[str, Any]]:
    return [
        {
            "subscriptionType": "deal.propertyChange",
            "objectId": deal_id,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
            "eventId": 3,
        }
    ]


def history(baton: Baton, lead_id: str) -> list[Any]:
    with baton.runtime.ctx.sessions() as session:
        return leads.history(session=session, lead_id=lead_id)


def test_a_deal_won_in_hubspot_marks_its_lead_won_once_for_the_scorecard(baton, slack, hubspot):
    lead_id = send_hubspot(baton, SIGNED_UP).json()["leads"][0]["id"]
    assert eventually(lambda: stored(baton)[0].card_at)  # its claim and contact clocks run
    hubspot.add_deal(
        "7001", ["81723"], amount="240000", deal_currency_code="DKK", hs_is_closed_won="true"
    )
    answer = send_hubspot(baton, deal_stage_changed(7001))
    assert answer.status_code == 200, answer.text
    assert answer.json()["won"] == [{"deal": "7001", "lead": lead_id}]
    again = send_hubspot(baton, deal_stage_changed(7001))
    assert again.json()["won"] == [{"deal": "7001", "lead": lead_id}]
    (lead,) = stored(baton)
    assert lead.stage == "won"
    (won,) = [event for event in history(baton, lead_id) if event.kind == "deal_won"]
    assert won.actor == "hubspot"
    assert won.data == {"crm": "hubspot", "deal": "7001", "value": 240000.0, "currency": "DKK"}
    with baton.runtime.ctx.sessions() as session:
        clocks = deadlines.of_lead(session=session, lead_id=lead_id)
        assert clocks and all(clock.resolved_at is not None for clock in clocks)
        since = datetime.now(UTC) - timedelta(days=1)
        figures = reports.won_deals(session=session, since=since)
    assert figures == [reports.WonDeals("PAID_SOCIAL", "DKK", 1, 240000.0)]


def test_a_deal_not_won_marks_nothing(baton, hubspot):
    send_hubspot(baton, SIGNED_UP)
    hubspot.add_deal("7002", ["81723"], amount="1000", hs_is_closed_won="false")
    assert send_hubspot(baton, deal_stage_changed(7002)).json()["won"] == []
    assert stored(baton)[0].stage != "won"


def test_a_deal_won_in_pipedrive_finds_its_lead_by_person_then_by_email(baton, pipedrive):
    by_person = send_pipedrive(baton, PERSON_ADDED).json()["leads"][0]["id"]
    answer = send_pipedrive(baton, DEAL_WON)
    assert answer.json()["won"] == [{"deal": "31", "lead": by_person}]
    by_email = baton.hand_over(GOOD_LEAD).json()["id"]
    pipedrive.add_person(77, "Mette Hansen", "Mette@Nordlys.dk")
    other = copy.deepcopy(DEAL_WON)
    other["data"].update(id=32, person_id=77, value=90000, currency="DKK")
    assert send_pipedrive(baton, other).json()["won"] == [{"deal": "32", "lead": by_email}]
    with baton.runtime.ctx.sessions() as session:
        since = datetime.now(UTC) - timedelta(days=1)
        figures = reports.won_deals(session=session, since=since)
    assert figures == [
        reports.WonDeals("pipedrive", "SEK", 1, 240000.0),
        reports.WonDeals("webinar", "DKK", 1, 90000.0),
    ]


def test_a_deal_won_for_no_lead_of_batons_is_acknowledged(baton, pipedrive):
    pipedrive.add_person(45, "Sven Berg", "sven@elsewhere.se")
    answer = send_pipedrive(baton, DEAL_WON)
    assert answer.status_code == 200 and answer.json()["won"] == [{"deal": "31", "lead": None}]
