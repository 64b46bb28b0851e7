"""`@Baton lead` on Teams through the real app with signed activities: the command's button,
the hand-over dialog with the Slack modal's fields and checks, and a lead that goes through
the API's intake (a qualified one's card in the sales channel, posted to the fake Teams)."""

import json
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import select

from bot.actions import ActionId, ViewId
from bot.agreement import Agreement
from bot.schemas import LeadIn
from bot.teams.cards import CardRenderer
from storage.models import Lead, Outbox
from tests.fake_teams import FakeTeams
from tests.support import GOOD_LEAD, eventually
from tests.teams_support import (
    MANAGER,
    MARKETING,
    MKTG,
    SALES,
    SELLERS,
    TeamsBaton,
    activity,
    teams_baton,
)
from tests.test_rendering import nasty
from tests.test_teams_cards import MARKDOWN, VALIDATOR, assert_valid, extreme, texts
from tests.test_teams_e2e import install

FORM = {
    key: str(value)
    for key, value in GOOD_LEAD.items()
    if key not in ("profit", "activity", "external_id")
}
"""The dialog's fields as Teams sends them: every value as text."""


@pytest.fixture
def baton(teams: FakeTeams, database_url: str) -> Iterator[TeamsBaton]:
    with teams_baton(teams, database_url) as running:
        install(running)
        yield running


def ask(baton: TeamsBaton, user: str, text: str, where: str) -> dict[str, Any]:
    """`text` said to Baton by `user` in their 1:1 `where`: the card Baton answered with."""
    baton.teams.conversations.setdefault(where, [])
    said = activity("message", user=user, conversation=where, personal=True, text=text)
    assert baton.send(said).status_code == 200
    (reply,) = eventually(
        lambda: [a.body for a in baton.teams.activities(where) if a.sender == baton.teams.app_id]
    )
    card = reply["attachments"][0]["content"]
    assert_valid(card, VALIDATOR)
    return card


def opened(baton: TeamsBaton, user: str = MKTG) -> dict[str, Any]:
    """The dialog `user` opens with the command's button: its card, checked as Teams would."""
    answer = baton.fetch(user, ActionId.HAND_OVER, "").json()
    assert answer["task"]["type"] == "continue", answer
    assert answer["task"]["value"]["title"] == "Hand over a lead"
    dialog = answer["task"]["value"]["card"]["content"]
    assert_valid(dialog, VALIDATOR)
    return dialog


def form_of(dialog: dict[str, Any]) -> str:
    (send,) = dialog["actions"]
    assert send["data"]["action"] == ViewId.HAND_OVER
    return str(send["data"]["value"])


def submit(baton: TeamsBaton, form: str, user: str = MKTG, **fields: Any) -> dict[str, Any]:
    answer = baton.submit(user, ViewId.HAND_OVER, form, **fields)
    assert answer.status_code == 200, answer.text
    return answer.json()


def inputs(dialog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in dialog["body"] if e["type"].startswith("Input.")}


def shown_errors(dialog: dict[str, Any]) -> dict[str, str]:
    """Each field's problem, as the TextBlock under it says it."""
    found: dict[str, str] = {}
    body = dialog["body"]
    for before, element in pairwise(body):
        if element.get("color") == "Attention" and before["type"].startswith("Input."):
            found[before["id"]] = element["text"]
    return found


def leads(baton: TeamsBaton) -> list[Lead]:
    with baton.runtime.ctx.sessions() as session:
        return list(session.exec(select(Lead)).all())


def outbox(baton: TeamsBaton, lead_id: str) -> list[Outbox]:
    with baton.runtime.ctx.sessions() as session:
        return list(session.exec(select(Outbox).where(Outbox.lead_id == lead_id)).all())


def cards_in_sales(teams: FakeTeams) -> list[str]:
    return [
        json.dumps(a.body["attachments"][0]["content"], ensure_ascii=False)
        for a in teams.activities(SALES)
        if a.conversation == SALES
    ]


