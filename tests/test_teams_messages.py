"""The Teams messages beside the card (reminders, escalations, feedback, assignments,
notices): the same facts as the Slack templates, as valid Adaptive Cards within Teams' limits."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.actions import ActionId
from bot.agreement import Agreement
from bot.teams.cards import CardRenderer
from bot.teams.text import WORD_JOINER
from tests.test_rendering import NOTICE_DETAILS, RECEIVED, make_lead, nasty
from tests.test_teams_cards import MARKDOWN, SELLERS, assert_valid, extreme, texts

TEAMS_TEMPLATES = Path(__file__).resolve().parent.parent / "bot" / "teams" / "templates"
SLACK_TEMPLATES = TEAMS_TEMPLATES.parent.parent / "slack" / "templates"
DUE = (RECEIVED + timedelta(hours=4)).isoformat()
LINK = "https://teams.microsoft.com/l/message/19%3Aabc%40thread.tacv2/1700000000000"
HISTORY = [{"at": RECEIVED.isoformat(), "actor": "U0SELLER1", "kind": "claimed"}] * 10


def facts(template: str, text: str = "") -> dict[str, Any]:
    """Facts as the domain queues them for `template` (see bot/escalation.py, feedback.py)."""
    feedback = {
        "by": "U0SELLER1",
        "outcome": "rejected",
        "reason": text or "Too small",
        "missed_rules": ["company size", "budget"],
        "note": text * 20 or "Ten people, no budget this year.",
        "recheck_on": "2027-03-01",
        "card_link": LINK,
    }
    return {
        "reminder_owner": {"kind": "contact", "due_at": DUE, "card_link": LINK},
        "reminder_unclaimed": {"kind": "claim", "due_at": DUE, "sellers": list(SELLERS)},
        "escalation": {
            "kind": "claim",
            "due_at": DUE,
            "late_seconds": 5400.0,
            "role": "sales_manager",
            "extended": False,
            "history": HISTORY,
            "card_link": LINK,
        },
        "feedback_thread": feedback,
        "feedback_marketing": feedback,
        "assigned_to_you": {"by": "U0MANAGER", "card_link": LINK},
    }[template]


MESSAGES = [
    "reminder_owner",
    "reminder_unclaimed",
    "escalation",
    "feedback_thread",
    "feedback_marketing",
    "assigned_to_you",
]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft6Validator:
    from tests.test_teams_cards import SCHEMA

    return jsonschema.Draft6Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture
def renderer(agreement: Agreement) -> CardRenderer:
    return CardRenderer(agreement, names=SELLERS)


def test_every_teams_message_has_a_slack_twin() -> None:
    teams = {path.name for path in TEAMS_TEMPLATES.glob("*.json.j2")}
    kinds = ("feedback", "assign", "extend", "pause", "handover")
    dialogs = {f"{kind}_dialog.json.j2" for kind in kinds}
    told = {"told.json.j2"}  # Slack's twin is an ephemeral notice
    told |= {"handover_start.json.j2"}  # Slack's command opens the form itself
    assert teams - dialogs - told <= {path.name for path in SLACK_TEMPLATES.glob("*.json.j2")}


@pytest.mark.parametrize("template", MESSAGES)
def test_each_message_is_a_valid_card(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, template: str
) -> None:
    card = renderer.message(template, lead=make_lead(owner="U0SELLER1"), **facts(template))
    assert_valid(card, validator)
    assert card["fallbackText"]


@pytest.mark.parametrize("template", MESSAGES)
def test_each_message_fits_with_extreme_user_text(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, template: str
) -> None:
    text = nasty(3000) + MARKDOWN
    card = renderer.message(template, lead=extreme("claimed"), **facts(template, text))
    assert_valid(card, validator)
    for shown in texts(card):
        assert "**" + MARKDOWN[2:6] not in shown  # the lead's `**Free**` is never bold


def test_a_reminder_offers_what_the_owner_can_do(renderer: CardRenderer) -> None:
    lead = make_lead(stage="claimed", owner="U0SELLER1")
    card = renderer.message("reminder_owner", lead=lead, **facts("reminder_owner"))
    assert "by **Thu 26 Nov, 13:00 (CET)**" in card["body"][0]["text"]
    kinds = [(a["type"], a.get("verb") or a.get("data", {}).get("action")) for a in card["actions"]]
    assert all(a["data"]["value"] == lead.id for a in card["actions"] if "data" in a)
    assert kinds == [
        ("Action.Execute", ActionId.MARK_CONTACTED),
        ("Action.Submit", ActionId.GIVE_FEEDBACK),
        ("Action.Execute", ActionId.RELEASE),
        ("Action.OpenUrl", None),
    ]
    assert card["actions"][-1]["url"] == LINK


def test_the_unclaimed_reminder_names_the_sellers(renderer: CardRenderer) -> None:
    card = renderer.message("reminder_unclaimed", lead=make_lead(), **facts("reminder_unclaimed"))
    assert card["body"][1]["text"] == "<at>Mads Sælger</at>, <at>Sofie ∗Star∗ Jensen</at>"
    mentioned = [entity["mentioned"] for entity in card["msteams"]["entities"]]
    assert mentioned == [
        {"id": "U0SELLER1", "name": "Mads Sælger"},
        {"id": "U0SELLER2", "name": "Sofie *Star* Jensen"},
    ]  # each seller is notified, as Slack's <@U…> does


@pytest.mark.parametrize("extended", [False, True])
def test_the_sales_manager_can_reassign_or_extend_once(
    renderer: CardRenderer, extended: bool
) -> None:
    lead = make_lead()
    card = renderer.message(
        "escalation", lead=lead, **{**facts("escalation"), "extended": extended}
    )
    titles = [a["title"] for a in card["actions"]]
    assert titles == (
        ["Reassign", "Open the lead card"]
        if extended
        else ["Reassign", "Extend once", "Open the lead card"]
    )
    assert card["actions"][0]["data"]["msteams"] == {"type": "task/fetch"}
    if not extended:
        assert card["actions"][1]["data"] == {
            "msteams": {"type": "task/fetch"},
            "action": ActionId.EXTEND,
            "value": f"{lead.id}:claim",
        }
    owner = card["body"][1]["facts"][3]
    assert owner == {"title": "Owner", "value": "nobody has claimed it"}
    assert card["body"][1]["facts"][2]["value"] == "1h 30m (business time)"


def test_the_ceo_sees_the_history_and_no_buttons_but_the_link(renderer: CardRenderer) -> None:
    card = renderer.message(
        "escalation", lead=make_lead(), **{**facts("escalation"), "role": "ceo"}
    )
    assert [a["title"] for a in card["actions"]] == ["Open the lead card"]
    history = card["body"][2]["items"]
    assert history[0]["text"] == "History" and len(history) == 11
    assert history[1]["text"] == "Thu 26 Nov, 09:00 (CET) · claimed · Mads Sælger"


def test_feedback_reads_the_same_in_the_thread_and_for_marketing(renderer: CardRenderer) -> None:
    lead = make_lead(stage="rejected", owner="U0SELLER1")
    thread = renderer.message("feedback_thread", lead=lead, **facts("feedback_thread"))
    marketing = renderer.message("feedback_marketing", lead=lead, **facts("feedback_marketing"))
    assert thread["body"][0]["text"] == "❌ Rejected by <at>Mads Sælger</at>"
    assert marketing["body"][0]["text"].endswith("was **❌ rejected** by <at>Mads Sælger</at>.")
    for card in (thread, marketing):
        assert card["body"][1]["facts"] == [
            {"title": "Reason", "value": "Too small"},
            {"title": "Missed in practice", "value": "company size, budget"},
            {"title": "Look again on", "value": "2027-03-01"},
        ]
        assert card["body"][2]["text"] == "Ten people, no budget this year."
    assert marketing["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open the thread", "url": LINK}
    ]


def test_a_note_in_markdown_shows_as_typed(renderer: CardRenderer) -> None:
    note = "- first\n**second**"
    card = renderer.message(
        "feedback_thread",
        lead=make_lead(),
        **{**facts("feedback_thread"), "note": note, "reason": None, "missed_rules": []},
    )
    assert card["body"][-1]["text"] == f"{WORD_JOINER}- first\n∗∗second∗∗"
    assert card["body"][1]["type"] == "FactSet"  # only the look-again date remains
    assert card["body"][1]["facts"] == [{"title": "Look again on", "value": "2027-03-01"}]


@pytest.mark.parametrize("reason", sorted(NOTICE_DETAILS))
def test_a_notice_words_every_reason(renderer: CardRenderer, reason: str) -> None:
    text = renderer.notice(reason, **NOTICE_DETAILS[reason])
    assert text.strip() and text != reason.replace("_", " ")


def test_a_notice_names_people_by_name(renderer: CardRenderer) -> None:
    assert (
        renderer.notice("already_claimed", owner="U0SELLER2", you=False)
        == "This lead was already claimed by Sofie *Star* Jensen."
    )
