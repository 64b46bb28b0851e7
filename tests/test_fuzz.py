"""Generated input against the real app: whatever a client or Slack sends, Baton answers it
without a 5xx or a traceback, and never stores half a lead.

The strategies stay clear of three inputs that do give a 500 today; each has its own test
below, marked as an expected failure until `bot/schemas.py` refuses it with a 422.
"""

from __future__ import annotations

import json
import string
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.actions import ActionId, BlockId, ViewId
from bot.context import Context
from bot.schemas import LeadIn
from bot.service.runtime import Runtime
from bot.service.web import create_app
from storage import deadlines
from storage.models import Event, Lead
from tests.support import GOOD_LEAD, INTAKE_TOKEN, block_action, lead, slack_headers

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
USERS = ["U0SELLER1", "U0SELLER2", "U0MANAGER", "U0CEO", "U0MKTG1", "U0STRANGER"]

# Text without NUL (PostgreSQL cannot store it; see test_a_nul_character_is_never_a_500).
# No lone surrogates: they cannot be written in UTF-8, so no request from Slack carries one.
CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.text(CHARACTERS, max_size=40)
LONG_TEXT = st.text(CHARACTERS, min_size=900, max_size=1100)
# Numbers a 32-bit column holds (see test_a_huge_employee_count_is_a_4xx).
INT = st.integers(min_value=-(2**31), max_value=2**31 - 1)
SCALARS = st.none() | st.booleans() | INT | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The real app in-process, its workers running (cards go out to the fake Slack)."""
    with TestClient(create_app(runtime), raise_server_exceptions=False) as running:
        yield running


def assert_answered(answer: httpx.Response) -> None:
    event(f"HTTP {answer.status_code}")  # --hypothesis-show-statistics shows the spread
    assert answer.status_code < 500, (answer.status_code, answer.text[:500])
    assert "Traceback" not in answer.text
    assert 'File "' not in answer.text


def assert_no_partial_lead(runtime: Runtime, created: set[str]) -> None:
    """Every lead is whole: its identity, exactly one hand-over event, and a card that renders."""
    ctx: Context = runtime.ctx
    with ctx.sessions() as session:
        stored = list(session.exec(select(Lead)).all())
        handed = session.exec(select(Event.lead_id).where(Event.kind == "handed_over")).all()
        clocks = {lead.id: deadlines.of_lead(session=session, lead_id=lead.id) for lead in stored}
    events = Counter(handed)
    assert created <= {lead.id for lead in stored}
    for found in stored:
        assert found.name and found.email and found.company, found.id
        assert events[found.id] == 1, found.id
        card = runtime.renderer.card(found, clocks[found.id])
        assert card["blocks"], found.id


# POST /api/leads -----------------------------------------------------------------------------

EMAILS = st.emails() | st.sampled_from(["", "x", "a@b", "@nordlys.dk", "mette@@nordlys.dk"])
ACTIVITY = st.fixed_dictionaries(
    {
        "at": st.datetimes(timezones=st.timezones()).map(lambda at: at.isoformat())
        | st.sampled_from(["2026-11-20T09:12:00Z", "2026-11-20", "yesterday", ""]),
        "kind": TEXT,
    },
    optional={"detail": TEXT | st.none()},
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "external_id": st.sampled_from(["crm-1", "crm-2", "crm-3"]) | TEXT,
    "name": TEXT | LONG_TEXT,
    "email": EMAILS,
    "company": TEXT,
    "title": st.sampled_from(["CIO", "IT manager", "Group CIO", "Cionet"]) | TEXT,
    "phone": st.sampled_from(["+45 32 12 34 56", "32123456", "+1 555", "call me"]) | TEXT,
    "country": st.sampled_from(["DK", "se", "NO", "US", "XX", "DNK", ""]) | TEXT,
    "industry": st.sampled_from(["manufacturing", "software", "retail"]) | TEXT,
    "buying_stage": st.sampled_from(["problem_aware", "ready_to_buy", "unaware"]) | TEXT,
    "source": TEXT,
    "challenges": TEXT | LONG_TEXT,
    "budget": TEXT,
    "employees": INT,
    "revenue": st.floats(allow_nan=False) | INT,
    "profit": st.floats(allow_nan=False) | INT,
    "activity": st.lists(ACTIVITY, max_size=4),
}
# Each field either plausible or any JSON at all, and each may be missing.
WILD_BODIES = st.fixed_dictionaries(
    {},
    optional={name: strategy | SCALARS | JSON for name, strategy in FIELDS.items()},
)
WORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)
NAMES = WORDS.filter(str.strip)
# Leads Marketing could really send, qualified or not: these get stored, cards and all.
GOOD_BODIES = st.fixed_dictionaries(
    {"name": NAMES, "email": st.emails(), "company": NAMES},
    optional={
        "external_id": st.sampled_from(["crm-1", "crm-2", "crm-3"]) | NAMES,
        "title": st.sampled_from(["CIO", "IT manager", "Head of <!channel>"]) | WORDS,
        "phone": st.sampled_from(["+45 32 12 34 56", "+46 8 123 456 78", "+47 22 12 34 56"]),
        "country": st.sampled_from(["DK", "SE", "NO", "US", "de"]),
        "industry": st.sampled_from(["manufacturing", "software", "retail"]) | WORDS,
        "buying_stage": st.sampled_from(["problem_aware", "ready_to_buy", "unaware"]),
        "source": WORDS,
        "challenges": WORDS,
        "budget": WORDS,
        "employees": st.integers(min_value=0, max_value=100_000),
        "revenue": st.floats(min_value=0, max_value=1e15),
        "profit": st.floats(min_value=-1e12, max_value=1e15),
        "activity": st.lists(
            st.fixed_dictionaries(
                {
                    "at": st.datetimes(timezones=st.timezones()).map(lambda at: at.isoformat()),
                    "kind": NAMES,
                },
                optional={"detail": WORDS},
            ),
            max_size=6,
        ),
    },
)
# A good lead with a few fields made wild.
MUTANTS = st.builds(
    lambda good, wild: {**good, **wild},
    GOOD_BODIES,
    st.dictionaries(st.sampled_from(sorted(FIELDS)), SCALARS | JSON, min_size=1, max_size=3),
)
LEAD_BODIES = GOOD_BODIES | MUTANTS | WILD_BODIES
RAW_BODIES = st.binary(max_size=300) | JSON.map(lambda value: json.dumps(value).encode())


def test_generated_hand_overs_never_break_the_intake(client: TestClient, runtime: Runtime):
    created: set[str] = set()

    @FUZZ
    @given(body=LEAD_BODIES)
    def hand_over(body: dict[str, Any]) -> None:
        content = json.dumps(body).encode()  # escapes lone surrogates, as a client might
        headers = {**AUTH, "Content-Type": "application/json"}
        answer = client.post("/api/leads", content=content, headers=headers)
        assert_answered(answer)
        if answer.status_code == 201:
            created.add(answer.json()["id"])
        elif answer.status_code == 200:
            # As the intake reads it: trimmed, controls dropped, line breaks made spaces.
            assert answer.json()["external_id"] == LeadIn.model_validate(body).external_id

    hand_over()
    assert created, "no generated lead was valid: the strategies have drifted"
    assert_no_partial_lead(runtime, created)


def test_generated_bodies_of_any_kind_never_break_the_intake(client: TestClient, runtime: Runtime):
    created: set[str] = set()

    @FUZZ
    @given(
        body=RAW_BODIES,
        content_type=st.sampled_from(["application/json", "text/plain", "", "application/xml"]),
        token=st.sampled_from([INTAKE_TOKEN, "", INTAKE_TOKEN + "x"]),
    )
    def post(body: bytes, content_type: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        answer = client.post("/api/leads", content=body, headers=headers)
        assert_answered(answer)
        if answer.status_code == 201:
            created.add(answer.json()["id"])

    post()
    assert_no_partial_lead(runtime, created)


# POST /slack/events with valid signatures ----------------------------------------------------


FORM = "application/x-www-form-urlencoded"


def as_slack_sends(
    payloads: list[st.SearchStrategy[Any]],
    *,
    command: st.SearchStrategy[dict[str, Any]],
    event: st.SearchStrategy[Any],
) -> st.SearchStrategy[tuple[str, str]]:
    """Requests as Slack posts them, (body, content type): interactions (`payloads`) as a
    form's `payload` field, slash commands as a form, events as JSON."""

    def form(value: Any) -> tuple[str, str]:
        return urlencode({"payload": json.dumps(value)}), FORM

    return st.one_of(
        *(payload.map(form) for payload in payloads),
        command.map(lambda fields: (urlencode(fields), FORM)),
        event.map(lambda body: (json.dumps(body), "application/json")),
    )