def test_the_command_answers_with_the_button_that_opens_the_dialog(baton):
    card = ask(baton, MKTG, "<at>Baton</at> lead", "a:1lead")
    (button,) = card["actions"]
    assert button["type"] == "Action.Submit" and button["title"] == "Hand over a lead"
    assert button["data"]["msteams"] == {"type": "task/fetch"}
    assert button["data"]["action"] == ActionId.HAND_OVER
    helped = json.dumps(ask(baton, MKTG, "help", "a:1help"))
    assert '"title": "lead"' in helped

    dialog = opened(baton)
    fields = inputs(dialog)
    assert list(fields) == [
        "name",
        "email",
        "company",
        "title",
        "phone",
        "country",
        "industry",
        "buying_stage",
        "budget",
        "source",
        "challenges",
        "employees",
        "revenue",
    ]  # the Slack modal's blocks, in its order
    assert [f for f, e in fields.items() if e.get("isRequired")] == ["name", "email", "company"]
    assert fields["challenges"]["isMultiline"] and fields["employees"]["type"] == "Input.Number"
    assert fields["industry"]["placeholder"] == "manufacturing, software"
    assert form_of(dialog) and form_of(opened(baton)) != form_of(dialog)  # one id per dialog


def test_only_marketing_and_the_sales_manager_may_hand_over_and_are_told_alone(baton):
    refused = baton.fetch(SELLERS[0], ActionId.HAND_OVER, "").json()
    assert refused["task"] == {
        "type": "message",
        "value": "Only Marketing or the sales manager may hand over leads. Nothing was changed.",
    }
    assert form_of(opened(baton, MANAGER))
    form = form_of(opened(baton))
    forged = submit(baton, form, SELLERS[0], **FORM)  # a submit not from the dialog's opener
    assert forged["task"]["type"] == "message" and "may hand over leads" in forged["task"]["value"]
    assert leads(baton) == []
    # A seller asking in the sales channel gets the same button; nothing there says no.
    question = activity("message", user=SELLERS[0], text="<at>Baton</at> lead")
    assert baton.send(question).status_code == 200
    (reply,) = eventually(
        lambda: [a for a in baton.teams.activities(SALES) if a.sender == baton.teams.app_id]
    )
    assert "may hand over" not in json.dumps(reply.body)


def test_every_field_problem_is_shown_under_its_field_and_nothing_is_stored(baton):
    form = form_of(opened(baton))
    typed = {
        **FORM,
        "email": "not an email",
        "country": "XX",
        "company": "   ",
        "phone": "12",
        "employees": "12.5",
        "title": "Head of Things",
    }
    answer = submit(baton, form, **typed)
    assert answer["task"]["type"] == "continue"
    again = answer["task"]["value"]["card"]["content"]
    assert_valid(again, VALIDATOR)
    with pytest.raises(ValidationError) as slack_would_say:
        LeadIn.model_validate(typed)
    expected: dict[str, str] = {}
    for problem in slack_would_say.value.errors():  # the Slack modal's words (handlers/views.py)
        expected.setdefault(str(problem["loc"][0]), problem["msg"].removeprefix("Value error, "))
    assert shown_errors(again) == expected
    assert set(expected) == {"email", "country", "company", "phone", "employees"}
    assert "is not a valid email address" in expected["email"]
    assert expected["country"] == '"XX" is not an ISO 3166 alpha-2 country code like DK'
    values = {name: e.get("value") for name, e in inputs(again).items()}
    assert values["email"] == "not an email" and values["title"] == "Head of Things"
    assert values["employees"] == 12.5 and values["company"] == "   "
    assert form_of(again) == form  # the same dialog: sent again, it is the same hand-over
    assert leads(baton) == []
    with baton.runtime.ctx.sessions() as session:
        assert session.exec(select(Outbox)).all() == []


