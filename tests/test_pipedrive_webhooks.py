"""Pipedrive's webhooks v2 behind HTTP Basic auth: persons and leads handed over through a
local Pipedrive, deals won, and what is refused."""

import base64
import copy

import pytest

from bot.crm.mapping import Unmappable
from bot.crm.pipedrive import Pipedrive
from bot.crm.pipedrive_in import BadCredentials, check_basic, receive
from bot.crm_section import parse_crm
from tests.crm_examples import DEAL_WON, PERSON_ADDED
from tests.fake_pipedrive import TOKEN, FakePipedrive

USER, PASSWORD = "baton", "correct horse battery staple"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_configured_credentials_pass():
    check_basic(basic(USER, PASSWORD), user=USER, password=PASSWORD)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic(USER, "wrong"),
        basic("other", PASSWORD),
        basic(USER, PASSWORD + "x"),
        f"Bearer {PASSWORD}",
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no colon").decode(),
    ],
)
def test_anything_else_is_refused(header):
    with pytest.raises(BadCredentials):
        check_basic(header, user=USER, password=PASSWORD)


@pytest.fixture
def pipedrive():
    with FakePipedrive() as fake:
        fake.add_org(2, "Berg AB", country="Sweden")
        fake.add_person(45, "Sven Berg", "sven@berg.se", org_id=2)
        yield fake


@pytest.fixture
def client(pipedrive):
    with Pipedrive(TOKEN, pipedrive.url) as client:
        yield client


def test_a_person_added_becomes_a_lead_with_its_organization(client, pipedrive):
    crm = parse_crm({"pipedrive": {"fields": {"budget": "9b1e2f"}}})
    (lead,) = receive(PERSON_ADDED, crm=crm, client=client).leads
    assert lead.external_id == "pipedrive-person-45"
    assert (lead.name, lead.email, lead.phone) == ("Sven Berg", "sven@berg.se", "+46701234567")
    assert (lead.company, lead.country, lead.title) == ("Berg AB", "SE", "Group CIO")
    assert (lead.budget, lead.source) == ("100-200k SEK", "pipedrive")
    assert [c.path for c in pipedrive.calls] == ["/api/v2/organizations/2"]


def test_a_person_in_api_v1_shape_is_read_too(client):
    body = copy.deepcopy(PERSON_ADDED)
    body["data"]["email"] = body["data"].pop("emails")
    body["data"]["phone"] = body["data"].pop("phones")
    (lead,) = receive(body, crm=parse_crm(None), client=client).leads
    assert (lead.email, lead.phone) == ("sven@berg.se", "+46701234567")


def test_a_lead_added_reads_its_person_and_organization(client, pipedrive):
    lead_id = pipedrive.add_lead(45, "Berg AB deal", source_name="Web forms")
    body = copy.deepcopy(PERSON_ADDED)
    body["meta"].update(entity="lead", entity_id=lead_id)
    body["data"] = pipedrive.leads[lead_id]
    (lead,) = receive(body, crm=parse_crm(None), client=client).leads
    assert lead.external_id == f"pipedrive-lead-{lead_id}"
    assert (lead.name, lead.company, lead.source) == ("Sven Berg", "Berg AB", "Web forms")


def test_a_lead_without_a_person_cannot_be_mapped(client, pipedrive):
    lead_id = pipedrive.add_lead(None, "Orphan")
    body = copy.deepcopy(PERSON_ADDED)
    body["meta"].update(entity="lead", entity_id=lead_id)
    body["data"] = pipedrive.leads[lead_id]
    with pytest.raises(Unmappable, match="names no person"):
        receive(body, crm=parse_crm(None), client=client)


def test_a_person_that_cannot_be_mapped_names_every_problem(client):
    body = copy.deepcopy(PERSON_ADDED)
    body["data"].update(emails=[], org_id=None)
    with pytest.raises(Unmappable) as raised:
        receive(body, crm=parse_crm(None), client=client)
    assert sorted(e["loc"][-1] for e in raised.value.errors) == ["company", "email"]


def test_a_deal_won_gives_its_value_and_person():
    received = receive(DEAL_WON, crm=parse_crm(None), client=None)
    (won,) = received.won
    assert (won.deal, won.value, won.currency) == ("31", 240000.0, "SEK")
    assert won.external_ids == ("pipedrive-person-45",)
    assert received.leads == []


def test_a_deal_won_names_its_persons_emails_for_a_lead_converted_to_a_deal(client):
    (won,) = receive(DEAL_WON, crm=parse_crm(None), client=client).won
    assert won.emails == ("sven@berg.se",)


@pytest.mark.parametrize(
    "previous",
    [{"status": "won"}, {"title": "renamed"}],
    ids=["already won", "status untouched"],
)
def test_a_change_to_a_deal_that_was_already_won_is_not_won_again(previous):
    body = {**DEAL_WON, "previous": previous}
    assert receive(body, crm=parse_crm(None), client=None).won == []


def test_a_deal_created_won_counts():
    body = copy.deepcopy(DEAL_WON)
    body["meta"]["action"] = "create"
    body["previous"] = None
    assert len(receive(body, crm=parse_crm(None), client=None).won) == 1


@pytest.mark.parametrize(
    "changes",
    [{"action": "delete"}, {"entity": "organization"}, {"entity": "activity"}],
)
def test_other_events_are_acknowledged_and_hand_nothing_over(changes):
    body = copy.deepcopy(PERSON_ADDED)
    body["meta"].update(changes)
    received = receive(body, crm=parse_crm(None), client=None)
    assert (received.leads, received.won) == ([], [])


@pytest.mark.parametrize(
    ("changes", "where"),
    [({"id": "45/../../users"}, "id"), ({"org_id": "2?x=1"}, "org_id")],
)
def test_ids_that_would_leave_their_api_path_are_refused(client, pipedrive, changes, where):
    body = copy.deepcopy(PERSON_ADDED)
    body["data"].update(changes)
    with pytest.raises(Unmappable) as raised:
        receive(body, crm=parse_crm(None), client=client)
    assert raised.value.errors[0]["loc"][-1] == where
    assert pipedrive.calls == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"v": 1, "current": {"id": 45}, "meta": {"v": 1, "action": "added"}}, "version"),
        ({"data": {}}, "meta"),
        ([], "meta"),
    ],
)
def test_a_body_that_is_not_a_v2_webhook_is_refused(body, where):
    with pytest.raises(Unmappable) as raised:
        receive(body, crm=parse_crm(None), client=None)
    assert raised.value.errors[0]["loc"][-1] == where
