"""Baton's token and Bot Connector calls, over HTTP against a local fake of Microsoft.

Every failure comes back as what it means for the message, the way the outbox reads Slack's:
429 holds the call until Retry-After, Microsoft not answering is an outage, and a refusal is
permanent unless Microsoft's guidance says another try can succeed.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from bot.teams.connector import Connector, Conversation, Person, card_message
from bot.teams.endpoints import TeamsEndpoints
from bot.teams.errors import RateLimited, Refused, TeamsError, Unavailable, retry_after
from bot.teams.token import AppToken
from tests.fake_teams import TENANT_ID, FakeTeams

T = TypeVar("T")
CHANNEL = "19:5c4a0d3ce1b84b2c9e4d2f8e7a6b1c09@thread.tacv2"
USER = "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4JDrrA8vM"
CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi"}]}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def endpoints(teams: FakeTeams, **overrides: Any) -> TeamsEndpoints:
    values = {
        "teams_app_id": teams.app_id,
        "teams_app_password": teams.password,
        "teams_login_url": teams.url,
        "teams_openid_url": teams.metadata_url,
        "teams_service_url": teams.service_url,
        **overrides,
    }
    return TeamsEndpoints(_env_file=None, **values)  # type: ignore[call-arg]


def run(
    teams: FakeTeams,
    work: Callable[[Connector], Awaitable[T]],
    *,
    clock: Clock | None = None,
    **overrides: Any,
) -> T:
    """`work` with a connector (and its token) talking to the fake, in a fresh event loop."""

    async def go() -> T:
        async with httpx.AsyncClient(timeout=5) as http:
            token = AppToken(endpoints(teams, **overrides), http=http, clock=clock or Clock())
            connector = Connector(endpoints(teams, **overrides), token=token, http=http)
            return await work(connector)

    return asyncio.run(go())


def channel(teams: FakeTeams) -> Conversation:
    return Conversation(CHANNEL, teams.service_url)


def message(text: str = "Hi") -> Any:
    card = {**CARD, "body": [{"type": "TextBlock", "text": text}]}
    return card_message(card, summary=text)


# the token ----------------------------------------------------------------------------


def test_the_token_is_asked_for_once_and_kept(teams: FakeTeams) -> None:
    async def work(connector: Connector) -> list[str]:
        return [await connector.token() for _ in range(3)]

    values = run(teams, work)
    assert len(set(values)) == 1
    (call,) = teams.calls_to("token")
    assert call.path == "/botframework.com/oauth2/v2.0/token"
    assert call.body == {
        "grant_type": "client_credentials",
        "client_id": teams.app_id,
        "client_secret": teams.password,
        "scope": "https://api.botframework.com/.default",
    }


def test_a_single_tenant_app_asks_its_own_tenant(teams: FakeTeams) -> None:
    run(teams, lambda connector: connector.token(), teams_tenant_id=TENANT_ID)
    (call,) = teams.calls_to("token")
    assert call.path == f"/{TENANT_ID}/oauth2/v2.0/token"


def test_the_token_is_renewed_five_minutes_before_it_runs_out(teams: FakeTeams) -> None:
    clock = Clock()

    async def work(connector: Connector) -> list[str]:
        first = await connector.token()
        clock.now += timedelta(seconds=3599 - 5 * 60 - 1)
        same = await connector.token()
        clock.now += timedelta(seconds=2)
        return [first, same, await connector.token()]

    first, same, renewed = run(teams, work, clock=clock)
    assert first == same != renewed
    assert len(teams.calls_to("token")) == 2


def test_fifty_calls_at_once_ask_for_one_token(teams: FakeTeams) -> None:
    async def work(connector: Connector) -> set[str]:
        return set(await asyncio.gather(*(connector.token() for _ in range(50))))

    assert len(run(teams, work)) == 1
    assert len(teams.calls_to("token")) == 1


def test_a_wrong_secret_is_refused_for_good_with_entras_reason(teams: FakeTeams) -> None:
    with pytest.raises(Refused) as refused:
        run(teams, lambda connector: connector.token(), teams_app_password="wrong")
    assert refused.value.permanent
    assert refused.value.code == "invalid_client"
    assert "AADSTS7000215" in refused.value.message


def test_the_token_service_unavailable_is_an_outage(teams: FakeTeams) -> None:
    teams.fail("token", 503, "temporarily_unavailable")
    with pytest.raises(Unavailable):
        run(teams, lambda connector: connector.token())


def test_an_answer_without_a_token_is_an_outage_not_a_crash(teams: FakeTeams) -> None:
    teams.fail("token", 200, "")
    with pytest.raises(Unavailable) as outage:
        run(teams, lambda connector: connector.token())
    assert not outage.value.maybe_done


# the connector ------------------------------------------------------------------------


def test_a_card_is_posted_to_a_channel_with_the_token(teams: FakeTeams) -> None:
    activity_id = run(teams, lambda connector: connector.post(channel(teams), message()))
    (posted,) = teams.activities(CHANNEL)
    assert posted.id == activity_id and activity_id.isdigit()
    assert posted.body["type"] == "message"
    assert posted.body["summary"] == "Hi"
    assert posted.body["attachments"] == [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD}
    ]
    (call,) = teams.calls_to("send")
    assert call.headers["authorization"].startswith("Bearer ")


def test_a_long_summary_is_cut_for_notifications() -> None:
    assert card_message(CARD, summary="x" * 1000).summary == "x" * 249 + "…"


def test_a_reply_goes_into_the_posts_thread(teams: FakeTeams) -> None:
    async def work(connector: Connector) -> tuple[str, str]:
        root = await connector.post(channel(teams), message("card"))
        return root, await connector.reply(channel(teams), root, message("reminder"))

    root, reply = run(teams, work)
    card, answer = teams.activities(CHANNEL)
    assert card.id == root
    assert answer.id == reply != root
    assert answer.conversation == f"{CHANNEL};messageid={root}"
    assert answer.body["replyToId"] == root


def test_a_reply_to_a_post_teams_does_not_have_is_refused(teams: FakeTeams) -> None:
    with pytest.raises(Refused) as refused:
        run(teams, lambda connector: connector.reply(channel(teams), "1700000000000", message()))
    assert refused.value.code == "ActivityNotFoundInConversation"
    assert refused.value.permanent


def test_a_card_is_updated_in_place(teams: FakeTeams) -> None:
    async def work(connector: Connector) -> tuple[str, str]:
        posted = await connector.post(channel(teams), message("unclaimed"))
        return posted, await connector.update(channel(teams), posted, message("claimed"))

    posted, updated = run(teams, work)
    assert posted == updated
    (card,) = teams.activities(CHANNEL)
    assert card.updates == 1
    assert card.body["attachments"][0]["content"]["body"][0]["text"] == "claimed"


def test_a_1to1_is_opened_and_written_to(teams: FakeTeams) -> None:
    person = Person(user_id=USER, tenant_id=TENANT_ID, service_url=teams.service_url)

    async def work(connector: Connector) -> tuple[Conversation, str]:
        chat = await connector.open_personal(person)
        return chat, await connector.post(chat, message("escalation"))

    chat, sent = run(teams, work)
    assert chat.id.startswith("a:") and chat.service_url == teams.service_url
    (opened,) = teams.calls_to("create_conversation")
    assert opened.body["members"] == [{"id": USER}]
    assert opened.body["channelData"] == {"tenant": {"id": TENANT_ID}}
    assert [a.id for a in teams.activities(chat.id)] == [sent]


def test_a_conversation_teams_does_not_know_is_refused_for_good(teams: FakeTeams) -> None:
    gone = Conversation("a:1nolongerthere", teams.service_url)
    with pytest.raises(Refused) as refused:
        run(teams, lambda connector: connector.post(gone, message()))
    assert (refused.value.status, refused.value.code) == (404, "ConversationNotFound")
    assert refused.value.permanent


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (403, "ConversationBlockedByUser"),
        (403, "BotNotInConversationRoster"),
        (403, "BotDisabledByAdmin"),
        (400, "BadArgument"),
        (500, "ServiceError"),
    ],
)
def test_refusals_microsoft_says_not_to_retry_are_permanent(
    teams: FakeTeams, status: int, code: str
) -> None:
    teams.fail("send", status, code)
    with pytest.raises(Refused) as refused:
        run(teams, lambda connector: connector.post(channel(teams), message()))
    assert refused.value.permanent and refused.value.code == code
    assert teams.activities(CHANNEL) == []


def test_a_precondition_failure_is_worth_another_try(teams: FakeTeams) -> None:
    teams.fail("send", 412, "PreconditionFailed", "Precondition failed, please try again.")
    with pytest.raises(Refused) as refused:
        run(teams, lambda connector: connector.post(channel(teams), message()))
    assert not refused.value.permanent


def test_a_message_over_teams_size_limit_is_refused_for_good(teams: FakeTeams) -> None:
    with pytest.raises(Refused) as refused:
        run(teams, lambda connector: connector.post(channel(teams), message("x" * 40_000)))
    assert (refused.value.status, refused.value.code) == (413, "MessageSizeTooBig")
    assert refused.value.permanent


def test_429_says_how_long_to_wait_and_is_not_retried_inside(teams: FakeTeams) -> None:
    teams.throttle("send", retry_after="7")
    with pytest.raises(RateLimited) as limited:
        run(teams, lambda connector: connector.post(channel(teams), message()))
    assert limited.value.retry_after == timedelta(seconds=7)
    assert limited.value.code == "Throttled"
    assert len(teams.calls_to("send")) == 1  # the outbox decides when to try again
    assert teams.activities(CHANNEL) == []


@pytest.mark.parametrize("status", [502, 503, 504])
def test_microsoft_not_answering_is_an_outage_that_may_have_posted(
    teams: FakeTeams, status: int
) -> None:
    teams.fail("update", status, "ServiceError")

    async def work(connector: Connector) -> str:
        posted = await connector.post(channel(teams), message())
        return await connector.update(channel(teams), posted, message("again"))

    with pytest.raises(Unavailable) as outage:
        run(teams, work)
    assert outage.value.status == status and outage.value.maybe_done


def test_a_dropped_connection_may_have_posted(teams: FakeTeams) -> None:
    teams.drop("send", accept=True)
    with pytest.raises(Unavailable) as outage:
        run(teams, lambda connector: connector.post(channel(teams), message()))
    assert outage.value.maybe_done
    assert len(teams.activities(CHANNEL)) == 1  # Teams has it; Baton never learnt its id


def test_a_refused_connection_did_not_post(teams: FakeTeams) -> None:
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    with pytest.raises(Unavailable) as outage:
        run(teams, lambda connector: connector.post(Conversation(CHANNEL, closed), message()))
    assert not outage.value.maybe_done


def test_a_token_the_connector_no_longer_takes_is_renewed_once(teams: FakeTeams) -> None:
    async def work(connector: Connector) -> str:
        await connector.token()
        teams.tokens.clear()  # revoked
        return await connector.post(channel(teams), message())

    assert run(teams, work)
    assert len(teams.calls_to("token")) == 2
    assert [c.status for c in teams.calls_to("send")] == [401, 201]


def test_a_token_refusal_reaches_the_caller_as_a_teams_error(teams: FakeTeams) -> None:
    with pytest.raises(TeamsError) as refused:
        run(
            teams,
            lambda connector: connector.post(channel(teams), message()),
            teams_app_password="wrong",
        )
    assert refused.value.operation == "token"
    assert teams.calls_to("send") == []


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, 1),
        ({"Retry-After": "0"}, 1),
        ({"Retry-After": "30"}, 30),
        ({"Retry-After": "86400"}, 3600),
        ({"Retry-After": "soon"}, 1),
        (
            {
                "Retry-After": "Wed, 21 Oct 2026 07:28:20 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            20,
        ),
    ],
)
def test_retry_after_is_read_in_seconds_or_as_a_date(headers: dict[str, str], seconds: int) -> None:
    assert retry_after(httpx.Headers(headers)) == timedelta(seconds=seconds)
