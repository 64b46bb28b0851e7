"""Before a message is posted again, Baton looks in Teams for the earlier attempt.

The Bot Connector has no idempotency key and no way to list a conversation's messages, so a
crash between Teams taking a card and the database recording its id, or an answer lost to a
timeout or a dropped connection, would post it twice: two cards for one lead, each with its
own Claim. Every card Baton posts therefore carries a stamp naming its outbox row (the `id`
of the card's first element, `stamp`), and a row that may already be in Teams is first looked
for through Microsoft Graph, which lists what the connector cannot: the channel's posts
(`/teams/{team}/channels/{channel}/messages`), a post's replies (`…/messages/{id}/replies`)
and a chat's messages (`/chats/{chat}/messages`), newest first, back to a minute before the
row was queued. Found, its id (Graph's message id is the connector's activity id) is recorded
and nothing is posted. Graph answers in Baton's own tenant token with the permissions the
README's "Create the Teams app" lists; a lookup that fails raises like any failed call, and
one that cannot finish (over `PAGES` pages since the row was queued) raises `Inconclusive`;
neither posts blind.
"""

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from bot.teams.endpoints import TeamsEndpoints
from bot.teams.errors import Refused, from_response, from_transport
from bot.teams.token import AppToken

OPERATION = "lookup"
PAGE = 50  # the most Graph gives in one page of channel or chat messages
PAGES = 10
SKEW = timedelta(minutes=1)  # read back this much further, in case our clock runs ahead
STAMP = "baton-outbox"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


class Inconclusive(Refused):
    """Too many messages since the row was queued to tell whether it is among them: an
    operator looks in Teams before sending it by hand."""

    @property
    def permanent(self) -> bool:
        return True


def mark(row_id: int | str, queued_at: datetime) -> str:
    """The stamp of one outbox row: its id and when it was queued, so that another Baton's row
    of the same id (a staging copy posting to the same channel) never matches."""
    return f"{STAMP}-{row_id}-{int(queued_at.timestamp() * 1_000_000)}"


def stamp(card: dict[str, Any], row_mark: str) -> dict[str, Any]:
    """`card` with `row_mark` as the id of its first element, where Graph will show it."""
    body = card.get("body") or []
    if not body:
        raise ValueError("a card without a body element cannot carry a stamp")
    body[0]["id"] = row_mark
    return card


def stamped(message: dict[str, Any], row_mark: str, app_id: str) -> bool:
    """Whether a Graph chatMessage is this app's card carrying `row_mark`."""
    sender = (message.get("from") or {}).get("application") or {}
    if sender.get("id") != app_id:
        return False
    for attachment in message.get("attachments") or []:
        if attachment.get("contentType") != CARD_TYPE:
            continue
        content = attachment.get("content")
        try:
            card = json.loads(content) if isinstance(content, str) else content
            first = (card.get("body") or [{}])[0]
        except (ValueError, AttributeError, IndexError):
            continue
        if isinstance(first, dict) and first.get("id") == row_mark:
            return True
    return False


class Lookup:
    """Reads a conversation's recent messages through Microsoft Graph (`TEAMS_GRAPH_URL`)."""

    def __init__(
        self, endpoints: TeamsEndpoints, *, token: AppToken, http: httpx.AsyncClient
    ) -> None:
        if not endpoints.teams_app_id:
            raise ValueError("TEAMS_APP_ID is needed to recognise Baton's own messages")
        self.app_id = endpoints.teams_app_id
        self.base = endpoints.teams_graph_url.rstrip("/")
        self.token = token
        self.http = http

    async def in_channel(
        self, *, team_id: str, channel_id: str, row_mark: str, since: datetime
    ) -> str | None:
        """The id of the channel post stamped `row_mark`, if it is there."""
        path = f"/teams/{_seg(team_id)}/channels/{_seg(channel_id)}/messages"
        return await self._find(path, {"$top": PAGE}, row_mark, since)

    async def in_thread(
        self, *, team_id: str, channel_id: str, root_id: str, row_mark: str, since: datetime
    ) -> str | None:
        """The id of the reply stamped `row_mark` in the thread of the post `root_id`."""
        path = (
            f"/teams/{_seg(team_id)}/channels/{_seg(channel_id)}/messages/{_seg(root_id)}/replies"
        )
        return await self._find(path, {"$top": PAGE}, row_mark, since)

    async def in_chat(self, *, chat_id: str, row_mark: str, since: datetime) -> str | None:
        """The id of the chat message stamped `row_mark` (a 1:1: Graph's id of the chat)."""
        after = (since - SKEW).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        params = {
            "$top": PAGE,
            "$orderby": "createdDateTime desc",
            "$filter": f"createdDateTime gt {after}",
        }
        return await self._find(f"/chats/{_seg(chat_id)}/messages", params, row_mark, since)

    async def _find(
        self, path: str, params: dict[str, Any], row_mark: str, since: datetime
    ) -> str | None:
        oldest = since - SKEW
        url: str | None = self.base + path
        query: dict[str, Any] | None = params
        for _ in range(PAGES):
            assert url is not None
            page = await self._get(url, query)
            for message in page.get("value") or []:
                if stamped(message, row_mark, self.app_id):
                    return str(message["id"])
                if _changed(message) < oldest:
                    return None  # newest first: everything further is older still
            url, query = page.get("@odata.nextLink"), None
            if not url:
                return None
        raise Inconclusive(
            OPERATION,
            f"over {PAGE * PAGES} messages since the row was queued; look in Teams before "
            "sending it by hand",
        )

    async def _get(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        response = await self._send(url, params)
        if response.status_code == 401:  # revoked or expired early: a fresh token, once
            self.token.forget()
            response = await self._send(url, params)
        if response.status_code != 200:
            raise from_response(OPERATION, response)
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def _send(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        try:
            return await self.http.get(url, params=params, headers=headers)
        except httpx.TransportError as error:
            raise from_transport(OPERATION, error) from error


def _changed(message: dict[str, Any]) -> datetime:
    """When the message last changed: Graph lists newest first (by creation, or by change),
    so once one changed before the row was queued, none further on can be the row's."""
    when = message.get("lastModifiedDateTime") or message["createdDateTime"]
    return datetime.fromisoformat(str(when).replace("Z", "+00:00"))


def _seg(value: str) -> str:
    return quote(value, safe=":@")
