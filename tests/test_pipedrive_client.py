"""The Pipedrive client over HTTP against a local Pipedrive: reads, write-back, 429s, errors."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.crm.errors import Permanent, RateLimited, Transient
from bot.crm.mapping import ObjectRef
from bot.crm.notes import note, stamp
from bot.crm.pipedrive import Pipedrive
from tests.fake_pipedrive import TOKEN, FakePipedrive

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
PERSON = ObjectRef("pipedrive", "person", "45")


def LEAD(lead_id: str) -> ObjectRef:
    return ObjectRef("pipedrive", "lead", lead_id)


@pytest.fixture
def pipedrive():
    with FakePipedrive() as fake:
        fake.add_person(45, "Sven Berg", "sven@berg.se")
        fake.add_user(7, "sofie@baton.example")
        fake.add_user(8, "gone@baton.example", active=False)
        yield fake


@pytest.fixture
def client(pipedrive):
    with Pipedrive(TOKEN, pipedrive.url, timeout=2) as client:
        yield client


def test_the_token_travels_in_a_header_not_the_url(client, pipedrive):
    assert client.person(45)["name"] == "Sven Berg"
    call = pipedrive.calls[-1]
    assert call.headers["x-api-token"] == TOKEN and "api_token" not in call.query


def test_what_is_gone_reads_as_none(client):
    assert client.person(999) is None
    assert client.organization(999) is None
    assert client.lead("00000000-0000-0000-0000-000000000000") is None


def test_owner_of_a_person_and_of_a_lead_is_matched_by_email(client, pipedrive):
    lead_id = pipedrive.add_lead(45, "Berg AB deal")
    client.set_owner(PERSON, "Sofie@baton.example")
    client.set_owner(ObjectRef("pipedrive", "lead", lead_id), "sofie@baton.example")
    assert pipedrive.persons[45]["owner_id"] == 7
    assert pipedrive.leads[lead_id]["owner_id"] == 7
    assert len(pipedrive.made("GET", "/v1/users/find")) == 1


def test_an_inactive_or_unknown_user_is_permanent(client):
    with pytest.raises(Permanent, match="no active Pipedrive user"):
        client.set_owner(PERSON, "gone@baton.example")
    with pytest.raises(Permanent):
        client.set_owner(PERSON, "nobody@baton.example")


def test_a_status_label_replaces_the_other_statuses_and_keeps_other_labels(client, pipedrive):
    hot = pipedrive.add_label("Hot", "red")
    warm = pipedrive.add_label("Warm", "yellow")
    contacted = pipedrive.add_label("Contacted", "blue")
    lead_id = pipedrive.add_lead(45, "Berg AB deal", label_ids=[hot, warm])
    client.set_status(LEAD(lead_id), "contacted", ["Warm", "Rejected"])
    assert pipedrive.leads[lead_id]["label_ids"] == [hot, contacted]
    client.set_status(LEAD(lead_id), "Contacted", ["Warm"])  # again: the same labels
    assert pipedrive.leads[lead_id]["label_ids"] == [hot, contacted]


def test_a_label_the_company_does_not_have_is_permanent_and_names_those_it_has(client, pipedrive):
    pipedrive.add_label("Hot")
    lead_id = pipedrive.add_lead(45, "Berg AB deal")
    with pytest.raises(Permanent, match=r'no lead label is named "Contacted" \(there are: hot\)'):
        client.set_status(LEAD(lead_id), "Contacted")


def test_notes_on_a_person_and_a_lead_are_found_again_by_their_stamp(client, pipedrive):
    lead_ref = ObjectRef("pipedrive", "lead", pipedrive.add_lead(45, "Berg AB deal"))
    mark = stamp(12, AT)
    body = note(step="contacted", by="Sofie Berg", at=AT, stamp=mark)
    assert client.find_note(PERSON, mark) is None
    person_note = client.add_note(PERSON, body, AT)
    lead_note = client.add_note(lead_ref, body, AT)
    assert pipedrive.notes[person_note]["person_id"] == 45
    assert pipedrive.notes[lead_note]["lead_id"] == lead_ref.id
    assert client.find_note(PERSON, mark) == person_note
    assert client.find_note(lead_ref, mark) == lead_note
    assert client.find_note(PERSON, stamp(13, AT)) is None


def test_finding_a_note_reads_every_page(client, pipedrive):
    for n in range(1100):
        pipedrive.add_note(f"<p>older {n}</p>", person_id=45)
    mine = pipedrive.add_note("<p>baton:1:2</p>", person_id=45)
    assert client.find_note(PERSON, "baton:1:2") == mine
    assert len(pipedrive.made("GET", "/v1/notes")) == 3


def test_a_429_is_honoured_with_retry_after_or_the_reset_header(client, pipedrive):
    pipedrive.fail("429", retry_after="5")
    with pytest.raises(RateLimited) as raised:
        client.person(45)
    assert raised.value.retry_after == timedelta(seconds=5)
    pipedrive.fail("429")
    with pytest.raises(RateLimited) as raised:
        client.person(45)
    assert raised.value.retry_after == timedelta(seconds=2)
    assert "Request over limit" in str(raised.value)
    assert client.person(45) is not None


def test_5xx_and_dropped_connections_are_transient(client, pipedrive):
    pipedrive.fail("5xx")
    with pytest.raises(Transient):
        client.set_owner(PERSON, "sofie@baton.example")
    pipedrive.fail("drop", after_work=True, route="/notes")
    with pytest.raises(Transient):
        client.add_note(PERSON, "<p>baton:2:3</p>", AT)
    assert client.find_note(PERSON, "baton:2:3") is not None  # made, though the answer was lost


def test_a_wrong_token_is_permanent(pipedrive):
    with Pipedrive("wrong", pipedrive.url) as wrong, pytest.raises(Permanent) as raised:
        wrong.person(45)
    assert raised.value.status == 401


def test_a_probe_names_the_company_the_token_belongs_to(client, pipedrive):
    assert client.probe() == "berg"
    with Pipedrive("wrong", pipedrive.url) as wrong, pytest.raises(Permanent):
        wrong.probe()
