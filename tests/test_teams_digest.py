"""The Teams digest and the messages the outbox sends besides the card: valid Adaptive Cards
within Teams' 28 KB, however many leads and however long their text."""

import json
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from bot.agreement import Agreement
from bot.teams import digest_layout
from bot.teams.cards import CARD_BYTES, CardRenderer
from tests.test_rendering import digest_rows, extreme_scorecard, make_lead
from tests.test_teams_cards import SCHEMA, SELLERS, assert_valid, extreme
from tests.test_teams_messages import LINK


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture
def renderer(agreement: Agreement) -> CardRenderer:
    return CardRenderer(agreement, names=SELLERS)


def digest_facts(rows: list[Any], *, in_channel: bool = False) -> dict[str, Any]:
    """As `bot.digests.view` lays them out: 20 with their actions, then lines as packed."""
    rows = [replace(row, link=LINK) for row in rows]
    lines = digest_layout.pack(rows[20:])
    return {
        "rich": rows[:20],
        "lines": lines,
        "more": len(rows) - 20 - sum(len(block) for block in lines),
        "in_channel": in_channel,
        "overdue": 12,
        "due_soon": 3,
        "done": 5,
    }


@pytest.mark.parametrize("in_channel", [False, True])
def test_a_full_digest_fits_teams_without_cutting_a_name(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, in_channel: bool
) -> None:
    """600 leads, half with the nastiest text: a valid card under Teams' limit, every lead
    laid out named in full (nothing cut by `fit_card`), the rest counted."""
    facts = digest_facts(digest_rows(600), in_channel=in_channel)
    laid_out = renderer.render("digest", **facts)
    assert len(json.dumps(laid_out, ensure_ascii=False).encode()) <= CARD_BYTES, "packed too much"
    card = renderer.message("digest", **facts)
    assert_valid(card, validator)
    shown = 20 + sum(len(block) for block in facts["lines"])
    assert shown > 20 and facts["more"] == 600 - shown
    assert f"{facts['more']} more" in card["body"][-1]["text"]


def test_a_digest_of_ordinary_names_shows_dozens(renderer: CardRenderer) -> None:
    rows = [
        replace(row, lead=make_lead(name=f"Mette Hansen {n}"), state="open", actions=[])
        for n, row in enumerate(digest_rows(200))
    ]
    facts = digest_facts(rows)
    assert 20 + len(facts["lines"][0]) >= 40
    text = json.dumps(renderer.message("digest", **facts), ensure_ascii=False)
    assert all(f"Mette Hansen {n} ·" in text or f"Mette Hansen {n}," in text for n in range(40))


def test_a_digest_offers_each_leads_actions(renderer: CardRenderer) -> None:
    rows = digest_rows(6)
    card = renderer.message("digest", **digest_facts(rows))
    (first, *_) = [item for item in card["body"] if item["type"] == "Container"]
    actions = first["items"][-1]["actions"]
    assert actions[0]["type"] == "Action.Submit"  # a reassignment opens the dialog
    assert actions[0]["data"]["msteams"] == {"type": "task/fetch"}
    assert actions[-1] == {"type": "Action.OpenUrl", "title": "Open", "url": LINK}


MESSAGES: dict[str, dict[str, Any]] = {
    "released": {"by": "U0SELLER1"},
    "closed": {"by": "U0SELLER1", "won": True},
    "recheck": {},
    "returned_to_nurture": {
        "reasons": [
            {"code": "geography", "facts": {"country": "US", "allowed": ["DK", "SE", "NO"]}},
            {"code": "contact_role", "facts": {"title": "Intern", "allowed": ["CIO"]}},
        ]
    },
    "removed": {},
}


@pytest.mark.parametrize("template", MESSAGES)
def test_the_other_messages_are_valid_cards_with_extreme_text(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, template: str
) -> None:
    for lead in (make_lead(owner="U0SELLER1"), extreme("nurture")):
        card = renderer.message(template, lead=lead, **MESSAGES[template])
        assert_valid(card, validator)
        assert card["fallbackText"]


def test_a_release_mentions_who_released_it(renderer: CardRenderer) -> None:
    card = renderer.message("released", lead=make_lead(), by="U0SELLER1")
    assert "<at>Mads Sælger</at> released this lead" in card["body"][0]["text"]
    (entity,) = card["msteams"]["entities"]
    assert entity == {
        "type": "mention",
        "text": "<at>Mads Sælger</at>",
        "mentioned": {"id": "U0SELLER1", "name": "Mads Sælger"},
    }


def test_a_name_cannot_close_its_mention_early(agreement: Agreement) -> None:
    renderer = CardRenderer(agreement, names={"U0SELLER1": "Eve</at><at>CEO"})
    card = renderer.message("released", lead=make_lead(), by="U0SELLER1")
    assert card["body"][0]["text"].count("<at>") == 1


def test_nurture_says_why_in_words(renderer: CardRenderer) -> None:
    card = renderer.message(
        "returned_to_nurture", lead=make_lead(), **MESSAGES["returned_to_nurture"]
    )
    said = " ".join(item["text"] for item in card["body"])
    assert "US" in said and "Intern" in said


@pytest.mark.parametrize(
    ("template", "lists"),
    [
        ("scorecard", ("more sources", "more sellers")),
        ("scorecard_sales", ("more sellers",)),
        ("scorecard_marketing", ("more sources",)),
    ],
)
def test_the_weekly_scorecard_fits_teams_before_any_cut(
    renderer: CardRenderer, validator: jsonschema.Draft6Validator, template: str, lists: tuple
) -> None:
    """More sources, sellers and reasons than a message can list, each as long as they come:
    the lists are cut to their counts ("…and N more"), so no text needs `fit_card`'s cut. The
    CEO's card in full, the sales manager's Sales side and the marketing channel's side."""
    laid_out = renderer.render(template, card=extreme_scorecard())
    assert len(json.dumps(laid_out, ensure_ascii=False).encode()) <= CARD_BYTES
    card = renderer.message(template, card=extreme_scorecard())
    assert_valid(card, validator)
    said = json.dumps(card, ensure_ascii=False)
    assert all(cut in said for cut in lists)
    if "more sellers" in lists:
        assert card["msteams"]["entities"]  # each seller named is mentioned
