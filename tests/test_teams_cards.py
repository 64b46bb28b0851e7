"""The Teams lead card and its dialogs: Adaptive Cards 1.5 by Microsoft's published schema,
within Teams' limits, with user text shown as typed."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from bot.actions import ActionId, BlockId, ViewId
from bot.agreement import Agreement
from bot.feedback import RULES
from bot.teams import answers
from bot.teams.cards import ACTIONS, CARD_BYTES, CardRenderer, CardTooLarge, fit_card
from bot.teams.connector import Connector, Conversation, card_message
from bot.teams.text import SPECIAL, WORD_JOINER, cut, markdown, special
from bot.teams.token import AppToken
from storage.models import Deadline, Feedback, Lead
from tests.fake_teams import FakeTeams
from tests.test_rendering import RECEIVED, clock, make_lead, nasty
from tests.test_teams_connector import CHANNEL, endpoints

# Microsoft's Adaptive Card schema 1.5 (MIT, Microsoft), kept with its licence, as the Slack
# manifest schema is.
SCHEMAS = Path(__file__).resolve().parent / "schemas"
SCHEMA = SCHEMAS / "adaptive-card.schema.1.5.0.json"
SCHEMA_LICENCE = SCHEMAS / "LICENSE.adaptive-card-schema"
STAGES = ["handed_over", "claimed", "contacted", "accepted", "rejected", "nurture", "won", "lost"]
MARKDOWN = "**Free** _deal_ [click](https://evil.example) {{DATE(2026-01-01T00:00:00Z)}} &amp;"
SELLERS = {"U0SELLER1": "Mads Sælger", "U0SELLER2": "Sofie *Star* Jensen"}


VALIDATOR = jsonschema.Draft6Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft6Validator:
    jsonschema.Draft6Validator.check_schema(VALIDATOR.schema)
    return VALIDATOR


@pytest.fixture
def renderer(agreement: Agreement) -> CardRenderer:
    return CardRenderer(agreement, names=SELLERS)


def assert_valid(card: dict[str, Any], validator: jsonschema.Draft6Validator) -> None:
    """Valid by the Adaptive Card schema, besides `msteams`: Teams' own property of a card
    (its @mentions), which the schema of the cards of every host does not know."""
    teams = card.get("msteams")
    if teams is not None:
        assert set(teams) == {"entities"}
        for entity in teams["entities"]:
            assert entity["type"] == "mention" and entity["mentioned"]["id"]
            assert entity["text"] in json.dumps(card["body"], ensure_ascii=False)
    plain = {key: value for key, value in card.items() if key != "msteams"}
    errors = sorted(validator.iter_errors(plain), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors]
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= CARD_BYTES
    assert len(card.get("actions") or []) <= ACTIONS


def clocks_for(stage: str, *, overdue: bool = False) -> list[Deadline]:
    due = RECEIVED + timedelta(hours=4)
    breached = {"breached_at": due} if overdue else {}
    kind = {"handed_over": "claim", "claimed": "contact", "contacted": "feedback"}.get(stage)
    return [clock(kind, due, **breached)] if kind else []


def extreme(stage: str) -> Lead:
    text = nasty(1000) + MARKDOWN
    return make_lead(
        name=text,
        email=text,
        company=text,
        title=text,
        phone=text,
        industry=text,
        buying_stage=text,
        source=text,
        budget=text,
        challenges=(MARKDOWN + "\n- a list\n1. numbered\n") * 200,
        employees=10**9,
        revenue=1e15,
        profit=-3e12,
        activity=[
            {"at": "2026-11-20T09:12:00+00:00", "kind": text, "detail": text} for _ in range(200)
        ],
        stage=stage,
        owner="U0SELLER1" if stage != "handed_over" else None,
    )


def texts(node: Any) -> list[str]:
    """Every text a reader sees: TextBlocks and facts."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += texts(item)
    elif isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        if set(node) == {"title", "value"}:
            found += [node["title"], node["value"]]
        for child in node.values():
            found += texts(child) if isinstance(child, dict | list) else []
    return found


