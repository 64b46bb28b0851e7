"""Rendering: templates -> Block Kit within Slack's limits, with every user text escaped."""

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.actions import ActionId
from bot.agreement import Agreement
from bot.availability import Availability
from bot.digests import Row
from bot.feedback import RULES
from bot.history import History
from bot.history import details as history_details
from bot.overview import Item
from bot.rules import Rule
from bot.scorecard import Clock, Commitment, Scorecard, Source, Spread
from bot.scorecard_chart import CONTACT, HANDOVERS, Chart
from bot.slack import blockkit, digest_layout
from bot.slack.render import TEMPLATES, Renderer, mention
from bot.wording import compact
from storage.models import Deadline, Event, Lead
from tests.support import GOOD_LEAD

BOT = Path(__file__).resolve().parent.parent / "bot"
HANDLERS = BOT.parent / "handlers"
NASTY = "&<>&<!channel>&<@U0CEO>&amp;<"
BROKEN_ENTITY = re.compile(r"&[a-z#0-9]*…$|&[a-z#0-9]{0,6}$")
RECEIVED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def nasty(length: int) -> str:
    return (NASTY * (length // len(NASTY) + 1))[:length]


def make_lead(**changes: Any) -> Lead:
    fields: dict[str, Any] = {**GOOD_LEAD, "phone": "+4532123456"}
    fields.update(
        id="0123456789abcdef0123456789abcdef",
        qualified=True,
        reasons=[],
        stage="handed_over",
        handed_over_by="api",
        received_at=RECEIVED,
    )
    fields.update(changes)
    return Lead(**fields)


def clock(kind: str, due_at: datetime, **changes: Any) -> Deadline:
    return Deadline(
        id=len(kind),
        lead_id="0123456789abcdef0123456789abcdef",
        kind=kind,
        opened_at=RECEIVED,
        due_at=due_at,
        **changes,
    )


def extreme_lead(stage: str = "claimed") -> Lead:
    text = nasty(1000)
    return make_lead(
        name=text,
        email=text,
        company=text,
        title=text,
        phone=text,
        country="DK",
        industry=text,
        buying_stage=text,
        source=text,
        budget=text,
        external_id=text,
        challenges=nasty(10_000),
        employees=10**9,
        revenue=1e15,
        profit=-3e12,
        activity=[
            {"at": "2026-11-20T09:12:00+00:00", "kind": text, "detail": text} for _ in range(200)
        ],
        stage=stage,
        owner="U0SELLER1" if stage != "handed_over" else None,
    )


@pytest.fixture
def renderer(agreement: Agreement) -> Renderer:
    return Renderer(agreement)


def texts_of(block: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, text) for every text object in a block, named by the limit that applies."""
    found = []
    if block["type"] == "header":
        found.append(("header", block["text"]["text"]))
    if block["type"] == "section":
        if "text" in block:
            found.append(("section", block["text"]["text"]))
        found.extend(("field", field["text"]) for field in block.get("fields", []))
    if block["type"] == "context":
        found.extend(("context", element["text"]) for element in block["elements"])
    if block["type"] == "actions":
        found.extend(
            ("button", element["text"]["text"])
            for element in block["elements"]
            if element["type"] == "button"
        )
    return found


LIMITS = {"header": 150, "section": 3000, "field": 2000, "context": 2000, "button": 75}


def assert_valid_blocks(blocks: list[dict[str, Any]], limit: int = 50) -> None:
    """slack_sdk's checks on every element, nested ones included, and the text limits.

    `to_dict()`, not `validate_json()`: the latter checks only the block's own attributes,
    so an accessory's or a button's action_id or value over its limit would pass.
    """
    assert len(blocks) <= limit
    for block in blocks:
        Block.parse(block).to_dict()
        for kind, text in texts_of(block):
            assert len(text) <= LIMITS[kind], (kind, len(text))


def assert_no_raw_mentions(payload: Any, allowed: tuple[str, ...] = ()) -> None:
    dumped = json.dumps(payload, ensure_ascii=False)
    assert "<!channel>" not in dumped
    assert "<!" not in dumped
    for found in re.findall(r"<@[A-Z0-9]+>", dumped):
        assert found in allowed, found


@pytest.mark.parametrize("stage", ["handed_over", "claimed", "contacted", "accepted"])
def test_extreme_lead_card_fits_block_kit(renderer: Renderer, stage: str):
    lead = extreme_lead(stage)
    clocks = [
        clock("claim", datetime(2026, 11, 26, 9, tzinfo=UTC)),
        clock("contact", datetime(2026, 11, 26, 12, tzinfo=UTC), breached_at=RECEIVED),
    ]
    message = renderer.card(lead, clocks)
    blocks = message["blocks"]
    assert_valid_blocks(blocks)
    assert_no_raw_mentions(message, allowed=("<@U0SELLER1>",))
    assert "<@U0CEO>" not in json.dumps(message)
    assert len(message["text"]) <= 3000
    cut_texts = [text for block in blocks for _, text in texts_of(block) if text.endswith("…")]
    assert cut_texts, "an extreme lead must have cut texts"
    for text in [*cut_texts, message["text"]]:
        assert not BROKEN_ENTITY.search(text.removesuffix("…")), text[-20:]
        assert not re.search(r"<[^>]*…$", text), text[-20:]
    header = blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"].endswith("…")


def _accessory(**button: Any) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "a lead"},
        "accessory": {
            "type": "button",
            "text": {"type": "plain_text", "text": "Claim"},
            **{"action_id": "baton.claim", "value": "x", **button},
        },
    }


@pytest.mark.parametrize(
    "block",
    [
        _accessory(action_id="a" * 256),
        _accessory(value="v" * 2001),
        {"type": "actions", "elements": [_accessory(value="v" * 2001)["accessory"]]},
    ],
    ids=["accessory action_id of 256", "accessory value of 2001", "button value of 2001"],
)
def test_the_block_check_looks_inside_nested_elements(block: dict[str, Any]):
    with pytest.raises(SlackObjectFormationError):
        assert_valid_blocks([block])
    with pytest.raises(SlackObjectFormationError):
        View(type="modal", title="Lead", blocks=[block]).to_dict()


def test_extreme_lead_card_is_escaped_not_dropped(renderer: Renderer):
    message = renderer.card(extreme_lead(), [])
    dumped = json.dumps(message)
    assert "&lt;!channel&gt;" in dumped
    assert "&lt;@U0CEO&gt;" in dumped
    assert "&amp;amp;" in dumped


def test_extreme_activity_is_summarised(renderer: Renderer):
    message = renderer.card(extreme_lead(), [])
    (context,) = [block for block in message["blocks"] if block["type"] == "context"]
    text = context["elements"][0]["text"]
    assert text.startswith("*Recent activity*")


def test_ordinary_card(renderer: Renderer):
    lead = make_lead()
    message = renderer.card(lead, [clock("claim", datetime(2026, 11, 26, 9, tzinfo=UTC))])
    assert_valid_blocks(message["blocks"])
    dumped = json.dumps(message, ensure_ascii=False)
    assert "Mette Hansen · Nordlys Maskinfabrik A/S" in dumped
    assert "48M (profit 3.1M)" in dumped
    assert "Industry 4.0 in practice" in dumped
    assert "…" not in dumped


def buttons(message: dict[str, Any]) -> dict[str, str]:
    actions = [block for block in message["blocks"] if block["type"] == "actions"]
    if not actions:
        return {}
    (block,) = actions
    return {element["text"]["text"]: element["action_id"] for element in block["elements"]}


def test_handed_over_card_has_every_button(renderer: Renderer):
    lead = make_lead()
    found = buttons(renderer.card(lead, []))
    for word in ("Claim", "Assign", "Mark contacted", "Give feedback"):
        assert any(word in text for text in found), (word, found)
    assert found["Claim"] == ActionId.CLAIM
    message = renderer.card(lead, [])
    (block,) = [block for block in message["blocks"] if block["type"] == "actions"]
    assert {element["value"] for element in block["elements"]} == {lead.id}


def test_claimed_card_shows_owner_and_release(renderer: Renderer):
    lead = make_lead(stage="claimed", owner="U0SELLER1", claimed_at=RECEIVED)
    message = renderer.card(lead, [clock("contact", datetime(2026, 11, 26, 12, tzinfo=UTC))])
    found = buttons(message)
    assert "Release" in found
    assert "Claim" not in found
    assert "Mark contacted" in found
    dumped = json.dumps(message)
    assert "<@U0SELLER1>" in dumped
    assert "contact by Thu 26 Nov, 13:00" in dumped


@pytest.mark.parametrize("stage", ["accepted", "rejected", "nurture", "unqualified"])
def test_closed_cards_have_no_claim(renderer: Renderer, stage: str):
    message = renderer.card(make_lead(stage=stage, owner="U0SELLER2"), [])
    assert "Claim" not in buttons(message)
    assert_valid_blocks(message["blocks"])


def test_claim_deadline_in_agreement_timezone(renderer: Renderer):
    message = renderer.card(make_lead(), [clock("claim", datetime(2026, 11, 26, 9, tzinfo=UTC))])
    status = message["blocks"][-2]["text"]["text"]
    assert "claim by Thu 26 Nov, 10:00 (CET)" in status
    assert "09:00" not in status


def test_summer_time_is_shown(renderer: Renderer):
    message = renderer.card(make_lead(), [clock("claim", datetime(2026, 6, 1, 9, tzinfo=UTC))])
    assert "11:00 (CEST)" in json.dumps(message)


def test_overdue_is_shown(renderer: Renderer):
    claim = clock("claim", datetime(2026, 11, 26, 9, tzinfo=UTC), breached_at=RECEIVED)
    assert "overdue" in json.dumps(renderer.card(make_lead(), [claim]))
    claim.resolved_at = RECEIVED
    assert "overdue" not in json.dumps(renderer.card(make_lead(), [claim]))


def test_mention_only_for_user_ids():
    assert mention("U0SELLER1") == "<@U0SELLER1>"
    assert mention("W0ENTERPRISE") == "<@W0ENTERPRISE>"
    assert mention("<!channel>") == "<!channel>"  # plain text: escaped when rendered
    assert mention(None) == ""


def test_compact():
    assert compact(None) == "—"
    assert compact(48_000_000) == "48M"
    assert compact(12_500_000) == "12.5M"
    assert compact(-3_100) == "-3.1k"
    assert compact(2e9) == "2B"
    assert compact(950) == "950"


# --- blockkit ---------------------------------------------------------------------------


def test_escape():
    assert blockkit.escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_cut_leaves_short_text_alone():
    assert blockkit.cut("short", 5) == "short"


def test_cut_marks_the_cut():
    cut = blockkit.cut("abcdefghij", 5)
    assert cut == "abcd…"
    assert len(cut) == 5


@pytest.mark.parametrize("limit", range(2, 40))
def test_cut_never_splits_an_entity_or_mention(limit: int):
    text = blockkit.escape("R&D <!channel> ") + "<@U0SELLER1> " + blockkit.escape("a&b<c>d" * 3)
    cut = blockkit.cut(text, limit)
    assert len(cut) <= limit
    assert cut.endswith("…")
    body = cut.removesuffix("…")
    assert not re.search(r"&[a-z#0-9]*$", body), cut
    assert not re.search(r"<[^>]*$", body), cut
    assert text.startswith(body)


def test_fit_blocks_keeps_fifty():
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"#{n}"}} for n in range(60)]
    fitted = blockkit.fit_blocks(blocks, 50)
    assert len(fitted) == 50
    assert fitted[48]["text"]["text"] == "#48"
    assert fitted[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "…and 11 more"}],
    }
    assert_valid_blocks(fitted)


def test_fit_blocks_at_the_limit_is_untouched():
    blocks = [{"type": "divider"} for _ in range(50)]
    assert blockkit.fit_blocks(blocks, 50) == blocks


def test_fit_block_cuts_every_kind_of_text():
    long = "x" * 5000
    blocks = blockkit.fit_blocks(
        [
            {"type": "header", "text": {"type": "plain_text", "text": long}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": long},
                "fields": [{"type": "mrkdwn", "text": long} for _ in range(12)],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": long}] * 12},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"b{n}",
                        "text": {"type": "plain_text", "text": long},
                    }
                    for n in range(30)
                ],
            },
        ],
        50,
    )
    assert len(blocks[1]["fields"]) == 10
    assert len(blocks[2]["elements"]) == 10
    assert len(blocks[3]["elements"]) == 25
    assert_valid_blocks(blocks)


def test_fit_message_cuts_fallback_text():
    message = blockkit.fit_message({"text": "y" * 4000})
    assert len(message["text"]) == 3000
    assert message["text"].endswith("…")


def test_fit_view_cuts_title():
    view = blockkit.fit_view({"type": "modal", "title": {"type": "plain_text", "text": "t" * 40}})
    assert len(view["title"]["text"]) == 24
    assert view["blocks"] == []


# --- every template ---------------------------------------------------------------------

DIGEST_STATES = ("open", "claimed", "contacted", "feedback_given", "extended", "removed")


def digest_rows(count: int, **person: Any) -> list[Row]:
    """Leads of a digest in every state, half of them with the longest, nastiest text;
    `person` replaces the other half's fields."""
    rows = []
    for number in range(count):
        state = DIGEST_STATES[number % len(DIGEST_STATES)]
        lead = (
            extreme_lead()
            if number % 2
            else make_lead(**{"name": f"<!channel> {number}", **person})
        )
        actions = []
        if state == "open":
            actions = [
                {"id": "assign", "lead": lead.id},
                {"id": "extend", "lead": lead.id, "clock": "claim"},
            ][: 1 + (number // 6) % 2]
        rows.append(
            Row(
                lead=lead,
                kind="escalation" if number % 3 else "reminder",
                clock="claim",
                due_at=RECEIVED,
                late_seconds=7380.0,
                state=state,
                owner="U0SELLER1" if state == "claimed" else None,
                until=RECEIVED if state == "extended" else None,
                actions=actions,
                link="https://example.slack.com/archives/C0SALES/p1700000000000100",
            )
        )
    return rows


def digest_facts(count: int = 600, in_channel: bool = False, **person: Any) -> dict[str, Any]:
    """As `bot.digests.view` lays them out: 20 sections, then lines packed by their length."""
    rows = digest_rows(count, **person)
    lines = digest_layout.pack(rows[20:])
    return {
        "rich": rows[:20],
        "lines": lines,
        "more": count - 20 - sum(len(block) for block in lines),
        "in_channel": in_channel,
        "overdue": 12,
        "due_soon": 3,
        "done": 5,
    }


def weekly(*panels: str) -> dict[str, Any]:
    """A weekly scorecard message's facts, its chart uploaded."""
    chart = Chart(
        month="2026-11",
        days=30,
        cumulative=[1, 3, 3, 3, 4] + [4] * 16 + [5],
        committed=8,
        business_time=True,
        sla_hours=4.0,
        bin_hours=1.0,
        contacts=[2, 0, 0, 1, 1, 0, 0, 0, 1],
    )
    drawn = {"data": chart.as_facts(), "panels": list(panels), "filename": "week.png"}
    return {
        "card": extreme_scorecard(),
        "scorecard_chart": drawn,
        "chart_file": "F0CHART0001",
        "card_link": None,
        "lead": None,
    }


def extreme_scorecard() -> dict[str, Any]:
    """A scorecard with more sources, sellers and reasons than a message can list, each named
    as long and as nastily as a lead's source can be."""
    card = Scorecard(since=RECEIVED, until=RECEIVED + timedelta(days=7), handed_over=9000)
    card.qualified, card.definition_share = 8000, 8 / 9
    card.commitment = Commitment(RECEIVED, RECEIVED, 3, 8, 7.2, "behind")
    for number in range(40):
        name = f"<!channel> source {number} " + "s" * 990
        card.sources[name] = Source(
            handed_over=200,
            qualified=150,
            claimed=140,
            contacted=120,
            accepted=60,
            won=12,
            feedback={"accepted": 60, "rejected": 50},
            rejected_by_reason={f"<!here> reason {n} " + "r" * 900: 10 for n in range(5)},
            acceptance_rate=60 / 110,
        )
    card.missed_rules = {code.value: 3 for code in Rule}
    card.clocks = {kind: Clock(70, 30, 5, 0.7) for kind in ("claim", "contact", "feedback")}
    spread = Spread(count=12, median_seconds=3600.0, p95_seconds=7 * 3600.0)
    # Two real ids, and names that are not ids, so no one else is mentioned.
    sellers = ["U0SELLER1", "U0SELLER2", *(f"seller {number:03d}" for number in range(98))]
    card.time_to_claim = {"all": spread} | dict.fromkeys(sellers, spread)
    card.time_to_contact = {"all": spread} | dict.fromkeys(sellers, spread)
    card.breaches_this_week = dict.fromkeys(sellers, 4)
    card.breaches_last_week = dict.fromkeys(sellers, 2)
    card.waiting_for_feedback, card.feedback_overdue = 40, 7
    card.card_delay = Spread(count=9000, median_seconds=0.4, p95_seconds=997.0)
    card.consequences.reassigned, card.consequences.not_reassigned = 31, 2
    card.consequences.out_of_rotation = dict.fromkeys(sellers, 1)
    card.consequences.shortfall_weeks = 3
    card.paused = {"customer_out_of_office": 4, "note": 2, "<!here> " + "r" * 900: 1}
    return card.as_json()


def extreme_events(lead_id: str) -> list[Event]:
    """More events than a message shows, with the longest notes a feedback may carry."""
    note = "Talked to <!channel> & <@U0CEO>; " + "n" * 4000
    return [
        Event(
            id=number,
            lead_id=lead_id,
            at=RECEIVED,
            actor="U0SELLER1",
            kind="feedback",
            data={"outcome": "rejected", "note": note, "missed_rules": ["contact_role"]},
        )
        for number in range(150)
    ]


def facts_per_template(**person: Any) -> dict[str, dict[str, Any]]:
    """Facts for each template; `person` replaces the lead's fields wherever a lead appears."""

    def someone(**changes: Any) -> Lead:
        return make_lead(**{**changes, **person})

    lead = someone(stage="claimed", owner="U0SELLER1", name="Mette <!here> & co")
    feedback_facts = {
        "by": "U0SELLER1",
        "outcome": "rejected",
        "reason": "wrong_decision_maker",
        "missed_rules": ["contact_role"],
        "note": "Talked to <!channel> & <@U0CEO>; " + "n" * 4000,
        "recheck_on": None,
    }
    items = [
        Item(lead, clock("contact", RECEIVED, breached_at=RECEIVED)),
        Item(someone(name="Unclaimed <b>"), None),
    ] * 30
    week = extreme_scorecard()
    return {
        "assign_modal": {"lead": lead},
        "assigned_to_you": {
            "lead": lead,
            "by": "U0MANAGER",
            "card_link": "https://example.slack.com/archives/C0SALES/p1700000000000100",
        },
        "escalation": {
            "lead": lead,
            "kind": "contact",
            "due_at": "2026-11-26T12:00:00+00:00",
            "planned": "2026-11-26T12:00:00+00:00",
            "role": "sales_manager",
            "late_seconds": 7380.0,
            "extended": False,
            "history": [
                {"at": "2026-11-26T08:00:00+00:00", "actor": "api", "kind": "handed_over"},
                {"at": "2026-11-26T08:30:00+00:00", "actor": "U0SELLER1", "kind": "claimed"},
            ],
            "card_link": "https://example.slack.com/archives/C0SALES/p1700000000000100",
        },
        "extend_modal": {"lead": lead, "kind": "contact"},
        "pause_modal": {"lead": lead, "tomorrow": "2026-11-27", "latest": "2026-12-10"},
        "reassigned": {
            "lead": lead,
            "card_link": "https://example.slack.com/archives/C0SALES/p1700000000000100",
            "role": "sales_manager",
            "clock": "contact",
            "from": "U0SELLER1",
            "to": "U0SELLER2",
            "why": "round robin <!channel>",
            "late_seconds": 3600.0,
        },
        "out_of_rotation": {
            "lead": lead,
            "card_link": None,
            "role": "sales_manager",
            "seller": "U0SELLER1",
            "breaches": 3,
            "limit": 3,
        },
        "back_in_rotation": {"by": "U0MANAGER", "lead": None, "card_link": None},
        "marketing_shortfall": {
            "lead": None,
            "card_link": None,
            "role": "ceo",
            "month": "November 2026",
            "qualified": 3,
            "committed": 8,
            "pro_rata": 6.4,
            "behind_share": 0.531,
            "agreed_share": 0.2,
        },
        "digest": digest_facts(**person),
        "help": {"text": "help"},
        "lead_card": {
            "lead": lead,
            "clocks": {},
            "overdue": False,
            "feedback": None,
            "routed": {"kind": "assigned", "to": "U0SELLER1", "reason": "round robin, weight 2"},
        },
        "feedback_thread": {**feedback_facts, "lead": lead, "card_link": None},
        "feedback_marketing": {
            **feedback_facts,
            "lead": lead,
            "card_link": "https://example.slack.com/archives/C0SALES/p1700000000000100",
        },
        "closed": {"lead": lead, "by": "U0SELLER1", "won": True, "card_link": None},
        "recheck": {"lead": someone(stage="nurture", owner="U0SELLER1"), "card_link": None},
        "feedback_modal": {"lead": lead, "rules": RULES},
        "handover_modal": {},
        "handover_verdict": {
            "lead": someone(
                qualified=False,
                reasons=[{"code": "geography", "facts": {"country": "US", "allowed": ["DK"]}}],
            ),
            "created": True,
        },
        "contacted": {"lead_id": lead.id},
        "mine": {"items": items},
        "open": {"items": items},
        "stats": {"card": extreme_scorecard()},
        "history": {
            "key": "mette@nordlys.dk",
            "histories": [History(lead, extreme_events(lead.id))] * 5,
            "details": history_details,
        },
        "removed": {},
        "scorecard": weekly(HANDOVERS, CONTACT),
        "scorecard_sales": weekly(CONTACT),
        "scorecard_marketing": weekly(HANDOVERS),
        "agreement": {},
        "home": {
            "user": "U0MANAGER",
            "roles": ["marketing", "sales", "sales_manager"],
            "now": RECEIVED,
            "groups": {"overdue": items, "today": [], "later": items},
            "team": items,
            "week": week,
            "handed_over": [lead],
            "out_of_rotation": ["U0SELLER2"],
            "availability": Availability(
                "U0MANAGER",
                away=False,
                out_of_rotation_since=RECEIVED,
                out_of_rotation_reason="<!channel> late " + "again " * 300,
            ),
        },
        "notice": {"reason": "lead_gone", "details": {}},
        "released": {"lead": lead, "by": "U0SELLER1", "card_link": None},
        "reminder_owner": {
            "lead": lead,
            "kind": "contact",
            "due_at": "2026-11-26T12:00:00+00:00",
            "planned": "2026-11-26T11:30:00+00:00",
            "card_link": None,
            "away_owner": "U0SELLER1",
        },
        "reminder_unclaimed": {
            "lead": someone(name="<!channel>"),
            "kind": "claim",
            "due_at": "2026-11-26T09:00:00+00:00",
            "planned": "2026-11-26T08:30:00+00:00",
            "sellers": ["U0SELLER1", "U0SELLER2"],
            "card_link": None,
        },
        "returned_to_nurture": {
            "lead": someone(stage="unqualified", qualified=False, title="<!channel>"),
            "reasons": [
                {"code": "geography", "facts": {"country": "US", "allowed": ["DK", "SE", "NO"]}},
                {"code": "contact_role", "facts": {"title": "<!channel>", "allowed": ["CIO"]}},
            ],
            "card_link": None,
        },
    }


TEMPLATE_NAMES = sorted(
    path.name.removesuffix(".json.j2")
    for path in TEMPLATES.glob("*.json.j2")
    if not path.name.startswith("_")
)


def test_every_template_has_facts():
    assert set(TEMPLATE_NAMES) == set(facts_per_template())


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_renders_valid_block_kit(renderer: Renderer, name: str):
    facts = facts_per_template()[name]
    raw = renderer.env.get_template(f"{name}.json.j2").render(**facts)
    payload = json.loads(raw)
    if payload.get("type") in ("modal", "home"):
        view = renderer.view(name, **facts)
        View(**view).to_dict()
        assert_valid_blocks(view["blocks"], limit=100)
        payload = view
    else:
        message = renderer.message(name, **facts)
        assert message["text"].strip()
        assert_valid_blocks(message.get("blocks", []))
        payload = message
    assert_no_raw_mentions(payload, allowed=("<@U0SELLER1>", "<@U0SELLER2>", "<@U0MANAGER>"))


FORMATTING = "*Bold* <!channel> & _x_ ~y~ `z`"
# What each mark of FORMATTING would do, unneutralised, in mrkdwn.
MARKUP = ("*Bold*", "_x_", "~y~", "`z`", "<!channel>", "&amp;")


def text_objects(payload: Any) -> list[dict[str, Any]]:
    """Every text object in a payload, and a message's own `text` as a mrkdwn one."""
    found: list[dict[str, Any]] = []
    if isinstance(payload, dict):
        if payload.get("type") in ("plain_text", "mrkdwn") and isinstance(payload.get("text"), str):
            found.append(payload)
        elif isinstance(payload.get("text"), str):
            found.append({"type": "mrkdwn", "text": payload["text"], "root": True})
        for value in payload.values():
            found.extend(text_objects(value))
    elif isinstance(payload, list):
        for value in payload:
            found.extend(text_objects(value))
    return found


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_a_lead_named_like_markup_shows_as_typed_in_every_message(renderer: Renderer, name: str):
    """Wherever the lead reaches (card, thread replies, DMs, Marketing's channel, modals, App
    Home): in mrkdwn, escaped and with every formatting character a look-alike, in a
    `verbatim` object (no auto-links); in plain_text, the very characters that were typed."""
    facts = facts_per_template(name=FORMATTING, company=FORMATTING, title=FORMATTING)[name]
    raw = json.loads(renderer.env.get_template(f"{name}.json.j2").render(**facts))
    render = renderer.view if raw.get("type") in ("modal", "home") else renderer.message
    rendered = render(name, **facts)
    md, typed = blockkit.mrkdwn(FORMATTING), blockkit.plain(FORMATTING)
    shown = 0
    for text in text_objects(rendered):
        if text["type"] == "plain_text":
            assert md not in text["text"], text
            shown += typed[:20] in text["text"]
            continue
        assert not any(markup in text["text"] for markup in MARKUP[:4]), text
        if md[:20] in text["text"]:
            shown += 1
            assert text.get("root") or text.get("verbatim") is True, text
    source = (TEMPLATES / f"{name}.json.j2").read_text(encoding="utf-8")
    if any(part in source for part in ("lead.name", "_lead_section", "_lead_line")):
        assert shown, f"{name} names the lead, but not as typed"
    assert_no_raw_mentions(rendered, allowed=("<@U0SELLER1>", "<@U0SELLER2>", "<@U0MANAGER>"))


def test_the_card_header_carries_the_typed_characters(renderer: Renderer):
    """plain_text is shown as is: an entity there would show as `&lt;`."""
    card = renderer.card(make_lead(name=FORMATTING, company="R&D <Labs>"), [])
    header = card["blocks"][0]["text"]
    assert header["type"] == "plain_text"
    assert header["text"] == f"{blockkit.plain(FORMATTING)} · R&D <Labs>"
    assert "&amp;" not in header["text"] and "&lt;" not in header["text"]
    assert "<!" not in header["text"]  # a word joiner keeps even plain text from it


def test_text_that_looks_like_a_stand_in_is_only_text(renderer: Renderer):
    name = "\ue0009\ue001 \ue0000\ue001"
    card = renderer.card(make_lead(name=name, company="*Acme*"), [])
    assert card["blocks"][0]["text"]["text"] == f"{name} · *Acme*"


def test_mrkdwn_neutralises_each_formatting_character():
    assert blockkit.mrkdwn("*a* _b_ ~c~ `d` R&D <!here>") == (
        "\u2217a\u2217 \u02cdb\u02cd \u223cc\u223c \u02cbd\u02cb R&amp;D &lt;!here&gt;"
    )
    assert blockkit.mrkdwn("> quoted\n>again") == "\u00ad&gt; quoted\n\u00ad&gt;again"
    assert blockkit.mrkdwn("a > b") == "a &gt; b"  # a quote only at the start of a line


def test_a_template_s_own_markup_and_links_are_kept(renderer: Renderer):
    facts = facts_per_template()
    thread = renderer.message("feedback_thread", **facts["feedback_thread"])
    assert thread["blocks"][0]["text"]["text"].startswith("*:x: Rejected* by <@U0SELLER1>")
    link = "https://example.slack.com/archives/C0SALES/p1?thread_ts=1.2&cid=C0SALES"
    dm = renderer.message("assigned_to_you", **{**facts["assigned_to_you"], "card_link": link})
    assert (
        "<https://example.slack.com/archives/C0SALES/p1?thread_ts=1.2&amp;cid=C0SALES|"
        in (dm["blocks"][0]["text"]["text"])
    )


def used_reasons() -> set[str]:
    pattern = re.compile(r"""(?:\bRefused\(|\btell\(\s*\w+,\s*\w+,)\s*["'](\w+)["']""")
    found = set()
    for folder in (BOT, HANDLERS):
        for path in folder.rglob("*.py"):
            found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


NOTICE_DETAILS: dict[str, dict[str, Any]] = {
    "lead_gone": {},
    "already_claimed": {"owner": "U0SELLER2", "you": False},
    "not_claimable": {"stage": "back_to_nurture"},
    "cannot_own": {"user": "U0MKTG1"},
    "already_owner": {"owner": "U0SELLER1"},
    "changed_meanwhile": {},
    "not_releasable": {"stage": "handed_over"},
    "not_allowed": {"action": "assign", "who": ["sales_manager"], "owner": None},
    "feedback_unclaimed": {},
    "feedback_given": {"stage": "accepted"},
    "no_feedback": {"stage": "unqualified"},
    "not_closable": {"stage": "claimed"},
    "not_in_nurture": {"stage": "claimed"},
    "invalid_feedback": {"problems": {"reason": "Say why."}},
    "contact_method": {"how": "call"},
    "handed_over_again": {"owner": "U0SELLER2"},
    "claimed": {},
    "assigned": {"owner": "U0SELLER1"},
    "released": {},
    "not_contactable": {"stage": "handed_over"},
    "reason_required": {},
    "clock_closed": {"clock": "contact"},
    "extended_before": {"clock": "contact"},
    "paused_before": {"until": "2026-12-01T00:00:00+01:00", "by": "U0SELLER1"},
    "pause_reason_required": {},
    "pause_reason_unknown": {},
    "pause_not_ahead": {"today": "2026-11-26"},
    "pause_too_long": {"longest": 14, "latest": "2026-12-10"},
    "nothing_to_pause": {},
    "paused": {"until": "2026-12-01T00:00:00+01:00"},
    "restored": {"seller": "U0SELLER1"},
    "not_out_of_rotation": {"seller": "U0SELLER1"},
    "out_of_rotation": {"since": "2026-11-26T12:00:00+00:00"},
    "at_cap": {"cap": 15, "held": 15},
    "bad_date": {"given": "<!channel> friday"},
    "date_passed": {"given": "2026-11-01"},
    "not_a_seller": {},
    "nobody_available": {"why": "nobody is available: 3 away"},
    "away": {"until": date(2026, 12, 7)},
    "back": {},
    "not_away": {},
}


def test_every_used_reason_has_details():
    reasons = used_reasons()
    assert {"lead_gone", "not_allowed", "already_claimed"} <= reasons
    assert reasons <= set(NOTICE_DETAILS), reasons - set(NOTICE_DETAILS)


@pytest.mark.parametrize("reason", sorted(NOTICE_DETAILS))
def test_notice_words_every_reason(renderer: Renderer, reason: str):
    text = renderer.notice(reason, **NOTICE_DETAILS[reason])["text"]
    assert text.strip()
    assert reason not in text or "_" not in reason
    assert text != reason.replace("_", " ")


def test_notice_for_each_action_and_role(renderer: Renderer):
    from bot.permissions import RULES

    for action, roles in RULES.items():
        text = renderer.notice(
            "not_allowed", action=action.value, who=sorted(roles), owner="U0SELLER1"
        )["text"]
        assert text.startswith("Only ")
        assert "Nothing was changed." in text
        assert "_" not in text


def test_notice_escapes_user_text(renderer: Renderer):
    message = renderer.notice("contact_method", how="<!channel>")
    assert "<!channel>" not in message["text"]
    assert "&lt;!channel&gt;" in message["text"]


def test_notice_already_claimed_by_you(renderer: Renderer):
    text = renderer.notice("already_claimed", owner="U0SELLER1", you=True)["text"]
    assert text == "You already own this lead."


def test_typo_in_a_template_fails(agreement: Agreement, tmp_path: Path):
    (tmp_path / "released.json.j2").write_text(
        '{"text": "{{ by | mention }} released {{ lead.nmae }}"}', encoding="utf-8"
    )
    custom = Renderer(agreement, tmp_path)
    with pytest.raises(Exception, match="nmae"):
        custom.message("released", lead=make_lead(), by="U0SELLER1")


def test_unknown_variable_fails(agreement: Agreement, tmp_path: Path):
    (tmp_path / "released.json.j2").write_text('{"text": "{{ nobody }}"}', encoding="utf-8")
    with pytest.raises(Exception, match="nobody"):
        Renderer(agreement, tmp_path).message("released", by="U0SELLER1")


def test_custom_folder_overrides_one_template(agreement: Agreement, tmp_path: Path):
    (tmp_path / "released.json.j2").write_text(
        '{"text": "Freed by {{ by | mention }}: {{ note }}"}', encoding="utf-8"
    )
    custom = Renderer(agreement, tmp_path)
    message = custom.message("released", by="U0SELLER1", note='<!channel> "quoted"')
    assert message["text"] == 'Freed by <@U0SELLER1>: &lt;!channel&gt; "quoted"'
    assert custom.notice("lead_gone")["text"] == "This lead no longer exists."


def test_template_that_is_not_json_fails(agreement: Agreement, tmp_path: Path):
    (tmp_path / "released.json.j2").write_text('{"text": oops}', encoding="utf-8")
    with pytest.raises(ValueError, match="did not render JSON"):
        Renderer(agreement, tmp_path).message("released", by="U0SELLER1")


@pytest.mark.parametrize("in_channel", [False, True])
def test_a_full_digest_stays_within_block_kit(renderer: Renderer, in_channel: bool):
    """600 leads, half with the nastiest text: still 50 blocks, no section cut short (every
    lead laid out is named), and the leads that do not fit are counted, not dropped silently."""
    facts = digest_facts(in_channel=in_channel)
    message = renderer.message("digest", **facts)
    blocks = message["blocks"]
    assert len(blocks) == 50
    assert_valid_blocks(blocks)
    for block in blocks:
        if block["type"] == "section":
            assert not block["text"]["text"].endswith("…"), "a section was cut to fit"
    shown = 20 + sum(len(block) for block in facts["lines"])
    assert shown > 100 and facts["more"] == 600 - shown
    assert f"{facts['more']} more" in blocks[-1]["elements"][0]["text"]
    assert "/baton open" in blocks[-1]["elements"][0]["text"]
    last = facts["lines"][-1][-1].lead.name[:30]
    assert blockkit.escape(last) in json.dumps(message, ensure_ascii=False)
    menus = [b["accessory"] for b in blocks if b.get("accessory", {}).get("type") == "overflow"]
    assert menus and all(len(option["value"]) <= 150 for m in menus for option in m["options"])
    assert_no_raw_mentions(message, allowed=("<@U0SELLER1>", "<@U0SELLER2>", "<@U0SELLER3>"))


def test_a_digest_of_ordinary_names_shows_hundreds(renderer: Renderer):
    """Open leads with names and companies of everyday length: 500 of them in one message."""
    rows = [
        replace(row, lead=make_lead(name=f"Mette Hansen {n}"), state="open", actions=[])
        for n, row in enumerate(digest_rows(600))
    ]
    lines = digest_layout.pack(rows[20:])
    assert 20 + sum(len(block) for block in lines) >= 500
    message = renderer.message("digest", **{**digest_facts(), "rich": rows[:20], "lines": lines})
    assert_valid_blocks(message["blocks"])
    text = json.dumps(message, ensure_ascii=False)
    assert all(f"Mette Hansen {n}<" in text or f"Mette Hansen {n}>" in text for n in range(500))


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_a_templates_own_markup_is_never_taken_for_user_text(renderer: Renderer, name: str):
    """Ordinary lead text has nothing to neutralise, so a look-alike in the output means a
    template's own `*bold*`, `~strike~` or `:emoji_name:` went through as a value without
    `| safe`, and shows as `∗bold∗` in Slack."""
    ordinary = {"name": "Mette Hansen", "company": "Nordlys", "title": "CIO"}
    facts = facts_per_template(**ordinary, buying_stage="ready")[name]
    raw = json.loads(renderer.env.get_template(f"{name}.json.j2").render(**facts))
    render = renderer.view if raw.get("type") in ("modal", "home") else renderer.message
    shown = json.dumps(render(name, **facts), ensure_ascii=False)
    assert not [c for c in "\u2217\u02cd\u223c\u02cb" if c in shown], shown


@pytest.mark.parametrize(
    "name", ["stats", "scorecard", "scorecard_sales", "scorecard_marketing", "history"]
)
def test_the_scorecard_and_the_history_fit_block_kit_before_any_cut(renderer: Renderer, name: str):
    """Their lists are cut by the template itself, so no section is cut short mid-line."""
    raw = renderer.env.get_template(f"{name}.json.j2").render(**facts_per_template()[name])
    blocks = json.loads(raw)["blocks"]
    assert_valid_blocks(blocks)
    assert "more" in json.dumps(blocks)  # says what it left out