def slack_strategies(lead_ids: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """Slack's envelopes (Slack always sends those) around generated contents."""
    leads_ = st.sampled_from([*lead_ids, "", "0" * 32, "nope"])
    users = st.sampled_from(USERS)
    value = (
        leads_
        | st.builds(lambda lead_id, kind: f"{lead_id}:{kind}", leads_, st.sampled_from(
            ["claim", "contact", "feedback", "x"]
        ))
        | TEXT
    )  # fmt: skip
    action = st.fixed_dictionaries(
        {
            "action_id": st.sampled_from([*ActionId, "baton.unknown"]) | TEXT,
            "block_id": st.sampled_from(["lead", "home"])
            | leads_.map(lambda lead_id: f"reassign:{lead_id}")
            | TEXT,
            "type": st.sampled_from(["button", "users_select", "static_select"]),
            "action_ts": st.just("1700000000.000100"),
        },
        optional={
            "value": value,
            "selected_user": users | st.none(),
            "selected_option": st.fixed_dictionaries({"value": value}) | st.none(),
            "text": st.fixed_dictionaries({"type": st.just("plain_text"), "text": TEXT}),
        },
    )
    envelope = {
        "team": st.just({"id": "T0TEAM", "domain": "test"}),
        "user": users.map(lambda user: {"id": user, "team_id": "T0TEAM"}),
        "api_app_id": st.just("A0BATON"),
        "trigger_id": TEXT.map(lambda text: f"t-{text}"),
    }
    block_actions = st.fixed_dictionaries(
        {
            **envelope,
            "type": st.just("block_actions"),
            "actions": st.lists(action, min_size=1, max_size=2),
            "response_url": st.just("https://hooks.slack.invalid/actions/T0TEAM/1/x"),
        },
        optional={
            "container": st.just({"type": "message", "message_ts": "1.2", "channel_id": "C0SALES"}),
            "channel": st.just({"id": "C0SALES", "name": "sales"}),
            "message": st.just({"ts": "1.2", "text": "lead"}),
            "view": st.just({"id": "V0HOME", "type": "home"}),
        },
    )
    element = st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("plain_text_input")},
            optional={"value": TEXT | st.none() | INT.map(str)},
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["static_select", "radio_buttons"])},
            optional={"selected_option": st.fixed_dictionaries({"value": TEXT}) | st.none()},
        ),
        st.fixed_dictionaries(
            {"type": st.just("multi_static_select")},
            optional={
                "selected_options": st.lists(st.fixed_dictionaries({"value": TEXT}), max_size=3)
            },
        ),
        st.fixed_dictionaries(
            {"type": st.just("users_select")}, optional={"selected_user": users | st.none()}
        ),
        st.fixed_dictionaries(
            {"type": st.just("datepicker")},
            optional={"selected_date": st.dates().map(str) | st.none()},
        ),
    )
    blocks = st.sampled_from(
        [*BlockId, "name", "email", "company", "title", "country", "employees", "phone"]
    )
    state = st.dictionaries(
        blocks, st.dictionaries(st.sampled_from(["value", "user", "text"]), element, max_size=1)
    )
    view_submission = st.fixed_dictionaries(
        {
            **envelope,
            "type": st.just("view_submission"),
            "view": st.fixed_dictionaries(
                {
                    "id": st.text(string.ascii_uppercase, min_size=1, max_size=8),
                    "type": st.just("modal"),
                    "callback_id": st.sampled_from([*ViewId, "baton.unknown"]),
                    "private_metadata": value
                    | leads_.map(lambda lead_id: json.dumps({"lead": lead_id, "channel": None})),
                    "state": st.fixed_dictionaries({"values": state}),
                }
            ),
        }
    )
    suggestion = st.fixed_dictionaries(
        {
            **envelope,
            "type": st.just("block_suggestion"),
            "action_id": st.sampled_from([*ActionId]) | TEXT,
            "block_id": TEXT,
            "value": TEXT,
        }
    )
    command = st.fixed_dictionaries(
        {
            "command": st.just("/baton"),
            "text": st.sampled_from(["", "help", "mine", "open", "stats", "agreement", "lead"])
            | TEXT
            | TEXT.map(lambda key: f"history {key}"),
            "user_id": users,
            "team_id": st.just("T0TEAM"),
            "channel_id": st.sampled_from(["C0SALES", "D0DM", "C0OTHER"]),
            "trigger_id": st.just("t"),
            "response_url": st.just("https://hooks.slack.invalid/x"),
        }
    )
    event = st.fixed_dictionaries(
        {
            "type": st.just("event_callback"),
            "team_id": st.just("T0TEAM"),
            "api_app_id": st.just("A0BATON"),
            "event_id": st.uuids().map(lambda uuid: f"Ev{uuid.hex}"),
            "event_time": st.just(int(time.time())),
            "event": st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["app_home_opened", "message", "app_mention"]),
                    "user": users,
                },
                optional={
                    "tab": st.sampled_from(["home", "messages"]),
                    "text": TEXT,
                    "channel": st.sampled_from(["C0SALES", "D0DM"]),
                    "channel_type": st.sampled_from(["im", "channel"]),
                },
            ),
        }
    )

    return as_slack_sends(
        [block_actions, view_submission, suggestion], command=command, event=event
    )


