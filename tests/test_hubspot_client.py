"""The HubSpot client over HTTP against a local HubSpot: reads, write-back, 429s, errors."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.crm.errors import Permanent, RateLimited, Transient
from bot.crm.hubspot import HubSpot
from bot.crm.mapping import ObjectRef
from bot.crm.notes import note, stamp
from tests.fake_hubspot import TOKEN, FakeHubSpot

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
METTE = ObjectRef("hubspot", "contact", "81723")


@pytest.fixture
def hubspot():
    with FakeHubSpot() as fake:
        fake.add_contact("81723", firstname="Mette", lastname="Hansen", email="mette@nordlys.dk")
        fake.add_owner("501", "sofie@baton.example")
        yield fake


@pytest.fixture
def client(hubspot):
    client = HubSpot(TOKEN, hubspot.url, timeout=2)
    yield client
    client.close()


def test_reads_the_properties_asked_for(client):
    properties = client.contact("81723", ["firstname", "email", "jobtitle"])
    assert properties == {
        "firstname": "Mette",
        "email": "mette@nordlys.dk",
        "jobtitle": None,
        "hs_object_id": "81723",
    }


def test_a_contact_that_is_gone_reads_as_none(client):
    assert client.contact("404404", ["email"]) is None


def test_owner_is_matched_by_email_and_set(client, hubspot):
    client.set_owner(METTE, "sofie@baton.example")
    assert hubspot.contacts["81723"]["hubspot_owner_id"] == "501"
    client.set_owner(METTE, "Sofie@Baton.example")  # the owner's id is kept, not asked again
    assert len(hubspot.made("GET", "/crm/v3/owners/?")) == 1


def test_a_seller_with_no_hubspot_user_is_permanent(client):
    with pytest.raises(Permanent, match=r"no HubSpot user has the e-mail nobody@x\.dk"):
        client.set_owner(METTE, "nobody@x.dk")


def test_lead_status_is_written_to_hs_lead_status(client, hubspot):
    client.set_status(METTE, "ATTEMPTED_TO_CONTACT")
    assert hubspot.contacts["81723"]["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"


def test_a_note_is_put_on_the_contact_and_found_again_by_its_stamp(client, hubspot):
    mark = stamp(7, AT)
    body = note(
        step="feedback",
        by="Sofie Berg",
        at=AT,
        stamp=mark,
        outcome="rejected",
        reason="wrong decision-maker",
        text="Spoke to the CFO instead",
    )
    assert client.find_note(METTE, mark) is None
    note_id = client.add_note(METTE, body, AT)
    assert [n["hs_note_body"] for n in hubspot.notes_of("81723")] == [body]
    assert hubspot.notes[note_id]["hs_timestamp"] == AT.isoformat()
    assert client.find_note(METTE, mark) == note_id
    assert client.find_note(METTE, stamp(8, AT)) is None


def test_finding_a_note_reads_every_page_of_associations(client, hubspot):
    for n in range(700):
        hubspot.add_note("81723", f"<p>older {n}</p>")
    mine = hubspot.add_note("81723", "<p>mine</p><p>baton:9:1</p>")
    assert client.find_note(METTE, "baton:9:1") == mine
    assert len(hubspot.made("GET", "/crm/v4/objects/contact/81723/associations/note")) == 2
    assert len(hubspot.made("POST", "/crm/v3/objects/notes/batch/read")) == 8


def test_a_429_with_retry_after_is_honoured(client, hubspot):
    hubspot.fail("429", retry_after="7")
    with pytest.raises(RateLimited) as raised:
        client.set_status(METTE, "IN_PROGRESS")
    assert raised.value.retry_after == timedelta(seconds=7)
    client.set_status(METTE, "IN_PROGRESS")  # the next call goes through
    assert hubspot.contacts["81723"]["hs_lead_status"] == "IN_PROGRESS"


def test_a_429_without_retry_after_waits_out_hubspots_policy(client, hubspot):
    hubspot.fail("429")
    with pytest.raises(RateLimited) as raised:
        client.contact("81723", ["email"])
    assert raised.value.retry_after == timedelta(seconds=1)
    assert "secondly limit" in str(raised.value)


def test_a_5xx_and_a_dropped_connection_are_transient(client, hubspot):
    hubspot.fail("5xx")
    with pytest.raises(Transient) as raised:
        client.set_status(METTE, "OPEN")
    assert raised.value.status == 503 and not isinstance(raised.value, RateLimited)
    hubspot.fail("drop")
    with pytest.raises(Transient):
        client.set_status(METTE, "OPEN")


def test_a_wrong_token_and_a_deleted_contact_are_permanent(hubspot):
    wrong = HubSpot("pat-wrong", hubspot.url)
    with pytest.raises(Permanent) as raised:
        wrong.set_status(METTE, "OPEN")
    assert raised.value.status == 401 and "Authentication credentials" in str(raised.value)
    client = HubSpot(TOKEN, hubspot.url)
    with pytest.raises(Permanent) as raised:
        client.set_status(ObjectRef("hubspot", "contact", "999"), "OPEN")
    assert raised.value.status == 404


def test_a_won_deal_gives_its_value_currency_and_contacts(client, hubspot):
    hubspot.add_deal(
        "3001",
        ["81723", "81724"],
        amount="125000.50",
        deal_currency_code="DKK",
        hs_is_closed_won="true",
        dealstage="closedwon",
    )
    hubspot.add_deal("3002", ["81723"], amount="9", hs_is_closed_won="false")
    won = client.won("3001")
    assert won is not None
    assert won.external_ids == ("hubspot-contact-81723", "hubspot-contact-81724")
    assert (won.deal, won.value, won.currency) == ("3001", 125000.5, "DKK")
    assert client.won("3002") is None
    assert client.won("3999") is None


def test_a_probe_passes_with_a_token_that_has_the_scopes(client):
    client.probe()


def test_a_probe_names_a_missing_scope_and_a_refused_token(hubspot, client):
    hubspot.scopes.discard("crm.objects.contacts.read")
    with pytest.raises(Permanent, match="required scopes") as raised:
        client.probe()
    assert raised.value.status == 403
    with HubSpot("pat-wrong", hubspot.url) as wrong, pytest.raises(Permanent) as raised:
        wrong.probe()
    assert raised.value.status == 401