def test_the_schema_and_its_licence_are_part_of_the_repository() -> None:
    assert "Microsoft" in SCHEMA_LICENCE.read_text()
    assert (
        json.loads(SCHEMA.read_text())["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    )


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("overdue", [False, True])
def test_the_lead_card_is_a_valid_adaptive_card(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, stage: str, overdue: bool
) -> None:
    lead = make_lead(stage=stage, owner=None if stage == "handed_over" else "U0SELLER1")
    feedback = Feedback(lead_id=lead.id, by="U0SELLER1", outcome=stage, reason="Too small")
    card = renderer.card(lead, clocks_for(stage, overdue=overdue), feedback)
    assert_valid(card, validator)
    assert card["version"] == "1.5"
    assert card["body"][0]["text"] == "Mette Hansen · Nordlys Maskinfabrik A/S"


@pytest.mark.parametrize("stage", STAGES)
def test_an_extreme_lead_still_fits_and_validates(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, stage: str
) -> None:
    card = renderer.card(extreme(stage), clocks_for(stage, overdue=True))
    assert_valid(card, validator)
    assert any(text.endswith("…") for text in texts(card))


def test_an_erased_lead_shows_nothing_of_the_person(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator
) -> None:
    card = renderer.card(make_lead(forgotten_at=RECEIVED), [])
    assert_valid(card, validator)
    dumped = json.dumps(card)
    assert "Mette" not in dumped and "actions" not in card


def test_the_unclaimed_card_offers_the_four_actions(renderer: CardRenderer) -> None:
    lead = make_lead()
    card = renderer.card(lead, clocks_for("handed_over"))
    actions = {a["title"]: a for a in card["actions"]}
    assert list(actions) == ["Claim", "Assign", "Mark contacted", "Give feedback"]
    for title, verb in (("Claim", ActionId.CLAIM), ("Mark contacted", ActionId.MARK_CONTACTED)):
        assert actions[title]["type"] == "Action.Execute"
        assert actions[title]["verb"] == verb
        assert actions[title]["data"] == {"value": lead.id}  # the Slack button's value
    for title, action in (("Assign", ActionId.ASSIGN), ("Give feedback", ActionId.GIVE_FEEDBACK)):
        assert actions[title]["type"] == "Action.Submit"  # Teams opens a dialog only from these
        assert actions[title]["data"] == {
            "msteams": {"type": "task/fetch"},
            "action": action,
            "value": lead.id,
        }
    assert "claim by Thu 26 Nov, 13:00 (CET)" in card["body"][-1]["text"]


def test_a_claimed_card_names_the_owner_and_the_contact_deadline(renderer: CardRenderer) -> None:
    card = renderer.card(make_lead(stage="claimed", owner="U0SELLER2"), clocks_for("claimed"))
    status = card["body"][-1]["text"]
    assert status == "👤 Owner Sofie ∗Star∗ Jensen · contact by Thu 26 Nov, 13:00 (CET)"
    assert [a["title"] for a in card["actions"]] == [
        "Mark contacted",
        "Give feedback",
        "Release",
        "Assign",
        "Pause clock",
    ]
    paused = make_lead(stage="claimed", owner="U0SELLER2")
    paused.paused_at = RECEIVED
    card = renderer.card(paused, clocks_for("claimed"))
    assert "Pause clock" not in [a["title"] for a in card["actions"]]


def test_an_overdue_card_says_so_in_red(renderer: CardRenderer) -> None:
    card = renderer.card(make_lead(), clocks_for("handed_over", overdue=True))
    assert card["body"][-1]["text"].endswith("🚨 **overdue**")
    assert card["body"][-1]["color"] == "Attention"


def test_user_text_is_shown_as_typed_and_formats_nothing(renderer: CardRenderer) -> None:
    lead = make_lead(name=MARKDOWN, company="- Nordlys", challenges="1. first\n# second")
    card = renderer.card(lead, [])
    shown = texts(card)
    title = card["body"][0]["text"]
    assert "**" not in title and "](" not in title and "{{" not in title and "&amp;" not in title
    readable = title.replace(WORD_JOINER, "").replace("∗", "*").replace("ˍ", "_")
    assert readable == f"{MARKDOWN} · - Nordlys"
    assert f"Challenges: {WORD_JOINER}1. first\n{WORD_JOINER}# second" in shown
    # Baton's own Markdown stays Markdown
    assert card["body"][-1]["text"].startswith("📥 **Unclaimed**")
    # and where Teams shows text as it is, the value is as typed
    assert card["fallbackText"].startswith(f"Lead: {MARKDOWN}")


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("plain", "plain"),
        ("**bold**", "∗∗bold∗∗"),
        ("_it_", "ˍitˍ"),
        ("[a](b)", f"[a]{WORD_JOINER}(b)"),
        ("{{TIME(x)}}", "{" + WORD_JOINER + "{TIME(x)}}"),
        ("&copy;", f"&{WORD_JOINER}copy;"),
        ("- item", f"{WORD_JOINER}- item"),
        ("x\n 2. two", f"x\n {WORD_JOINER}2. two"),
        ("3.1M", "3.1M"),
        ("+45 32 12", "+45 32 12"),
        ("\\[a]", f"\\{WORD_JOINER}[a]"),
    ],
)
def test_markdown_escaping(typed: str, written: str) -> None:
    assert markdown(typed) == written


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain",
        "  - item",
        "\t# h",
        "12. x",
        "12.x",
        "٣) x",
        "² x",
        "x\n> q",
        "a-b",
        "3.1M",
        "a_b",
        " +1 x",
        "+45 32 12",
        "x\r\n- y",
        "—",
        "2026-01-03",
        "a@b.c",
        "]",
        "\\",
        "{x",
    ],
)
def test_special_says_what_the_pattern_says(text: str) -> None:
    """The cheap check a card makes of every value agrees with the full pattern."""
    assert special(text) == bool(SPECIAL.search(text))