def assert_slack_requests_never_break_the_app(
    client: TestClient,
    runtime: Runtime,
    requests: st.SearchStrategy[tuple[str, str]],
    lead_ids: list[str],
) -> None:
    """Each request signed as Slack signs it, so it passes verification and reaches Bolt and
    the listeners: answered without a 5xx, and no lead left half changed."""

    @FUZZ
    @given(request=requests)
    def send(request: tuple[str, str]) -> None:
        body, content_type = request
        headers = {**slack_headers(body), "Content-Type": content_type}
        answer = client.post("/slack/events", content=body, headers=headers)
        assert_answered(answer)

    send()
    time.sleep(0.5)  # listeners run on after the ack
    assert_no_partial_lead(runtime, set(lead_ids))


def test_generated_slack_requests_never_break_the_app(client: TestClient, runtime: Runtime):
    lead_ids = [
        client.post("/api/leads", json=body, headers=AUTH).json()["id"]
        for body in (GOOD_LEAD, lead(external_id="b", email="b@nordlys.dk"), lead(country="US"))
    ]
    requests = slack_strategies(lead_ids)
    assert_slack_requests_never_break_the_app(client, runtime, requests, lead_ids)


def shapes(lead_ids: list[str]) -> st.SearchStrategy[tuple[str, str]]:
    """Signed payloads of every kind Slack sends, with any field missing, empty or of the
    wrong type: what a change on Slack's side, or a bug in a proxy, could deliver."""
    leads_ = st.sampled_from([*lead_ids, "", "nope"])
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "team": st.just({"id": "T0TEAM", "domain": "test"}),
        "user": st.sampled_from(USERS).map(lambda user: {"id": user, "team_id": "T0TEAM"}),
        "api_app_id": st.just("A0BATON"),
        "trigger_id": st.just("t-1"),
        "response_url": st.just("https://hooks.slack.invalid/actions/T0TEAM/1/x"),
        "actions": st.lists(
            st.fixed_dictionaries(
                {"action_id": st.sampled_from([*ActionId]), "block_id": st.just("lead")},
                optional={"value": leads_, "type": st.just("button")},
            ),
            max_size=2,
        ),
        "container": st.just({"type": "message", "message_ts": "1.2", "channel_id": "C0SALES"}),
        "channel": st.just({"id": "C0SALES", "name": "sales"}),
        "message": st.just({"ts": "1.2", "text": "lead"}),
        "view": st.fixed_dictionaries(
            {"id": st.just("V0VIEW"), "type": st.just("modal")},
            optional={
                "callback_id": st.sampled_from([*ViewId]),
                "private_metadata": leads_,
                "state": st.just({"values": {}}),
            },
        ),
        "callback_id": st.sampled_from(["baton.shortcut", "baton.unknown"]),
        "action_id": st.sampled_from([*ActionId]),
        "block_id": st.just("lead"),
        "value": TEXT,
        "is_cleared": st.booleans(),
        "submission": st.dictionaries(TEXT, TEXT, max_size=2),
    }
    kinds = [
        "block_actions",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "block_suggestion",
        "interactive_message",
        "dialog_submission",
    ]
    wild = {name: strategy | SCALARS | JSON for name, strategy in plausible.items()}
    payload = st.builds(
        lambda kind, fields: {"type": kind, **fields},
        st.sampled_from(kinds) | TEXT,
        st.fixed_dictionaries({}, optional=wild),
    )
    command_fields = {
        "command": st.just("/baton") | TEXT,
        "text": st.sampled_from(["", "help", "mine", "lead", "stats"]) | TEXT,
        "user_id": st.sampled_from(USERS) | TEXT,
        "team_id": st.just("T0TEAM"),
        "channel_id": st.just("C0SALES") | TEXT,
        "trigger_id": st.just("t") | TEXT,
        "response_url": st.just("https://hooks.slack.invalid/x"),
    }
    command = st.fixed_dictionaries({}, optional=command_fields)
    event_fields = {
        "type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited"]) | TEXT,
        "team_id": st.just("T0TEAM") | SCALARS,
        "api_app_id": st.just("A0BATON") | SCALARS,
        "event_id": st.uuids().map(lambda uuid: f"Ev{uuid.hex}") | SCALARS | JSON,
        "event_time": st.just(int(time.time())) | SCALARS,
        "challenge": TEXT | SCALARS,
        "authorizations": JSON,
        "event": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["app_home_opened", "message", "app_mention"]) | TEXT,
                "user": st.sampled_from(USERS) | SCALARS,
                "tab": st.sampled_from(["home", "messages"]) | SCALARS,
                "channel": st.just("D0DM") | SCALARS,
                "view": JSON,
            },
        )
        | SCALARS
        | JSON,
    }
    event = st.fixed_dictionaries({}, optional=event_fields)

    # SCALARS | JSON: a payload that is not an object at all
    return as_slack_sends([payload, SCALARS | JSON], command=command, event=event)


