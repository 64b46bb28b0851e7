"""The fake Slack must fail where Slack fails, or the end-to-end tests prove nothing.

Everything here goes through the real ``slack_sdk`` clients, so the retry handlers and error
types are the ones Baton meets in production.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from bot.demo.slack_standin import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.url, timeout=5)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _error_of(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


# answers --------------------------------------------------------------------------------


def test_auth_test_identifies_the_bot(client: WebClient, fake: FakeSlack) -> None:
    response = client.auth_test()

    assert response["user_id"] == "UBATON"
    assert response["bot_id"] == "BBATON"
    assert response["team_id"] == "T0TEAM"
    assert response["team"] == "Test"
    (call,) = fake.calls_to("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-test"


def test_post_message_returns_increasing_ts_and_echoes_the_message(
    client: WebClient, fake: FakeSlack
) -> None:
    blocks = [_section("*New lead*")]
    first = client.chat_postMessage(channel="C0SALES", text="New lead", blocks=blocks)
    second = client.chat_postMessage(channel="C0SALES", text="again", thread_ts=first["ts"])

    assert first["channel"] == "C0SALES"
    assert abs(float(first["ts"]) - time.time()) < 5  # the time it was posted, as Slack's is
    assert len(first["ts"].split(".")[1]) == 6
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "New lead"
    assert first["message"]["blocks"] == blocks
    assert second["message"]["thread_ts"] == first["ts"]
    calls = fake.wait_for("chat.postMessage", 2)
    assert calls[0].json("blocks") == blocks
    assert calls[0].headers["content-type"].startswith("application/json")
    assert calls[1].response is not None and calls[1].response["ts"] == second["ts"]


def test_posting_to_a_user_lands_in_a_stable_dm(client: WebClient, fake: FakeSlack) -> None:
    one = client.chat_postMessage(channel="U0ALICE", text="hi")
    two = client.chat_postMessage(channel="U0ALICE", text="again")
    opened = client.conversations_open(users=["U0ALICE"])
    other = client.conversations_open(users="U0BOB")

    assert one["channel"].startswith("D")
    assert one["channel"] == two["channel"] == opened["channel"]["id"] == fake.dm_channel("U0ALICE")
    assert other["channel"]["id"] != one["channel"]


def test_form_encoded_json_params_are_readable(client: WebClient, fake: FakeSlack) -> None:
    blocks = [_section("form")]
    client.api_call(
        "chat.postMessage",
        params={"channel": "C1", "text": "form", "blocks": json.dumps(blocks)},
    )

    (call,) = fake.calls_to("chat.postMessage")
    assert isinstance(call.params["blocks"], str)
    assert call.json("blocks") == blocks
    with pytest.raises(KeyError, match="no parameter 'view'"):
        call.json("view")


def test_other_methods_answer_like_slack(client: WebClient, fake: FakeSlack) -> None:
    updated = client.chat_update(channel="C1", ts="1700000000.000100", text="claimed")
    ephemeral = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    link = client.chat_getPermalink(channel="C1", message_ts="1700000000.000100")
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Feedback"},
        "blocks": [_section("How was the lead?")],
    }
    opened = client.views_open(trigger_id="123.456.abc", view=modal)
    pushed = client.views_push(trigger_id="123.456.abc", view=modal)
    changed = client.views_update(view_id=opened["view"]["id"], view=modal)
    home = {"type": "home", "blocks": [_section("Your leads")]}
    published = client.views_publish(user_id="U1", view=home)
    republished = client.views_publish(user_id="U1", view=home)
    user = client.users_info(user="U1")["user"]

    assert (updated["channel"], updated["ts"], updated["text"]) == (
        "C1",
        "1700000000.000100",
        "claimed",
    )
    assert ephemeral["message_ts"]
    assert link["permalink"] == "https://test.slack.com/archives/C1/p1700000000000100"
    assert opened["view"]["id"].startswith("V")
    assert pushed["view"]["id"] != opened["view"]["id"]
    assert changed["view"]["id"] == opened["view"]["id"]
    assert published["view"]["id"] == republished["view"]["id"]
    assert {user["id"], user["tz"]} == {"U1", "Europe/Copenhagen"}
    assert user["name"] and user["real_name"]
    assert fake.wait_for("views.open")[0].json("view")["title"]["text"] == "Feedback"


def test_users_are_found_by_email_or_not_found_like_slack(
    client: WebClient, fake: FakeSlack
) -> None:
    fake.set_user("U0ANNA", email="Anna@Example.dk")
    found = client.users_lookupByEmail(email="anna@example.dk")["user"]
    assert (found["id"], found["profile"]["email"]) == ("U0ANNA", "Anna@Example.dk")
    with pytest.raises(SlackApiError) as missing:
        client.users_lookupByEmail(email="nobody@example.dk")
    assert missing.value.response["error"] == "users_not_found"


def test_history_is_newest_first_in_pages_and_shows_metadata_only_when_asked(
    client: WebClient, fake: FakeSlack
) -> None:
    stamp = {"event_type": "baton_outbox", "event_payload": {"row": 7}}
    posted = [
        client.chat_postMessage(channel="C1", text=f"m{i}", metadata=stamp if i == 2 else None)
        for i in range(5)
    ]
    ts = [p["ts"] for p in posted]
    client.chat_postMessage(channel="C1", text="in a thread", thread_ts=ts[0])

    first = client.conversations_history(channel="C1", limit=2)
    second = client.conversations_history(
        channel="C1", limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    last = client.conversations_history(
        channel="C1", limit=2, cursor=second["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in first["messages"]] == [ts[4], ts[3]]
    assert [m["ts"] for m in second["messages"]] == [ts[2], ts[1]]
    assert [m["ts"] for m in last["messages"]] == [ts[0]]
    assert (first["has_more"], second["has_more"], last["has_more"]) == (True, True, False)
    assert last["response_metadata"]["next_cursor"] == ""
    assert not any("metadata" in m for m in second["messages"])
    assert (last["messages"][0]["reply_count"], last["messages"][0]["thread_ts"]) == (1, ts[0])

    with_metadata = client.conversations_history(channel="C1", include_all_metadata=True)
    assert [m.get("metadata") for m in with_metadata["messages"]] == [None, None, stamp, None, None]
    after = client.conversations_history(channel="C1", oldest=ts[1], latest=ts[4])
    assert [m["ts"] for m in after["messages"]] == [ts[3], ts[2]]
    inclusive = client.conversations_history(channel="C1", oldest=ts[1], inclusive=True)
    assert [m["ts"] for m in inclusive["messages"]] == [ts[4], ts[3], ts[2], ts[1]]
    assert fake.messages("C1")[2]["metadata"] == stamp


def test_replies_are_the_thread_oldest_first_with_its_parent_leading(
    client: WebClient, fake: FakeSlack
) -> None:
    parent = client.chat_postMessage(channel="C1", text="card")["ts"]
    stamp = {"event_type": "baton_outbox", "event_payload": {"row": 9}}
    replies = [
        client.chat_postMessage(
            channel="C1", thread_ts=parent, text=f"r{i}", metadata=stamp if i == 1 else None
        )["ts"]
        for i in range(3)
    ]

    page = client.conversations_replies(channel="C1", ts=parent, limit=2)
    rest = client.conversations_replies(
        channel="C1", ts=parent, limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in page["messages"]] == [parent, replies[0]]
    assert [m["ts"] for m in rest["messages"]] == [replies[1], replies[2]]
    assert (page["has_more"], rest["has_more"]) == (True, False)
    assert not any("metadata" in m for m in rest["messages"])

    later = client.conversations_replies(
        channel="C1", ts=parent, oldest=replies[0], include_all_metadata=True
    )
    assert [m["ts"] for m in later["messages"]] == [parent, replies[1], replies[2]]
    assert later["messages"][1]["metadata"] == stamp
    assert [r["text"] for r in fake.replies("C1", parent)] == ["r0", "r1", "r2"]


def test_read_methods_refuse_what_slack_refuses(client: WebClient) -> None:
    dm = client.chat_postMessage(channel="U0ALICE", text="hi")
    assert client.conversations_history(channel=dm["channel"])["messages"][0]["text"] == "hi"
    assert client.conversations_history(channel="C0EMPTY")["messages"] == []
    cases = [
        (lambda: client.api_call("conversations.history", params={}), "invalid_arguments"),
        (lambda: client.conversations_history(channel="U0ALICE"), "channel_not_found"),
        (lambda: client.conversations_history(channel="D0NEVER"), "channel_not_found"),
        (lambda: client.conversations_history(channel="C1", cursor="%%"), "invalid_cursor"),
        (lambda: client.conversations_history(channel="C1", oldest="soon"), "invalid_ts_oldest"),
        (lambda: client.conversations_history(channel="C1", latest="nan"), "invalid_ts_latest"),
        (
            lambda: client.api_call("conversations.replies", params={"channel": "C1"}),
            "invalid_arguments",
        ),
        (lambda: client.conversations_replies(channel="C1", ts="1.000001"), "thread_not_found"),
        (lambda: client.conversations_replies(channel="U0ALICE", ts="1.2"), "channel_not_found"),
    ]
    for call, error in cases:
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert _error_of(excinfo) == error


def test_a_connection_dropped_after_accepting_leaves_the_message_posted(
    client: WebClient, fake: FakeSlack
) -> None:
    fake.disconnect("chat.postMessage", after_accepting=True)
    fake.disconnect("chat.postMessage")
    client.retry_handlers.clear()

    for _ in range(2):
        with pytest.raises(OSError):  # the connection closed without an answer
            client.chat_postMessage(channel="C1", text="lost answer")

    (kept,) = fake.messages("C1")  # the first went through, the second never arrived
    (accepted, lost) = fake.calls_to("chat.postMessage", include_failed=True)
    assert (accepted.answered, lost.answered) == ("dropped", "dropped")
    assert accepted.response is not None and accepted.response["ts"] == kept["ts"]
    assert lost.response is None
    assert fake.calls_to("chat.postMessage") == []


def test_socket_mode_needs_an_app_token(fake: FakeSlack) -> None:
    app_client = WebClient(token="xapp-1-test", base_url=fake.url)
    assert app_client.apps_connections_open(app_token="xapp-1-test")["url"].startswith("ws")
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token="xoxb-test", base_url=fake.url).apps_connections_open(app_token="")
    assert _error_of(excinfo) == "not_allowed_token_type"


# errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("nonsense", "invalid_auth")])
def test_requests_without_a_valid_token_are_refused(
    fake: FakeSlack, token: str | None, error: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token=token, base_url=fake.url).auth_test()
    assert _error_of(excinfo) == error
    assert fake.calls_to("auth.test") == []
    assert fake.calls_to("auth.test", include_failed=True)[0].answered == "error"


def test_unknown_methods_and_missing_arguments(client: WebClient) -> None:
    cases = [
        (lambda: client.api_call("leads.claim"), "unknown_method"),
        (lambda: client.api_call("chat.postMessage", json={"text": "x"}), "channel_not_found"),
        (lambda: client.api_call("chat.postMessage", json={"channel": "C1"}), "no_text"),
        (
            lambda: client.api_call("chat.update", json={"channel": "C1", "text": "x"}),
            "invalid_arguments",
        ),
        (
            lambda: client.api_call("chat.update", json={"ts": "1.2", "text": "x"}),
            "channel_not_found",
        ),
        (
            lambda: client.api_call("chat.postEphemeral", json={"channel": "C1", "text": "x"}),
            "invalid_arguments",
        ),
        (
            lambda: client.api_call("chat.postEphemeral", json={"user": "U1", "text": "x"}),
            "channel_not_found",
        ),
    ]
    for call, error in cases:
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert _error_of(excinfo) == error


def test_injected_failure_raises_and_is_counted_apart(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "channel_not_found", times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="C1", text="x")
        assert _error_of(excinfo) == "channel_not_found"
    client.chat_postMessage(channel="C1", text="x")

    assert len(fake.calls_to("chat.postMessage")) == 1
    attempts = fake.calls_to("chat.postMessage", include_failed=True)
    assert [c.answered for c in attempts] == ["error", "error", "ok"]


def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=1)
    client = WebClient(token="xoxb-test", base_url=fake.url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))

    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True

    limited, ok = fake.calls_to("chat.postMessage", include_failed=True)
    assert (limited.answered, ok.answered) == ("429", "ok")
    assert ok.at - limited.at >= 1.0


def test_rate_limit_without_a_handler_surfaces_retry_after(
    client: WebClient, fake: FakeSlack
) -> None:
    fake.rate_limit("chat.update", retry_after=7)

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1.2", text="x")

    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert _error_of(excinfo) == "ratelimited"


def test_server_errors_are_retried_by_the_server_error_handler(fake: FakeSlack) -> None:
    fake.server_error("chat.postMessage", status=503)
    client = WebClient(token="xoxb-test", base_url=fake.url)
    quick = FixedValueRetryIntervalCalculator(fixed_internal=0.01)
    client.retry_handlers.append(
        ServerErrorRetryHandler(max_retry_count=1, interval_calculator=quick)
    )

    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    answered = [c.answered for c in fake.calls_to("chat.postMessage", include_failed=True)]
    assert answered == ["5xx", "ok"]

    fake.server_error("chat.postMessage", times=2)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")
    assert excinfo.value.response.status_code == 500


def test_dropped_connections_are_retried_by_the_default_handler(
    client: WebClient, fake: FakeSlack
) -> None:
    assert any(isinstance(h, ConnectionErrorRetryHandler) for h in client.retry_handlers)
    fake.disconnect("auth.test")

    assert client.auth_test()["ok"] is True
    answered = [c.answered for c in fake.calls_to("auth.test", include_failed=True)]
    assert answered == ["dropped", "ok"]


@pytest.mark.parametrize("kind", ["5xx", "dropped"])
def test_an_outage_fails_every_method_until_slack_recovers(fake: FakeSlack, kind: str) -> None:
    client = WebClient(token="xoxb-test", base_url=fake.url, timeout=5, retry_handlers=[])
    fake.outage(kind)  # type: ignore[arg-type]
    for call in (client.auth_test, lambda: client.chat_postMessage(channel="C1", text="x")):
        for _ in range(2):
            with pytest.raises((SlackApiError, OSError)):
                call()
    fake.recover()
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True

    answered = [c.answered for c in fake.calls]
    assert answered == [kind] * 4 + ["ok"]
    assert [m["text"] for m in fake.messages("C1")] == ["x"]  # nothing went in while down


def test_a_stopped_server_refuses_connections() -> None:
    with FakeSlack() as server:
        url = server.url
    client = WebClient(token="xoxb-test", base_url=url, timeout=2, retry_handlers=[])
    with pytest.raises(URLError):
        client.auth_test()


# Block Kit limits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "blocks",
    [
        [_section(str(i)) for i in range(51)],
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
        [_section("s" * 3001)],
        [_section("")],
        [
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}],
            }
        ],
        [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": "pick",
                        "options": [
                            {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)}
                            for i in range(101)
                        ],
                    }
                ],
            }
        ],
        [{"type": "image", "image_url": "https://example.com/a.png"}],
        [{"type": "context", "elements": [{"type": "button", "text": "x"}]}],
        [{"type": "table", "rows": []}],
    ],
    ids=[
        *("51-blocks", "long-header", "mrkdwn-header", "long-section", "empty-section"),
        *("button", "101-options", "image-without-alt-text", "button-in-context", "unknown"),
    ],
)
def test_blocks_slack_would_reject_are_rejected(
    client: WebClient, fake: FakeSlack, blocks: list[dict[str, Any]]
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x", blocks=blocks)
    assert _error_of(excinfo) == "invalid_blocks"
    assert excinfo.value.response["response_metadata"]["messages"][0].startswith("[ERROR]")

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1.2", text="x", blocks=blocks)
    assert _error_of(excinfo) == "invalid_blocks"


def test_blocks_at_the_limits_are_accepted(client: WebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        _section("s" * 3000),
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 75}}],
        },
    ]
    blocks += [{"type": "divider"}] * (50 - len(blocks))

    assert client.chat_postMessage(channel="C1", text="x", blocks=blocks)["ok"] is True


def test_views_over_the_limits_are_invalid_arguments(client: WebClient) -> None:
    too_many = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Feedback"},
        "blocks": [{"type": "divider"}] * 101,
    }
    long_title = {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}
    for view in (too_many, long_title):
        with pytest.raises(SlackApiError) as excinfo:
            client.views_open(trigger_id="1.2.a", view=view)
        assert _error_of(excinfo) == "invalid_arguments"


# waiting and response_url ---------------------------------------------------------------


def test_wait_for_sees_calls_made_later_from_another_thread(
    client: WebClient, fake: FakeSlack
) -> None:
    def later() -> None:
        time.sleep(0.1)
        client.chat_postMessage(channel="C1", text="late")

    thread = threading.Thread(target=later)
    thread.start()
    (call,) = fake.wait_for("chat.postMessage", where=lambda c: c.params["text"] == "late")
    thread.join()
    assert call.params["channel"] == "C1"


def test_wait_for_timeout_lists_what_arrived(client: WebClient, fake: FakeSlack) -> None:
    client.chat_postMessage(channel="C0SALES", text="New lead")
    fake.fail("chat.update")
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C0SALES", ts="1.2", text="claimed")

    with pytest.raises(AssertionError) as excinfo:
        fake.wait_for("chat.update", timeout=0.2)

    message = str(excinfo.value)
    assert "expected 1 call(s) to chat.update answered ok within 0.2s, got 0" in message
    assert "chat.postMessage [ok]" in message
    assert "chat.update [error error=internal_error]" in message


def test_wait_for_timeout_without_any_calls_hints_at_base_url(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="No calls arrived at all"):
        fake.wait_for("chat.postMessage", timeout=0.05)


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    url = fake.response_url("lead-42")
    response = WebhookClient(url).send(text="Claimed by <@U1>", replace_original=True)

    assert response.status_code == 200
    (call,) = fake.wait_for("response_url")
    assert call.response_url_key == "lead-42"
    assert call.params == {"text": "Claimed by <@U1>", "replace_original": True}

    bad = WebhookClient(url).send(text="x", blocks=[_section("s" * 3001)])
    assert bad.status_code == 400


def test_reset_forgets_calls_and_plans(client: WebClient, fake: FakeSlack) -> None:
    client.auth_test()
    fake.fail("auth.test")
    fake.reset()

    assert fake.calls == []
    assert client.auth_test()["ok"] is True


def test_paced_posts_beyond_the_pace_of_a_conversation_are_refused(fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake.url, retry_handlers=[])
    fake.pace_posts(per_second=0.1, burst=3)
    for _ in range(3):  # a short burst is allowed
        client.chat_postMessage(channel="C1", text="hi")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="one too many")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "1"
    client.chat_postMessage(channel="C2", text="another channel has its own pace")
    client.chat_update(channel="C1", ts=fake.messages("C1")[0]["ts"], text="updates are not paced")
    assert [m["text"] for m in fake.messages("C1")] == ["updates are not paced", "hi", "hi"]


def test_conversations_info_says_whether_the_bot_is_a_member(fake: FakeSlack, client: WebClient):
    """As Slack answers a bot token with channels:read and groups:read."""
    fake.remove_bot("C0OUTSIDE")
    fake.remove_bot("G0HIDDEN")
    inside = client.conversations_info(channel="C0SALES")["channel"]
    assert (inside["id"], inside["is_member"], inside["is_private"]) == ("C0SALES", True, False)
    assert client.conversations_info(channel="C0OUTSIDE")["channel"]["is_member"] is False
    assert client.conversations_info(channel="G0PRIVATE")["channel"]["is_private"] is True
    with pytest.raises(SlackApiError) as hidden:
        client.conversations_info(channel="G0HIDDEN")
    assert hidden.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as missing:
        client.conversations_info(channel="D0NOBODY")
    assert missing.value.response["error"] == "channel_not_found"
