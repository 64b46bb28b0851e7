"""The Bot Connector: post to a conversation, reply in a thread, update in place, open a 1:1.

Calls go through Microsoft's Teams SDK (`microsoft_teams.api.ApiClient`, its activity
models), authenticated with Baton's own token (`bot.teams.token.AppToken`). Each call is made
once: a failure is raised as what it means for the message (`bot.teams.errors`), and waiting
or retrying is the outbox's decision, as it is for Slack, so no worker ever sleeps on a 429.
The one exception is a 401 from the connector: the token is dropped and the call made once
more with a fresh one, which is safe because a 401 means nothing was done.

Each conversation is served from the address Teams gave with it (`serviceUrl`); a call goes
there, and only a conversation Baton opens before it knows one goes to `TEAMS_SERVICE_URL`.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from microsoft_teams.api import (
    Account,
    ApiClient,
    Attachment,
    CreateConversationParams,
    MessageActivityInput,
)
from microsoft_teams.common import Client, ClientOptions

from bot.teams.endpoints import TeamsEndpoints
from bot.teams.errors import Refused, from_response, from_transport
from bot.teams.text import cut
from bot.teams.token import AppToken

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SUMMARY = 250  # characters of a message's summary: a notification's line
T = TypeVar("T")


@dataclass(frozen=True)
class Conversation:
    """Where a message goes: Teams' conversation id and the connector address serving it."""

    id: str
    service_url: str

    def thread(self, root_id: str) -> "Conversation":
        """A channel post's thread: its replies are posted to `{channel};messageid={root}`."""
        return Conversation(f"{self.id.split(';')[0]};messageid={root_id}", self.service_url)


@dataclass(frozen=True)
class Person:
    """What Baton keeps of a person from the app's installation, to open a 1:1 with them."""

    user_id: str
    tenant_id: str
    service_url: str


def card_message(card: dict[str, Any], summary: str) -> MessageActivityInput:
    """A message carrying one Adaptive Card; `summary` (cut to `SUMMARY`) is what
    notifications and the chat list show."""
    return MessageActivityInput(
        summary=cut(summary, SUMMARY),
        attachments=[Attachment(content_type=CARD_TYPE, content=card)],
    )


class Connector:
    """One per process; `http` is shared with the token, closed by whoever made it."""

    def __init__(self, endpoints: TeamsEndpoints, *, token: AppToken, http: httpx.AsyncClient):
        self.endpoints = endpoints
        self.token = token
        self._api = ApiClient(
            endpoints.teams_service_url, Client(ClientOptions(token=token), _http=http)
        )

    async def post(self, where: Conversation, message: MessageActivityInput) -> str:
        """Post `message` to a conversation (a channel: a new post); its activity id."""
        sent = await self._call(
            "post",
            lambda: self._api.conversations.create_activity(
                where.id, message, service_url=where.service_url
            ),
        )
        return sent.id

    async def reply(self, where: Conversation, root_id: str, message: MessageActivityInput) -> str:
        """Post `message` in the thread of the post `root_id`; the reply's activity id."""
        threaded = message.model_copy(update={"reply_to_id": root_id})
        return await self.post(where.thread(root_id), threaded)

    async def update(
        self, where: Conversation, activity_id: str, message: MessageActivityInput
    ) -> str:
        """Replace the activity `activity_id` (a card, updated in place for everyone)."""
        sent = await self._call(
            "update",
            lambda: self._api.conversations.update_activity(
                where.id, activity_id, message, service_url=where.service_url
            ),
        )
        return sent.id

    async def open_personal(self, person: Person) -> Conversation:
        """The 1:1 chat between the bot and `person`: Teams gives the existing one if there is
        one, so opening it again before each proactive message is safe."""
        service_url = person.service_url or self.endpoints.teams_service_url
        params = CreateConversationParams(
            members=[Account(id=person.user_id)],
            tenant_id=person.tenant_id,
            channel_data={"tenant": {"id": person.tenant_id}},
        )
        api = self._api.clone(service_url=service_url)
        resource = await self._call("open", lambda: api.conversations.create(params))
        return Conversation(resource.id, resource.service_url or service_url)

    async def _call(self, operation: str, send: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self._once(operation, send)
        except Refused as refused:
            if refused.status != 401:
                raise
        self.token.forget()  # revoked or expired early: nothing was done, so once more
        return await self._once(operation, send)

    @staticmethod
    async def _once(operation: str, send: Callable[[], Awaitable[T]]) -> T:
        try:
            return await send()
        except httpx.HTTPStatusError as error:
            raise from_response(operation, error.response) from error
        except httpx.TransportError as error:
            raise from_transport(operation, error) from error
