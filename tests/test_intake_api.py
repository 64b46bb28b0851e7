"""POST /api/leads through the real app: answers, idempotency, every kind of bad input."""

import json
import os
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from storage import leads
from storage.models import Lead
from tests.support import GOOD_LEAD, lead

POSTGRES = os.environ.get("BATON_TEST_POSTGRES_URL")


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
        assert stored.card_message_id is not None or slack.wait_for("chat.postMessage")


def test_an_unqualified_lead_gets_reasons_and_no_claim_button(baton, slack):
    answer = baton.hand_over(lead(country="US", employees=12, title="Intern"))
    assert answer.status_code == 201
    body = answer.json()
    assert body["qualified"] is False
    assert body["reasons"] == [
        "country US is not one of DK, SE, NO",
        "company size 12 is below the minimum of 50 employees",
        "title Intern matches none of the contact roles CIO, IT manager, HR manager, CMO",
    ]
    with baton.runtime.ctx.sessions() as session:
        stored = session.get(Lead, body["id"])
    assert [reason["code"] for reason in stored.reasons] == [
        "geography",
        "company_size",
        "contact_role",
    ]

    note = slack.wait_for("chat.postMessage")[0]
    assert note.params["channel"] == "C0MKTG"
    assert "Claim" not in json.dumps(note.json("blocks"))
    assert "company size 12 is below the minimum of 50 employees" in json.dumps(note.json("blocks"))
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


def test_a_long_non_latin_external_id_is_stored_beside_the_others_sent_with_it(baton):
    """1,000 characters of 4 bytes each: valid by the contract, and four times what a btree
    index entry may hold on PostgreSQL. Sent at once with 59 ordinary hand-overs, so they are
    written in the same groups: each of the 60 is stored, and the long one is found again."""
    long_id = _non_latin(1000, seed=6)
    bodies = [lead(external_id=f"crm-{n}", email=f"lead{n}@nordlys.dk") for n in range(59)]
    bodies.insert(30, lead(external_id=long_id, email="long@nordlys.dk"))
    answers = _sent_together(baton, bodies)
    assert [answer.status_code for answer in answers] == [201] * 60, [
        (answer.status_code, answer.text[:200]) for answer in answers if answer.status_code != 201
    ]
    again = baton.hand_over(lead(external_id=long_id, name="Someone Else"))
    assert again.status_code == 200, again.text[:300]
    assert again.json()["id"] == answers[30].json()["id"]
    assert again.json()["external_id"] == long_id
    assert again.json()["name"] == "Mette Hansen"
    assert baton.http.get("/healthz").status_code == 200


def _non_latin(length: int, seed: int) -> str:
    """Characters of 4 bytes each in UTF-8, in an order that does not compress."""
    rng = random.Random(seed)
    return "".join(chr(0x20000 + rng.randrange(40_000)) for _ in range(length))


def _sent_together(baton, bodies: list[dict]) -> list:
    with ThreadPoolExecutor(max_workers=20) as pool:
        return list(pool.map(baton.hand_over, bodies))


def test_a_lead_the_database_refuses_is_422_and_the_others_sent_with_it_are_stored(baton):
    engine = baton.runtime.engine
    with engine.begin() as connection:  # the database refuses one lead for its content
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE lead ADD CONSTRAINT no_eve CHECK (name <> 'Eve')"))
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER no_eve BEFORE INSERT ON lead WHEN NEW.name = 'Eve' "
                    "BEGIN SELECT RAISE(ABORT, 'no Eve'); END"
                )
            )
    bodies = [lead(external_id=f"crm-{n}", email=f"lead{n}@nordlys.dk") for n in range(39)]
    bodies.insert(20, lead(external_id="crm-eve", name="Eve"))
    answers = _sent_together(baton, bodies)

    refused = answers.pop(20)
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["msg"].startswith("the database refused to store this lead")
    assert problem["loc"][0] == "body"
    assert [answer.status_code for answer in answers] == [201] * 39
    assert baton.http.get("/healthz").status_code == 200
    with baton.runtime.ctx.sessions() as session:
        assert session.exec(select(func.count()).select_from(Lead)).one() == 39


