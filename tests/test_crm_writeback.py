"""Write-back of a lead's changes to HubSpot and Pipedrive over HTTP to local fakes: which
calls each step makes, the agreement's statuses, and a note written once across retries."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.crm.errors import Permanent, Transient
from bot.crm.hubspot import HubSpot
from bot.crm.notes import stamp
from bot.crm.pipedrive import Pipedrive
from bot.crm.writeback import Change, Transport
from bot.crm_section import parse_crm
from tests import fake_hubspot, fake_pipedrive

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CPH = ZoneInfo("Europe/Copenhagen")
CRM = parse_crm(
    {
        "hubspot": {"status": {"contacted": "CONNECTED"}},
        "pipedrive": {
            "status": {"claimed": "Claimed", "contacted": "Contacted", "rejected": "Cold"}
        },
    }
)


def change(external_id: str, step: str, **more) -> Change:
    return Change(external_id=external_id, step=step, at=AT, by="Sofie Berg", **more)


@pytest.fixture
def hubspot():
    with fake_hubspot.FakeHubSpot() as fake:
        fake.add_contact("81723", email="mette@nordlys.dk")
        fake.add_owner("501", "sofie@baton.example")
        with HubSpot(fake_hubspot.TOKEN, fake.url) as client:
            yield fake, Transport(client, CRM, CPH)


@pytest.fixture
def pipedrive():
    with fake_pipedrive.FakePipedrive() as fake:
        fake.add_person(45, "Sven Berg", "sven@berg.se")
        fake.add_user(7, "sofie@baton.example")
        with Pipedrive(fake_pipedrive.TOKEN, fake.url) as client:
            yield fake, Transport(client, CRM, CPH)


def test_hubspot_claim_sets_owner_and_status_and_leaves_no_note(hubspot):
    fake, transport = hubspot
    claimed = change("hubspot-contact-81723", "claimed", owner_email="sofie@baton.example")
    transport.deliver(claimed, stamp="s1", retry=False)
    assert fake.contacts["81723"]["hubspot_owner_id"] == "501"
    assert fake.contacts["81723"]["hs_lead_status"] == "IN_PROGRESS"  # the default
    assert fake.notes == {}


def test_hubspot_feedback_sets_the_status_and_notes_outcome_reason_and_who(hubspot):
    fake, transport = hubspot
    rejected = change(
        "hubspot-contact-81723", "rejected", reason="wrong decision-maker", text="Ask the CFO"
    )
    transport.deliver(rejected, stamp=stamp(5, AT), retry=False)
    assert fake.contacts["81723"]["hs_lead_status"] == "UNQUALIFIED"
    (note,) = fake.notes_of("81723")
    body = note["hs_note_body"]
    assert "rejected" in body and "wrong decision-maker" in body and "Sofie Berg" in body
    assert "Ask the CFO" in body and "2026-11-24 10:30 CET" in body
    assert stamp(5, AT) in body


def test_hubspot_contacted_uses_the_agreements_status(hubspot):
    fake, transport = hubspot
    transport.deliver(change("hubspot-contact-81723", "contacted"), stamp="s2", retry=False)
    assert fake.contacts["81723"]["hs_lead_status"] == "CONNECTED"
    assert "Contacted" in fake.notes_of("81723")[0]["hs_note_body"]


def test_a_note_whose_answer_was_lost_is_not_written_twice(hubspot):
    fake, transport = hubspot
    contacted = change("hubspot-contact-81723", "contacted")
    fake.fail("drop", route="/crm/v3/objects/notes", after_work=True)
    with pytest.raises(Transient):
        transport.deliver(contacted, stamp=stamp(9, AT), retry=False)
    transport.deliver(contacted, stamp=stamp(9, AT), retry=True)
    assert len(fake.notes_of("81723")) == 1


def test_a_retry_after_a_crash_before_the_commit_writes_nothing_new(hubspot, pipedrive):
    for fake, transport, external_id, count in (
        (*hubspot, "hubspot-contact-81723", lambda f: len(f.notes_of("81723"))),
        (*pipedrive, "pipedrive-person-45", lambda f: len(f.notes)),
    ):
        accepted = change(external_id, "accepted")
        transport.deliver(accepted, stamp=stamp(11, AT), retry=False)
        transport.deliver(accepted, stamp=stamp(11, AT), retry=True)  # the row ran again
        assert count(fake) == 1


def test_pipedrive_lead_gets_owner_and_label_person_gets_owner(pipedrive):
    fake, transport = pipedrive
    claimed_label = fake.add_label("Claimed")
    fake.add_label("Contacted")
    lead_id = fake.add_lead(45, "Berg AB deal")
    claimed = {"step": "claimed", "owner_email": "sofie@baton.example"}
    transport.deliver(change(f"pipedrive-lead-{lead_id}", **claimed), stamp="s", retry=False)
    transport.deliver(change("pipedrive-person-45", **claimed), stamp="s", retry=False)
    assert fake.leads[lead_id]["owner_id"] == 7 and fake.persons[45]["owner_id"] == 7
    assert fake.leads[lead_id]["label_ids"] == [claimed_label]
    (person_update,) = fake.made("PATCH", r"/api/v2/persons/45")
    assert person_update.body == {"owner_id": 7}  # a person has no lead label


def test_pipedrive_contacted_swaps_the_status_label_and_notes_it(pipedrive):
    fake, transport = pipedrive
    claimed_label = fake.add_label("Claimed")
    contacted_label = fake.add_label("Contacted")
    hot = fake.add_label("Hot")
    lead_id = fake.add_lead(45, "Berg AB deal", label_ids=[hot, claimed_label])
    transport.deliver(change(f"pipedrive-lead-{lead_id}", "contacted"), stamp="s9", retry=False)
    assert fake.leads[lead_id]["label_ids"] == [hot, contacted_label]
    (note,) = fake.notes.values()
    assert note["lead_id"] == lead_id and note["add_time"] == "2026-11-24 09:30:00"


def test_pipedrive_without_a_status_for_the_step_changes_no_label(pipedrive):
    fake, transport = pipedrive
    lead_id = fake.add_lead(45, "Berg AB deal")
    transport.deliver(change(f"pipedrive-lead-{lead_id}", "nurture"), stamp="s", retry=False)
    assert fake.made("GET", "/v1/leadLabels") == []
    assert len(fake.notes) == 1


@pytest.mark.parametrize(
    ("external_id", "step", "why"),
    [
        ("pipedrive-person-45", "contacted", "is not a hubspot object"),
        ("crm-42", "contacted", "is not a hubspot object"),
        ("hubspot-contact-81723", "assigned", "without the owner's e-mail"),
    ],
)
def test_a_change_that_cannot_be_delivered_is_permanent(hubspot, external_id, step, why):
    _, transport = hubspot
    with pytest.raises(Permanent, match=why):
        transport.deliver(change(external_id, step), stamp="s", retry=False)


def test_a_change_survives_the_outbox_as_json():
    original = change("hubspot-contact-81723", "rejected", reason="duplicate")
    assert Change.model_validate(original.model_dump(mode="json")) == original