def test_cut_shows_the_cut() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdef", 4) == "abc…"


def test_a_card_that_cannot_fit_is_refused() -> None:
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "x" * 90} for _ in range(1000)],
    }
    with pytest.raises(CardTooLarge):
        fit_card(card)


def test_a_card_with_too_many_actions_is_refused() -> None:
    action = {"type": "Action.Execute", "title": "x", "verb": "x"}
    with pytest.raises(ValueError, match="at most 6"):
        fit_card({"type": "AdaptiveCard", "body": [], "actions": [action] * 7})


def test_the_feedback_dialog_asks_what_the_slack_modal_asks(
    renderer: CardRenderer, agreement: Agreement, validator: jsonschema.Draft6Validator
) -> None:
    lead = make_lead(stage="contacted", owner="U0SELLER1")
    answer = renderer.feedback_dialog(lead)
    task = answer["task"]
    assert task["type"] == "continue"
    assert task["value"]["title"] == "Give feedback"
    assert task["value"]["card"]["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = task["value"]["card"]["content"]
    assert_valid(card, validator)
    inputs = {item["id"]: item for item in card["body"] if item["type"].startswith("Input.")}
    assert list(inputs) == [
        BlockId.OUTCOME,
        BlockId.REASON,
        BlockId.MISSED,
        BlockId.RECHECK,
        BlockId.NOTE,
    ]
    assert [c["value"] for c in inputs[BlockId.OUTCOME]["choices"]] == [
        "accepted",
        "rejected",
        "nurture",
    ]
    assert inputs[BlockId.OUTCOME]["isRequired"]
    assert [c["value"] for c in inputs[BlockId.REASON]["choices"]] == [
        reason.code for reason in agreement.feedback_reasons
    ]
    assert [c["value"] for c in inputs[BlockId.MISSED]["choices"]] == list(RULES)
    assert inputs[BlockId.MISSED]["isMultiSelect"]
    assert inputs[BlockId.RECHECK]["type"] == "Input.Date"
    assert inputs[BlockId.NOTE]["isMultiline"] and inputs[BlockId.NOTE]["maxLength"] == 3000
    (send,) = card["actions"]
    assert send["data"] == {"action": ViewId.FEEDBACK, "value": lead.id}


def test_the_assign_dialog_offers_the_agreements_sellers(
    renderer: CardRenderer, agreement: Agreement, validator: jsonschema.Draft6Validator
) -> None:
    lead = make_lead(stage="claimed", owner="U0SELLER1")
    card = renderer.assign_dialog(lead)["task"]["value"]["card"]["content"]
    assert_valid(card, validator)
    assert "Now owned by Mads Sælger" in card["body"][0]["text"]
    (picker,) = [item for item in card["body"] if item["type"] == "Input.ChoiceSet"]
    assert picker["id"] == BlockId.ASSIGNEE
    assert [(c["title"], c["value"]) for c in picker["choices"]] == [
        (SELLERS.get(seller, seller), seller) for seller in agreement.people.sales
    ]
    assert picker["choices"][1]["title"] == "Sofie *Star* Jensen"  # a choice shows as typed
    assert card["actions"][0]["data"] == {"action": ViewId.ASSIGN, "value": lead.id}


def test_the_extend_dialog_asks_why_as_the_slack_modal_does(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator
) -> None:
    lead = make_lead(stage="claimed", owner="U0SELLER1")
    card = renderer.extend_dialog(lead, "contact")["task"]["value"]["card"]["content"]
    assert_valid(card, validator)
    assert "one more contact window of" in card["body"][0]["text"]
    (why,) = [item for item in card["body"] if item["type"] == "Input.Text"]
    assert (why["id"], why["maxLength"], why["isRequired"]) == (BlockId.REASON, 1000, True)
    assert card["actions"][0]["data"] == {"action": ViewId.EXTEND, "value": f"{lead.id}:contact"}


def test_the_pause_dialog_asks_what_the_slack_modal_asks_and_keeps_what_was_typed(
    renderer: CardRenderer, agreement: Agreement, validator: jsonschema.Draft6Validator
) -> None:
    lead = make_lead(stage="claimed", owner="U0SELLER1", name="**Free** [x](y) " + nasty(300))
    typed = {BlockId.UNTIL.value: "2026-12-01", BlockId.NOTE.value: "_Back_ {{DATE(x)}} " * 50}
    errors = {BlockId.REASON.value: "Choose a reason or write a note: a pause needs a why."}
    answer = renderer.pause_dialog(
        lead, tomorrow="2026-11-27", latest="2026-12-10", errors=errors, given=typed
    )
    assert answer["task"]["value"]["title"] == "Pause the clock"
    card = answer["task"]["value"]["card"]["content"]
    assert_valid(card, validator)
    assert "\u2217\u2217Free\u2217\u2217 [x]\u2060(y)" in card["body"][0]["text"]  # as typed
    inputs = {item["id"]: item for item in card["body"] if item["type"].startswith("Input.")}
    assert list(inputs) == [BlockId.UNTIL, BlockId.REASON, BlockId.NOTE]
    until = inputs[BlockId.UNTIL]
    assert (until["type"], until["min"], until["max"]) == ("Input.Date", "2026-11-27", "2026-12-10")
    assert until["value"] == "2026-12-01"
    assert inputs[BlockId.NOTE]["value"] == typed[BlockId.NOTE.value]  # an input, as typed
    assert [c["value"] for c in inputs[BlockId.REASON]["choices"]] == [
        reason.code for reason in agreement.pause.reasons
    ]
    assert errors[BlockId.REASON.value] in json.dumps(card)
    assert card["actions"][0]["data"] == {"action": ViewId.PAUSE, "value": lead.id}


@pytest.mark.parametrize("stage", ["handed_over", "claimed"])
def test_the_extreme_card_is_taken_by_a_connector_that_enforces_teams_limit(
    renderer: CardRenderer, stage: str
) -> None:
    card = renderer.card(extreme(stage), clocks_for(stage))
    with FakeTeams() as teams:

        async def post() -> str:
            async with httpx.AsyncClient(timeout=5) as http:
                token = AppToken(endpoints(teams), http=http, clock=lambda: datetime.now(UTC))
                connector = Connector(endpoints(teams), token=token, http=http)
                message = card_message(card, summary=card["fallbackText"])
                return await connector.post(Conversation(CHANNEL, teams.service_url), message)

        assert asyncio.run(post())
        (posted,) = teams.activities(CHANNEL)
        assert posted.body["attachments"][0]["content"] == card


# answers to invokes ----------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["handed_over", "claimed"])
def test_a_card_answer_carries_the_card_unchanged(renderer: CardRenderer, stage: str) -> None:
    card = renderer.card(extreme(stage), clocks_for(stage))
    expected = json.loads(json.dumps(card))
    assert answers.card(card) == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": expected,
    }