def test_generated_signed_payloads_of_any_shape_never_break_the_app(
    client: TestClient, runtime: Runtime
):
    lead_ids = [client.post("/api/leads", json=GOOD_LEAD, headers=AUTH).json()["id"]]
    assert_slack_requests_never_break_the_app(client, runtime, shapes(lead_ids), lead_ids)


def test_a_signed_block_actions_payload_without_actions_is_acknowledged_and_ignored(
    client: TestClient, slack
):
    lead_id = client.post("/api/leads", json=GOOD_LEAD, headers=AUTH).json()["id"]
    slack.wait_for("chat.postMessage")
    for actions in ([], None, [None], ["baton.claim"], {"action_id": "baton.claim"}):
        payload = {**block_action(user="U0SELLER1", action_id=ActionId.CLAIM, value=lead_id)}
        payload["actions"] = actions
        body = urlencode({"payload": json.dumps(payload)})
        answer = client.post("/slack/events", content=body, headers=slack_headers(body))
        assert answer.status_code == 200, (actions, answer.status_code, answer.text)
    time.sleep(0.5)
    assert not slack.calls_to("chat.update")  # nothing was claimed


# Inputs that once were a 500 ----------------------------------------------------------------


def test_a_huge_employee_count_is_a_4xx(client: TestClient):
    """The column is a 32-bit integer on PostgreSQL and 64-bit on SQLite."""
    answer = client.post("/api/leads", json=lead(employees=10**20), headers=AUTH)
    assert 400 <= answer.status_code < 500


def test_an_activity_at_the_edge_of_time_is_a_4xx(client: TestClient):
    step = {"at": "0001-01-01T00:00:00+01:00", "kind": "webinar"}
    answer = client.post("/api/leads", json=lead(activity=[step]), headers=AUTH)
    assert 400 <= answer.status_code < 500


def test_a_nul_character_is_never_a_500(client: TestClient):
    """PostgreSQL cannot store a NUL in text at all, so it is refused everywhere."""
    answer = client.post("/api/leads", json=lead(name="Mette\x00Hansen"), headers=AUTH)
    assert answer.status_code == 422
