"""A CRM webhook from raw bytes to its answer: 401, 400, 422, 503 and 200, in that order of
checks, against local HubSpot and Pipedrive fakes for the reads."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.crm import inbound
from bot.crm.hubspot import HubSpot
from bot.crm.pipedrive import Pipedrive
from bot.crm_section import parse_crm
from tests import fake_hubspot, fake_pipedrive
from tests.crm_examples import PERSON_ADDED, WORKFLOW

SECRET = "client-secret-of-the-app"
URI = "https://baton.example.com/api/crm/hubspot"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CRM = parse_crm(None)


def hubspot_request(body: bytes, client=None, *, at=NOW, secret=SECRET) -> inbound.Answer:
    stamp = str(int(at.timestamp() * 1000))
    digest = hmac.new(
        secret.encode(), b"POST" + URI.encode() + body + stamp.encode(), hashlib.sha256
    )
    headers = {
        "x-hubspot-signature-v3": base64.b64encode(digest.digest()).decode(),
        "x-hubspot-request-timestamp": stamp,
    }
    return inbound.hubspot(
        method="POST",
        uri=URI,
        body=body,
        headers=headers,
        now=NOW,
        secret=SECRET,
        crm=CRM,
        client=client,
    )


def test_a_signed_workflow_contact_is_a_200_with_its_lead():
    answer = hubspot_request(json.dumps(WORKFLOW).encode())
    assert answer.status == 200 and answer.body == {"leads": 1, "won": 0, "refused": []}
    assert answer.received.leads[0].external_id == "hubspot-contact-81723"


@pytest.mark.parametrize(
    "request_",
    [
        lambda body: hubspot_request(body, secret="wrong"),
        lambda body: hubspot_request(body, at=NOW - timedelta(minutes=6)),
    ],
    ids=["wrong secret", "stale"],
)
def test_a_bad_or_stale_signature_is_a_401_before_anything_is_read(request_):
    answer = request_(b"not even json")
    assert answer.status == 401 and answer.received is None
    assert "not signed by HubSpot" in answer.body["detail"]


def test_a_signed_body_that_is_not_json_is_a_400():
    assert hubspot_request(b"{nope").status == 400


def test_a_contact_that_cannot_be_mapped_is_a_422_in_fastapis_shape():
    body = json.loads(json.dumps(WORKFLOW))
    del body["properties"]["email"]
    answer = hubspot_request(json.dumps(body).encode())
    assert answer.status == 422 and answer.received is None
    (error,) = answer.body["detail"]
    assert error["loc"] == ["body", "crm", "hubspot", "email"] and error["type"] == "missing"


@pytest.fixture
def hubspot():
    with fake_hubspot.FakeHubSpot() as fake, HubSpot(fake_hubspot.TOKEN, fake.url) as client:
        fake.add_contact(
            "81723", firstname="Mette", lastname="Hansen", email="m@nordlys.dk", company="Nordlys"
        )
        yield fake, client


BATCH = json.dumps([{"subscriptionType": "contact.creation", "objectId": 81723}]).encode()


def test_a_batch_is_read_through_the_api(hubspot):
    _, client = hubspot
    answer = hubspot_request(BATCH, client)
    assert answer.status == 200 and answer.received.leads[0].name == "Mette Hansen"


def test_while_hubspot_fails_the_batch_is_a_503_so_hubspot_sends_it_again(hubspot):
    fake, client = hubspot
    fake.fail("5xx")
    assert hubspot_request(BATCH, client).status == 503
    fake.fail("429", retry_after="30")
    answer = hubspot_request(BATCH, client)
    assert answer.status == 503 and answer.headers == {"Retry-After": "30"}
    assert hubspot_request(BATCH, client).status == 200


def test_a_batch_without_a_token_is_a_503_that_says_what_is_missing():
    assert hubspot_request(BATCH, None).status == 503


USER, PASSWORD = "baton", "s3cret"


def pipedrive_request(body: bytes, client, password=PASSWORD) -> inbound.Answer:
    header = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()
    return inbound.pipedrive(
        authorization=header, body=body, user=USER, password=PASSWORD, crm=CRM, client=client
    )


@pytest.fixture
def pipedrive():
    with (
        fake_pipedrive.FakePipedrive() as fake,
        Pipedrive(fake_pipedrive.TOKEN, fake.url) as client,
    ):
        fake.add_org(2, "Berg AB", country="SE")
        yield fake, client


def test_a_pipedrive_person_with_the_right_credentials_is_a_200(pipedrive):
    _, client = pipedrive
    answer = pipedrive_request(json.dumps(PERSON_ADDED).encode(), client)
    assert answer.status == 200 and answer.received.leads[0].company == "Berg AB"


def test_wrong_pipedrive_credentials_are_a_401_with_the_basic_challenge(pipedrive):
    fake, client = pipedrive
    answer = pipedrive_request(json.dumps(PERSON_ADDED).encode(), client, password="guess")
    assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
    assert fake.calls == []


def test_a_pipedrive_v1_webhook_is_a_422_that_asks_for_v2(pipedrive):
    _, client = pipedrive
    answer = pipedrive_request(json.dumps({"v": 1, "meta": {"v": 1}}).encode(), client)
    assert answer.status == 422 and "version 2.0" in answer.body["detail"][0]["msg"]
