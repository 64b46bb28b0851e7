"""A message whose answer was lost is found in Teams through Microsoft Graph, not posted twice.

Against the local fake: the connector takes the message and drops the connection (Baton
never learns the id), then the lookup reads the channel, the thread or the chat the way Graph
lists them, newest first and in pages, and finds the stamped card.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from bot.teams.connector import Connector, Conversation, Person, card_message
from bot.teams.endpoints import GRAPH_SCOPE
from bot.teams.errors import RateLimited, Refused, Unavailable
from bot.teams.lookup import PAGE, PAGES, Inconclusive, Lookup, mark, stamp, stamped
from bot.teams.token import AppToken
from tests.fake_teams import TENANT_ID, FakeTeams
from tests.test_teams_connector import CARD, CHANNEL, USER, endpoints

T = TypeVar("T")
QUEUED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


class Both:
    """A connector and a lookup sharing one HTTP client, as a worker would hold them."""

    def __init__(self, connector: Connector, lookup: Lookup) -> None:
        self.connector = connector
        self.lookup = lookup


def run(
    teams: FakeTeams, work: Callable[[Both], Awaitable[T]], *, tenant: str | None = TENANT_ID
) -> T:
    async def go() -> T:
        async with httpx.AsyncClient(timeout=5) as http:
            settings = endpoints(teams, teams_graph_url=f"{teams.url}/graph/v1.0")
            bot = AppToken(settings, http=http)
            graph = AppToken(settings, http=http, scope=GRAPH_SCOPE, tenant=tenant)
            both = Both(
                Connector(settings, token=bot, http=http),
                Lookup(settings, token=graph, http=http),
            )
            return await work(both)

    return asyncio.run(go())


def stamped_message(row: int, text: str = "card") -> Any:
    card = {**CARD, "body": [{"type": "TextBlock", "text": text}]}
    return card_message(stamp(card, mark(row, QUEUED)), summary=text)


def since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=5)


def channel(teams: FakeTeams) -> Conversation:
    return Conversation(CHANNEL, teams.service_url)


def find_in_channel(teams: FakeTeams, both: Both, row: int) -> Awaitable[str | None]:
    return both.lookup.in_channel(
        team_id=teams.team_id, channel_id=CHANNEL, row_mark=mark(row, QUEUED), since=since()
    )


# stamps --------------------------------------------------------------------------------


def test_a_stamp_names_the_row_and_when_it_was_queued() -> None:
    assert mark(7, QUEUED) != mark(7, QUEUED + timedelta(microseconds=1))
    assert mark(7, QUEUED) != mark(8, QUEUED)
    card = stamp({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]}, "m")
    assert card["body"][0]["id"] == "m"
    with pytest.raises(ValueError):
        stamp({"type": "AdaptiveCard", "body": []}, "m")


def test_only_this_apps_card_with_the_stamp_matches() -> None:
    card = '{"type": "AdaptiveCard", "body": [{"type": "TextBlock", "id": "m", "text": "x"}]}'
    message = {
        "from": {"application": {"id": "app"}},
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }
    assert stamped(message, "m", "app")
    assert not stamped(message, "other", "app")
    assert not stamped(message, "m", "another-app")
    assert not stamped({**message, "from": {"user": {"id": "someone"}}}, "m", "app")
    broken = {**message, "attachments": [{**message["attachments"][0], "content": "{not json"}]}
    assert not stamped(broken, "m", "app")


# lost answers, found -------------------------------------------------------------------


def test_a_card_whose_answer_was_lost_is_found_in_the_channel(teams: FakeTeams) -> None:
    teams.drop("send", accept=True)

    async def work(both: Both) -> str | None:
        with pytest.raises(Unavailable) as lost:
            await both.connector.post(channel(teams), stamped_message(1))
        assert lost.value.maybe_done
        return await find_in_channel(teams, both, 1)

    found = run(teams, work)
    (card,) = teams.activities(CHANNEL)
    assert found == card.id  # Graph's message id is the connector's activity id
    graph = teams.calls_to("graph")
    assert graph[0].path == f"/graph/v1.0/teams/{teams.team_id}/channels/{CHANNEL}/messages"
    assert graph[0].query == {"$top": str(PAGE)}


def test_a_card_that_never_reached_teams_is_not_found(teams: FakeTeams) -> None:
    async def work(both: Both) -> str | None:
        await both.connector.post(channel(teams), stamped_message(1))  # another row's card
        return await find_in_channel(teams, both, 2)

    assert run(teams, work) is None


def test_a_reply_whose_answer_was_lost_is_found_in_its_thread(teams: FakeTeams) -> None:
    async def work(both: Both) -> tuple[str, str | None]:
        root = await both.connector.post(channel(teams), stamped_message(1))
        teams.say(f"{CHANNEL};messageid={root}", "I'll call them")
        teams.drop("send", accept=True)
        with pytest.raises(Unavailable):
            await both.connector.reply(channel(teams), root, stamped_message(2, "reminder"))
        teams.say(f"{CHANNEL};messageid={root}", "called")
        found = await both.lookup.in_thread(
            team_id=teams.team_id,
            channel_id=CHANNEL,
            root_id=root,
            row_mark=mark(2, QUEUED),
            since=since(),
        )
        return root, found

    root, found = run(teams, work)
    replies = [a for a in teams.activities(CHANNEL) if a.conversation.endswith(root)]
    assert found == replies[1].id and len(replies) == 3


def test_a_1to1_message_whose_answer_was_lost_is_found_in_the_chat(teams: FakeTeams) -> None:
    person = Person(user_id=USER, tenant_id=TENANT_ID, service_url=teams.service_url)

    async def work(both: Both) -> tuple[Conversation, str | None]:
        chat = await both.connector.open_personal(person)
        teams.drop("send", accept=True)
        with pytest.raises(Unavailable):
            await both.connector.post(chat, stamped_message(3, "escalation"))
        found = await both.lookup.in_chat(
            chat_id=teams.graph_chat_id(chat.id), row_mark=mark(3, QUEUED), since=since()
        )
        return chat, found

    chat, found = run(teams, work)
    (sent,) = teams.activities(chat.id)
    assert found == sent.id
    (read,) = teams.calls_to("graph")
    assert read.query["$orderby"] == "createdDateTime desc"
    assert read.query["$filter"].startswith("createdDateTime gt ")


def test_the_lookup_pages_back_past_newer_messages(teams: FakeTeams) -> None:
    async def work(both: Both) -> str | None:
        await both.connector.post(channel(teams), stamped_message(1))
        for i in range(PAGE + 10):
            teams.say(CHANNEL, f"message {i}")
        return await find_in_channel(teams, both, 1)

    assert run(teams, work) == teams.activities(CHANNEL)[0].id
    assert len(teams.calls_to("graph")) == 2


def test_the_lookup_stops_at_messages_older_than_the_row(teams: FakeTeams) -> None:
    for i in range(3 * PAGE):
        teams.say(CHANNEL, f"old {i}")

    async def work(both: Both) -> str | None:
        return await both.lookup.in_channel(
            team_id=teams.team_id,
            channel_id=CHANNEL,
            row_mark=mark(1, QUEUED),
            since=datetime.now(UTC) + timedelta(minutes=2),  # queued after all of them
        )

    assert run(teams, work) is None
    assert len(teams.calls_to("graph")) == 1


def test_too_many_messages_to_tell_is_inconclusive_and_posts_nothing(teams: FakeTeams) -> None:
    async def work(both: Both) -> str | None:
        await both.connector.post(channel(teams), stamped_message(1))
        for i in range(PAGE * PAGES):
            teams.say(CHANNEL, f"busy {i}")
        return await find_in_channel(teams, both, 1)

    with pytest.raises(Inconclusive) as inconclusive:
        run(teams, work)
    assert inconclusive.value.permanent
    assert len(teams.calls_to("graph")) == PAGES


# Graph's refusals ----------------------------------------------------------------------


def test_graph_wants_a_token_of_the_customers_tenant(teams: FakeTeams) -> None:
    async def work(both: Both) -> str | None:
        return await find_in_channel(teams, both, 1)

    with pytest.raises(Refused) as refused:
        run(teams, work, tenant=None)  # a token from botframework.com reads nobody's messages
    assert (refused.value.status, refused.value.code) == (401, "InvalidAuthenticationToken")
    assert len(teams.calls_to("graph")) == 2  # tried once more with a fresh token


def test_graph_throttling_and_outages_read_as_for_the_connector(teams: FakeTeams) -> None:
    teams.throttle("graph", retry_after="3")
    with pytest.raises(RateLimited) as limited:
        run(teams, lambda both: find_in_channel(teams, both, 1))
    assert limited.value.retry_after == timedelta(seconds=3)
    teams.fail("graph", 503, "serviceNotAvailable")
    with pytest.raises(Unavailable):
        run(teams, lambda both: find_in_channel(teams, both, 1))


def test_without_the_permission_to_read_the_lookup_is_refused_for_good(teams: FakeTeams) -> None:
    teams.fail("graph", 403, "Forbidden", "Missing role permissions on the request.")
    with pytest.raises(Refused) as refused:
        run(teams, lambda both: find_in_channel(teams, both, 1))
    assert refused.value.permanent and refused.value.status == 403
