"""HubSpot's webhooks: the v3 signature, a workflow's contact, an app's batch read through
the API (a local HubSpot), and what cannot be mapped."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.crm.hubspot import HubSpot
from bot.crm.hubspot_in import BadSignature, receive, signing_uri, verify
from bot.crm.mapping import Unmappable
from bot.crm_section import parse_crm
from tests.crm_examples import WORKFLOW
from tests.fake_hubspot import TOKEN, FakeHubSpot

SECRET = "6b1f8d2e-0c4a-4f7e-9a55-3e2d1c0b9a87"
URI = "https://baton.example.com/api/crm/hubspot?portal=62515"
NOW = datetime(2025, 11, 29, 7, 10, tzinfo=UTC)
BATCH = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1764400000000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":81723,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


def signed(body: bytes, *, secret: str = SECRET, at: datetime = NOW, uri: str = URI) -> dict:
    """Headers as HubSpot sends them, computed here from HubSpot's description."""
    stamp = str(int(at.timestamp() * 1000))
    source = f"POST{uri}".encode() + body + stamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return {
        "x-hubspot-signature-v3": base64.b64encode(digest).decode(),
        "x-hubspot-request-timestamp": stamp,
    }


def check(body: bytes, headers: dict, *, now: datetime = NOW, uri: str = URI) -> None:
    verify(secret=SECRET, method="POST", uri=uri, body=body, headers=headers, now=now)


def test_a_signed_request_passes():
    check(BATCH, signed(BATCH))


def test_the_signature_matches_hubspots_own_library():
    # hubspot-api-client's Signature.get_signature(SECRET, BATCH, "v3", URI, "POST", stamp)
    headers = {
        "x-hubspot-signature-v3": "U4Sud6x0JNaMQwRt2RG68YtmdLtTpHdag6/fsH5xj4o=",
        "x-hubspot-request-timestamp": "1764400000000",
    }
    check(BATCH, headers, now=datetime.fromtimestamp(1764400000, UTC))


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (signed(BATCH, secret="another-app-secret"), "does not match"),
        (signed(BATCH, at=NOW - timedelta(minutes=5, seconds=1)), "over 5 minutes"),
        (signed(BATCH, at=NOW + timedelta(minutes=6)), "over 5 minutes"),
        (signed(BATCH.replace(b"81723", b"81724")), "does not match"),
        ({}, "no X-HubSpot-Signature-v3"),
        ({**signed(BATCH), "x-hubspot-request-timestamp": "yesterday"}, "is not a time"),
    ],
    ids=["wrong secret", "stale", "from the future", "tampered body", "unsigned", "bad stamp"],
)
def test_a_request_not_signed_rightly_now_is_refused(headers, why):
    with pytest.raises(BadSignature, match=why):
        check(BATCH, headers)


def test_four_minutes_old_is_still_fresh():
    check(BATCH, signed(BATCH, at=NOW - timedelta(minutes=4, seconds=59)))


def test_the_uri_is_signed_with_hubspots_escapes_decoded():
    uri = "https://baton.example.com/api/crm/hubspot?from=a%40b.dk%2Cc&x=%7E"
    assert signing_uri(uri) == "https://baton.example.com/api/crm/hubspot?from=a@b.dk,c&x=%7E"
    decoded = "https://baton.example.com/api/crm/hubspot?from=a@b.dk,c&x=%7E"
    check(BATCH, signed(BATCH, uri=decoded), uri=uri)
    with pytest.raises(BadSignature):
        check(BATCH, signed(BATCH, uri=URI), uri="https://baton.example.com/api/crm/hubspot")


def test_a_workflow_contact_becomes_a_lead_with_its_history():
    received = receive(WORKFLOW, crm=parse_crm(None), client=None)
    (lead,) = received.leads
    assert lead.external_id == "hubspot-contact-81723"
    assert (lead.name, lead.email, lead.country, lead.employees) == (
        "Mette Hansen",
        "mette@nordlys.dk",
        "DK",
        100,
    )
    assert lead.source == "PAID_SOCIAL"
    assert [(a.kind, a.detail) for a in lead.activity] == [
        ("conversion", "Webinar: Industry 4.0"),
        ("form", "Download: QC checklist"),
    ]
    assert lead.activity[1].at == datetime.fromtimestamp(1763890000, UTC)