def test_a_notice_is_shown_to_the_person_who_clicked() -> None:
    assert answers.notice("Already claimed by Mads") == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Already claimed by Mads",
    }


def test_a_dialog_closes_quietly_or_with_a_line() -> None:
    assert answers.closed() == {}
    assert answers.closed("Feedback sent") == {
        "task": {"type": "message", "value": "Feedback sent"}
    }


def test_a_dialog_title_is_cut_to_what_teams_shows() -> None:
    card = {"type": "AdaptiveCard", "version": "1.5", "body": []}
    value = answers.dialog("x" * 100, card, height="small")["task"]["value"]
    assert len(value["title"]) == answers.TITLE and value["title"].endswith("…")
    assert (value["width"], value["height"]) == ("medium", "small")


CONSEQUENCE_FACTS: dict[str, list[dict[str, Any]]] = {
    "reassigned": [
        {"role": role, "to": to, "why": "round robin", "clock": "contact", "from": "U0SELLER1"}
        | {"late_seconds": 3600.0, "card_link": link}
        for role in ("previous_owner", "sales_manager")
        for to in ("U0SELLER2", None)
        for link in ("https://teams.example/card", None)
    ],
    "out_of_rotation": [
        {"role": role, "seller": "U0SELLER1", "breaches": 3, "limit": 3, "card_link": None}
        for role in ("seller", "sales_manager")
    ],
    "back_in_rotation": [{"by": "U0MANAGER", "lead": None, "card_link": None}],
    "marketing_shortfall": [
        {"role": role, "month": "November 2026", "qualified": 3, "committed": 8}
        | {"pro_rata": 6.4, "behind_share": 0.531, "agreed_share": 0.2, "lead": None}
        | {"card_link": None}
        for role in ("ceo", "marketing")
    ],
}