def test_a_qualified_lead_goes_to_the_sales_channel_as_one_from_the_api(baton, teams):
    form = form_of(opened(baton))
    answer = submit(baton, form, **FORM)
    assert answer["task"]["type"] == "continue"
    verdict = answer["task"]["value"]["card"]["content"]
    assert_valid(verdict, VALIDATOR)
    said = json.dumps(verdict, ensure_ascii=False)
    assert "Handed over: Mette Hansen at Nordlys Maskinfabrik A/S is qualified" in said

    (stored,) = leads(baton)
    assert (stored.handed_over_by, stored.qualified, stored.employees) == (MKTG, True, 240)
    assert stored.external_id == f"teams-{form}" and stored.source == "webinar"
    (card,) = eventually(lambda: cards_in_sales(teams))
    assert "Mette Hansen" in card and ActionId.CLAIM.value in card

    api = baton.hand_over({**GOOD_LEAD, "email": "other@nordlys.dk"}).json()["id"]
    eventually(lambda: len(cards_in_sales(teams)) == 2)
    queued = [(row.kind, row.recipient, row.priority) for row in outbox(baton, stored.id)]
    assert queued == [(row.kind, row.recipient, row.priority) for row in outbox(baton, api)]

    twice = submit(baton, form, **FORM)  # Teams delivering the dialog's submit again
    assert "was handed over before; nothing changed" in json.dumps(twice)
    assert len(leads(baton)) == 2 and len(cards_in_sales(teams)) == 2


def test_a_lead_that_is_not_qualified_is_answered_with_why(baton, teams):
    form = form_of(opened(baton))
    answer = submit(
        baton, form, **{**FORM, "country": "", "phone": "", "employees": "12", "source": ""}
    )
    verdict = answer["task"]["value"]["card"]["content"]
    assert_valid(verdict, VALIDATOR)
    lines = [block["text"] for block in verdict["body"]]
    assert "does not meet the definition of a qualified lead" in lines[0]
    assert len(lines) == 3 and all(line.startswith("• ") for line in lines[1:])
    assert "12" in lines[2] or "12" in lines[1]
    (stored,) = leads(baton)
    assert not stored.qualified and stored.source == "teams"  # no source given: where it came
    eventually(lambda: baton.teams.activities(MARKETING))  # Marketing's channel hears it
    assert cards_in_sales(teams) == []


def test_a_forged_submit_of_any_length_is_answered_within_teams_limits(baton):
    form = form_of(opened(baton))
    huge = nasty(20_000) + MARKDOWN
    answer = submit(baton, form, **{**{name: huge for name in FORM}, "employees": "1e400"})
    again = answer["task"]["value"]["card"]["content"]
    assert_valid(again, VALIDATOR)  # the Adaptive Card schema, and 27 KB
    errors = shown_errors(again)
    assert errors["name"] == "String should have at most 1000 characters"
    assert errors["employees"].startswith("Input should be")
    values = {name: e.get("value") for name, e in inputs(again).items()}
    assert len(values["name"]) == 1000 and len(values["challenges"]) == 3000
    assert values["employees"] is None  # not a number Teams can show
    assert leads(baton) == []


def test_the_verdict_shows_user_text_as_typed_and_fits(agreement: Agreement):
    renderer = CardRenderer(agreement)
    lead = extreme("unqualified")
    lead.qualified = False
    lead.reasons = [nasty(2000) + MARKDOWN] * 30
    for created in (True, False):
        verdict = renderer.message("handover_verdict", lead=lead, created=created)
        assert_valid(verdict, VALIDATOR)
        assert verdict["fallbackText"]
        for shown in texts(verdict):
            assert "**" + MARKDOWN[2:6] not in shown  # the lead's `**Free**` is never bold
    dialog = renderer.message(
        "handover_dialog",
        form="x",
        errors={name: nasty(3000) + MARKDOWN for name in FORM},
        given={name: nasty(1000) for name in FORM if name not in ("employees", "revenue")},
    )
    assert_valid(dialog, VALIDATOR)


def test_a_submit_of_a_dialog_baton_did_not_open_is_refused(baton):
    for form in ("x" * 5000, "../teams", "ABC"):
        answer = submit(baton, form, **FORM)
        assert answer["task"]["type"] == "message", answer
    assert leads(baton) == []