def test_a_workflow_with_chosen_properties_sends_them_flat():
    body = {
        "hs_object_id": "81800",
        "firstname": "Jens",
        "lastname": "Berg",
        "email": "jens@fjordkraft.no",
        "company": "Fjordkraft AS",
        "country": "NO",
        "budget_range": "100k",
    }
    crm = parse_crm({"hubspot": {"fields": {"budget": "budget_range"}}})
    (lead,) = receive(body, crm=crm, client=None).leads
    assert (lead.external_id, lead.country, lead.budget) == ("hubspot-contact-81800", "NO", "100k")


def test_a_workflow_contact_that_cannot_be_mapped_names_every_problem():
    body = json.loads(json.dumps(WORKFLOW))
    del body["properties"]["email"]
    body["properties"]["company"]["value"] = ""
    with pytest.raises(Unmappable) as raised:
        receive(body, crm=parse_crm(None), client=None)
    assert sorted(e["loc"][-1] for e in raised.value.errors) == ["company", "email"]


@pytest.mark.parametrize(
    "body",
    [
        {"firstname": "No id"},
        {"hs_object_id": "1/../owners"},
        "text",
        [{"subscriptionType": "x"}],
        [{"subscriptionType": "contact.creation", "objectId": "1/../../owners"}],
    ],
)
def test_a_body_that_names_no_contact_is_refused(body):
    with pytest.raises(Unmappable):
        receive(body, crm=parse_crm(None), client=None)


@pytest.fixture
def hubspot():
    with FakeHubSpot() as fake:
        yield fake


def test_a_batch_reads_each_named_contact_once_and_each_won_deal(hubspot):
    hubspot.add_contact(
        "81723",
        firstname="Mette",
        lastname="Hansen",
        email="mette@nordlys.dk",
        company="Nordlys",
        recent_conversion_event_name="Pricing page",
        recent_conversion_date="2025-11-20T09:00:00Z",
    )
    hubspot.add_contact("81724", firstname="No", lastname="Mail", company="Somewhere")
    hubspot.add_deal(
        "3001", ["81723"], amount="90000", deal_currency_code="DKK", hs_is_closed_won="true"
    )
    events = [
        {"subscriptionType": "contact.creation", "objectId": 81723, "eventId": 1},
        {"subscriptionType": "contact.propertyChange", "objectId": 81723, "propertyName": "email"},
        {"subscriptionType": "object.creation", "objectTypeId": "0-1", "objectId": 81724},
        {"subscriptionType": "contact.creation", "objectId": 404404},
        {"subscriptionType": "deal.propertyChange", "objectId": 3001, "propertyName": "dealstage"},
        {"subscriptionType": "deal.propertyChange", "objectId": 3002, "propertyName": "amount"},
    ]
    with HubSpot(TOKEN, hubspot.url) as client:
        received = receive(events, crm=parse_crm(None), client=client)
    assert [lead.external_id for lead in received.leads] == ["hubspot-contact-81723"]
    assert [a.detail for a in received.leads[0].activity] == ["Pricing page"]
    assert [e["loc"][-1] for p in received.refused for e in p.errors] == ["email"]
    assert [(w.deal, w.value, w.currency) for w in received.won] == [("3001", 90000.0, "DKK")]
    reads = hubspot.made("GET", r"/crm/v3/objects/contacts/\d+")
    assert [c.path.rsplit("/", 1)[1] for c in reads] == ["81723", "81724"]
    assert "numemployees" in reads[0].query["properties"].split(",")


def test_a_batch_of_more_events_than_hubspot_sends_is_refused():
    events = [{"subscriptionType": "contact.creation", "objectId": n} for n in range(101)]
    with pytest.raises(Unmappable, match="at most 100"):
        receive(events, crm=parse_crm(None), client=None)


def test_a_batch_needs_a_token_to_read_its_contacts():
    with pytest.raises(ValueError, match="HUBSPOT_TOKEN"):
        receive(json.loads(BATCH), crm=parse_crm(None), client=None)