@pytest.mark.parametrize(
    ("template", "facts"),
    [(name, facts) for name, cases in CONSEQUENCE_FACTS.items() for facts in cases],
)
def test_the_consequences_are_valid_adaptive_cards(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, template: str, facts: dict
) -> None:
    facts = {"lead": make_lead(name=nasty(150), stage="claimed", owner="U0SELLER1")} | facts
    card = renderer.message(template, **facts)
    assert_valid(card, validator)
    assert "{{" not in json.dumps(card)


def test_a_paused_card_says_who_paused_it_until_when_and_why(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator
) -> None:
    lead = make_lead(stage="claimed", owner="U0SELLER1")
    lead.paused_at, lead.paused_until, lead.paused_by = (
        RECEIVED,
        RECEIVED + timedelta(days=3),
        "U0SELLER1",
    )
    lead.pause_reason, lead.pause_note = "customer_out_of_office", "Back <b>Monday</b>"
    card = renderer.card(lead, clocks_for("claimed"))
    assert_valid(card, validator)
    text = json.dumps(card, ensure_ascii=False)
    assert "Clock paused" in text and "customer out of office" in text


def test_the_card_says_who_baton_assigned_and_why(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator
) -> None:
    routed = {"kind": "assigned", "to": "U0SELLER2", "reason": "round robin, weight 2"}
    card = renderer.card(
        make_lead(stage="claimed", owner="U0SELLER2"), clocks_for("claimed"), None, routed
    )
    assert_valid(card, validator)
    assert card["body"][-1]["text"] == (
        "🔀 Assigned by Baton to Sofie ∗Star∗ Jensen: round robin, weight 2"
    )
    nobody = {"kind": "not_assigned", "to": "", "reason": "nobody is available: 3 away"}
    card = renderer.card(make_lead(), clocks_for("handed_over"), None, nobody)
    assert card["body"][-1]["text"] == (
        "🔀 Open for Claim: Baton could not assign it, nobody is available: 3 away"
    )
    assert card["actions"][0]["title"] == "Claim"


def test_a_card_rendered_again_is_the_same(renderer: CardRenderer) -> None:
    """Values a card writes are remembered as written: the next card with the same values,
    and a value needing Markdown's escaping, is rendered just as the first."""
    for stage in STAGES:
        plain = make_lead(stage=stage, owner="U0SELLER2", name="Ann Berg", company="Acme")
        marked = make_lead(stage=stage, owner="U0SELLER2", name=MARKDOWN, company="Acme")
        first = [renderer.card(lead, clocks_for(stage)) for lead in (plain, marked)]
        assert [renderer.card(lead, clocks_for(stage)) for lead in (plain, marked)] == first
        assert first[1]["body"][0]["text"] == f"{markdown(MARKDOWN)} · Acme"