@pytest.mark.parametrize("database_url", ["postgresql"] if POSTGRES else [], indirect=True)
def test_a_value_too_large_for_an_index_is_422_not_503(baton):
    """PostgreSQL refuses an index entry over 2,704 bytes with a "program limit exceeded"
    error, which arrives as an OperationalError like a lost connection: it is the row's fault,
    and the database is not unavailable. (SQLite has no such limit: PostgreSQL's alone.)"""
    engine = baton.runtime.engine
    with engine.begin() as connection:
        connection.execute(text("CREATE INDEX ix_lead_company_test ON lead (company)"))
    bodies = [lead(external_id=f"crm-{n}", email=f"lead{n}@nordlys.dk") for n in range(19)]
    bodies.insert(10, lead(external_id="crm-big", company=_non_latin(1000, seed=54)))
    answers = _sent_together(baton, bodies)

    refused = answers.pop(10)
    assert refused.status_code == 422, refused.text
    assert "index row size" in refused.json()["detail"][0]["msg"]
    assert [answer.status_code for answer in answers] == [201] * 19
    assert baton.http.get("/healthz").status_code == 200


def test_control_characters_and_direction_overrides_are_dropped_before_storing(baton, slack):
    answer = baton.hand_over(
        lead(
            name="Mette\x07 Hansen\x1b",
            company="Nordlys\u202e Maskinfabrik\u2066 A/S\u2069",
            title="CIO\r",
            challenges="Three plants\r\nPaper-based QC\rtoday\x85\tstill",
            activity=[{"at": "2026-11-20T09:12:00Z", "kind": "web\x9binar", "detail": "a\nb"}],
        )
    )
    assert answer.status_code == 201, answer.text
    with baton.runtime.ctx.sessions() as session:
        stored = leads.get(session=session, lead_id=answer.json()["id"])
    assert stored.name == "Mette Hansen"
    assert stored.company == "Nordlys Maskinfabrik A/S"
    assert stored.title == "CIO"
    assert stored.challenges == "Three plants\nPaper-based QCtoday\tstill"  # lines are kept
    assert stored.activity[0]["kind"] == "webinar"
    assert stored.activity[0]["detail"] == "a b"
    card = json.dumps(slack.wait_for("chat.postMessage")[0].params, ensure_ascii=False)
    for unseen in ("\x07", "\x1b", "\u202e", "\u2066", "\r"):
        assert unseen not in card


def test_a_name_of_nothing_but_control_characters_is_refused(baton):
    errors = _errors(baton.hand_over(lead(name="\x07\x1b\u202e ")))
    assert set(errors) == {"name"}


def test_negative_revenue_and_employees_are_refused_a_loss_is_not(baton):
    errors = _errors(baton.hand_over(lead(revenue=-1, employees=-5, profit=-200_000)))
    assert set(errors) == {"revenue", "employees"}
    assert baton.hand_over(lead(profit=-200_000)).status_code == 201


def test_a_lead_named_like_markup_shows_as_typed_on_its_card(baton, slack):
    name = "*Bold* <!channel> & _x_ ~y~ `z`"
    baton.hand_over(lead(name=name, company="<@U0CEO> & Sons"))
    post = slack.wait_for("chat.postMessage")[0]
    header, *_ = post.json("blocks")
    assert header["text"] == {
        "type": "plain_text",
        "text": "*Bold* <\u2060!channel> & _x_ ~y~ `z` · <\u2060@U0CEO> & Sons",
    }
    sections = json.dumps(post.json("blocks")[1:], ensure_ascii=False)
    assert (
        "\u2217Bold\u2217 &lt;!channel&gt; &amp; \u02cdx\u02cd \u223cy\u223c \u02cbz\u02cb"
        in (post.params["text"])
    )
    for markup in ("*Bold*", "_x_", "~y~", "`z`"):
        assert markup not in sections and markup not in post.params["text"]
    raw = json.dumps(post.params, ensure_ascii=False)
    assert "<!channel>" not in raw and "<@U0CEO>" not in raw
