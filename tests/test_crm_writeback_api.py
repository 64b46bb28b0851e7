"""Write-back through the real app: a lead handed over by HubSpot is claimed, contacted and
given feedback in Baton, and the outbox carries each change to the local HubSpot fake,
exactly once and at its pace; a forgotten person is not written back again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot import feedback, ownership, privacy, writeback
from bot.actions import ActionId
from bot.agreement import Agreement, reason_code
from bot.agreement_file import parse_agreement
from bot.demo.slack_standin import FakeSlack
from bot.refusals import Refused
from bot.service.settings import Settings
from bot.writeback import CRM
from storage.models import Lead, Outbox
from tests import fake_hubspot, support
from tests.support import AGREEMENT, GOOD_LEAD, Baton, eventually
from tests.test_crm_api import CLIENT_SECRET, CRM_SECTION, SIGNED_UP, send_hubspot

CONTACT = "81723"
SELLER, SELLER_EMAIL = "U0SELLER1", "user.u0seller1@example.com"  # as the fake Slack tells it


@pytest.fixture
def agreement() -> Agreement:
    return parse_agreement(
        AGREEMENT
        + CRM_SECTION.replace(
            "fields: {buying_stage: buying_stage}",
            "fields: {buying_stage: buying_stage}\n    status: {contacted: CONNECTED}",
        )
    )


@pytest.fixture
def hubspot() -> Iterator[fake_hubspot.FakeHubSpot]:
    with fake_hubspot.FakeHubSpot() as fake:
        fake.add_contact(CONTACT, email="mette@nordlys.dk")
        fake.add_owner("501", SELLER_EMAIL)
        yield fake


@pytest.fixture
def settings(database_url: str, slack: FakeSlack, hubspot) -> Settings:
    return support.settings(
        slack.url,
        database_url,
        hubspot_client_secret=CLIENT_SECRET,
        hubspot_token=fake_hubspot.TOKEN,
        hubspot_api_url=hubspot.url,
    )


def crm_rows(baton: Baton) -> list[Outbox]:
    with baton.runtime.ctx.sessions() as session:
        query = select(Outbox).where(Outbox.kind == CRM).order_by(Outbox.id)
        return list(session.exec(query).all())


def delivered(baton: Baton, count: int) -> list[Outbox]:
    """The CRM rows, once `count` of them are delivered."""
    rows = eventually(
        lambda: (
            (rows := crm_rows(baton)) and sum(r.sent_at is not None for r in rows) == count and rows
        )
    )
    assert rows, crm_rows(baton)
    return rows


def handed_over(baton: Baton) -> str:
    answer = send_hubspot(baton, SIGNED_UP)
    assert answer.status_code == 200, answer.text
    return answer.json()["leads"][0]["id"]


def claimed(baton: Baton) -> str:
    lead_id = handed_over(baton)
    assert baton.click(SELLER, ActionId.CLAIM, lead_id).status_code == 200
    return lead_id


def test_a_claim_sets_the_hubspot_owner(baton, hubspot):
    claimed(baton)
    (row,) = delivered(baton, 1)
    assert (row.platform, row.recipient) == ("hubspot", "hubspot")
    assert hubspot.contacts[CONTACT]["hubspot_owner_id"] == "501"
    assert hubspot.contacts[CONTACT]["hs_lead_status"] == "IN_PROGRESS"
    assert hubspot.notes == {}


def test_contacted_and_feedback_set_the_status_and_write_one_note_each(baton, hubspot):
    lead_id = claimed(baton)
    delivered(baton, 1)
    ctx = baton.runtime.ctx
    ownership.mark_contacted(ctx, lead_id=lead_id, user=SELLER, how="call")
    delivered(baton, 2)
    assert hubspot.contacts[CONTACT]["hs_lead_status"] == "CONNECTED"
    verdict = feedback.Verdict(
        outcome="rejected", reason=reason_code("wrong decision-maker"), note="The CFO"
    )
    feedback.give(ctx, lead_id=lead_id, by=SELLER, verdict=verdict)
    delivered(baton, 3)
    assert hubspot.contacts[CONTACT]["hs_lead_status"] == "UNQUALIFIED"
    contacted, rejected = sorted(
        (n["hs_note_body"] for n in hubspot.notes_of(CONTACT)), key=lambda b: "rejected" in b
    )
    assert "Contacted" in contacted and SELLER_EMAIL in contacted
    assert "wrong decision-maker" in rejected and "The CFO" in rejected
    assert SELLER_EMAIL in rejected


def test_a_429_holds_hubspot_until_its_retry_after_then_the_change_goes(baton, hubspot):
    hubspot.fail("429", route="/crm/v3/owners", retry_after="2")
    claimed(baton)
    limits = baton.runtime.courier.limits
    assert eventually(lambda: limits.not_before("hubspot", datetime.now(UTC)) is not None)
    assert hubspot.contacts[CONTACT].get("hubspot_owner_id") is None  # nothing sent meanwhile
    (row,) = delivered(baton, 1)
    assert row.attempts == 1  # waiting was not an attempt
    assert hubspot.contacts[CONTACT]["hubspot_owner_id"] == "501"
    assert [c.status for c in hubspot.calls if c.path == "/crm/v3/owners/"][:2] == [429, 200]


def test_a_note_whose_answer_was_lost_is_written_once(baton, hubspot):
    lead_id = claimed(baton)
    delivered(baton, 1)
    hubspot.fail("drop", route="/crm/v3/objects/notes", after_work=True)
    ownership.mark_contacted(baton.runtime.ctx, lead_id=lead_id, user=SELLER)
    rows = delivered(baton, 2)
    assert rows[1].attempts == 2
    assert len(hubspot.notes_of(CONTACT)) == 1


def test_a_permanent_refusal_is_a_dead_letter_counted_in_healthz_and_metrics(baton, hubspot):
    del hubspot.owners[:]  # the seller has no HubSpot user
    claimed(baton)
    assert eventually(lambda: baton.http.get("/healthz").json()["outbox"]["dead"] == 1)
    assert "baton_outbox_dead 1.0" in baton.http.get("/metrics").text
    (row,) = crm_rows(baton)
    assert row.sent_at is None and row.next_attempt_at is None and "501" not in str(row.error)


def test_forget_cancels_queued_write_back_and_queues_none_again(baton, hubspot):
    lead_id = claimed(baton)
    delivered(baton, 1)
    ctx = baton.runtime.ctx
    hubspot.fail("429", route="/crm/v3/objects/contacts", retry_after="30")
    ownership.mark_contacted(ctx, lead_id=lead_id, user=SELLER)
    # Queued: HubSpot answered 429 and the courier has handed the row back to wait. A row
    # still in the courier's hands is not cancelled but left to it (`bot.privacy`).
    assert eventually(
        lambda: (
            hubspot.made("GET", "/crm/v3/objects/contacts/.*") == []
            and any(c.status == 429 for c in hubspot.calls)
            and [(r.sent_at is None, r.taken_until) for r in crm_rows(baton)]
            == [(False, None), (True, None)]
        )
    )
    privacy.forget(ctx, email="mette@nordlys.dk", by="U0MANAGER")
    rows = crm_rows(baton)
    assert [r.sent_at is not None for r in rows] == [True]  # the queued one is cancelled
    assert rows[0].payload == {}  # what was sent is no longer kept
    with pytest.raises(Refused):  # the lead is gone for every purpose
        ownership.mark_contacted(ctx, lead_id=lead_id, user=SELLER)
    with ctx.sessions() as session:
        lead = session.get(Lead, lead_id)
    writeback.queue(session, ctx, lead=lead, step="contacted", at=lead.forgotten_at, by=SELLER)
    assert len(crm_rows(baton)) == 1


def test_a_lead_from_elsewhere_queues_no_write_back(baton):
    answer = baton.hand_over(GOOD_LEAD)
    lead_id = answer.json()["id"]
    baton.click(SELLER, ActionId.CLAIM, lead_id)
    assert eventually(lambda: owner_of(baton, lead_id) == SELLER)
    assert crm_rows(baton) == []


def owner_of(baton: Baton, lead_id: str) -> str | None:
    with baton.runtime.ctx.sessions() as session:
        lead = session.get(Lead, lead_id)
        return lead.owner if lead else None


def test_an_assignment_sets_the_hubspot_owner(baton, hubspot):
    lead_id = handed_over(baton)
    ownership.assign(baton.runtime.ctx, lead_id=lead_id, by="U0MANAGER", to=SELLER)
    (row,) = delivered(baton, 1)
    assert (row.platform, row.payload["step"], row.payload["by"]) == (
        "hubspot",
        "assigned",
        "U0MANAGER",
    )
    assert hubspot.contacts[CONTACT]["hubspot_owner_id"] == "501"
    assert hubspot.notes == {}
