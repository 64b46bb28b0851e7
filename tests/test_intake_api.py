"""POST /api/leads through the real app: answers, idempotency, every kind of bad input."""

import json

import pytest
from sqlalchemy import func
from sqlmodel import select

from storage import leads
from storage.models import Lead
from tests.support import GOOD_LEAD, lead


def test_a_qualified_lead_is_stored_and_its_card_posted(baton, slack):
    answer = baton.hand_over(GOOD_LEAD)
    assert answer.status_code == 201
    body = answer.json()
    assert body["qualified"] is True
    assert body["reasons"] == []
    assert isinstance(body["id"], str)

    post = slack.wait_for("chat.postMessage")[0]
    assert post.params["channel"] == "C0SALES"
    blocks = post.json("blocks")
    texts = json.dumps(blocks)
    for word in ("Claim", "Assign", "Mark contacted", "Give feedback", "Mette Hansen"):
        assert word in texts
    with baton.runtime.ctx.sessions() as session:
        stored = leads.get(session=session, lead_id=body["id"])
        assert stored.phone == "+4532123456"
        assert stored.revenue == 48000000
        assert stored.activity[0]["kind"] == "webinar"
        assert stored.card_ts is not None or slack.wait_for("chat.postMessage")


def test_an_unqualified_lead_gets_reasons_and_no_claim_button(baton, slack):
    answer = baton.hand_over(lead(country="US", employees=12, title="Intern"))
    assert answer.status_code == 201
    body = answer.json()
    assert body["qualified"] is False
    assert len(body["reasons"]) == 3
    assert any("country US" in reason for reason in body["reasons"])

    note = slack.wait_for("chat.postMessage")[0]
    assert note.params["channel"] == "C0MKTG"
    assert "Claim" not in json.dumps(note.json("blocks"))
    assert not [c for c in slack.calls_to("chat.postMessage") if c.params["channel"] == "C0SALES"]


def test_the_same_external_id_three_times_posts_once(baton, slack):
    first = baton.hand_over(lead(external_id="crm-42"))
    second = baton.hand_over(lead(external_id="crm-42", name="Someone Else"))
    third = baton.hand_over(lead(external_id="crm-42"))
    assert first.status_code == 201
    assert second.status_code == third.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["name"] == "Mette Hansen"
    assert second.json()["qualified"] is True
    slack.wait_for("chat.postMessage")
    baton.hand_over(lead(external_id="crm-43"))
    slack.wait_for("chat.postMessage", 2)
    assert len(slack.calls_to("chat.postMessage")) == 2


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "Basic dGVzdA==", "Bearer test-intake-tokenX"]
)
def test_intake_without_the_right_token_is_401(baton, slack, header):
    headers = {"Authorization": header} if header else {}
    answer = baton.http.post("/api/leads", json=GOOD_LEAD, headers=headers)
    assert answer.status_code == 401
    with baton.runtime.ctx.sessions() as session:
        assert session.exec(select(func.count()).select_from(Lead)).one() == 0


def _errors(answer) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    return {".".join(map(str, e["loc"][1:])): e["msg"] for e in answer.json()["detail"]}


def test_every_field_error_comes_back_at_once(baton):
    answer = baton.hand_over(
        {"name": "", "email": "not-an-email", "phone": "12", "country": "XX", "employees": -1}
    )
    errors = _errors(answer)
    assert set(errors) >= {"name", "email", "company", "phone", "country", "employees"}
    assert "email" in errors["email"]
    for item in answer.json()["detail"]:
        assert set(item) == {"loc", "msg", "type"}


def test_a_phone_number_is_normalised_using_the_country(baton):
    answer = baton.hand_over(lead(phone="32 12 34 56", country="DK", external_id="p1"))
    assert answer.status_code == 201
    stored = baton.hand_over(lead(external_id="p1")).json()
    assert stored["phone"] == "+4532123456"


def test_an_unparseable_phone_number_says_so(baton):
    errors = _errors(baton.hand_over(lead(phone="call me maybe", country=None)))
    assert "is not a phone number" in errors["phone"]


def test_oversized_fields_are_refused(baton):
    errors = _errors(
        baton.hand_over(
            lead(
                name="x" * 100_000,
                challenges="y" * 10_001,
                activity=[GOOD_LEAD["activity"][0]] * 201,
            )
        )
    )
    assert {"name", "challenges", "activity"} <= set(errors)


def test_malformed_json_is_a_4xx_not_a_500(baton):
    answer = baton.http.post(
        "/api/leads",
        content=b"{not json",
        headers={"Authorization": "Bearer test-intake-token", "Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500


def test_the_openapi_document_describes_the_intake(baton):
    document = baton.http.get("/openapi.json").json()
    operation = document["paths"]["/api/leads"]["post"]
    assert {"201", "200", "422"} <= set(operation["responses"])
    assert "LeadIn" in json.dumps(operation["requestBody"])


def test_a_lead_named_like_a_mention_pings_nobody(baton, slack):
    baton.hand_over(lead(name="<!channel> Eve <@U0CEO>", company="Acme & <Sons>"))
    post = slack.wait_for("chat.postMessage")[0]
    raw = json.dumps(post.params)
    assert "<!channel>" not in raw
    assert "<@U0CEO>" not in raw
    assert "&lt;!channel&gt;" in raw
