"""A conversation's members as the Bot Connector lists them (`pagedMembers`), with what only
the roster gives: each person's email address and user principal name.

Teams' installation activities name who was added by their ids alone; a bot learns a
person's address from the roster, read once when the app is installed. That is how the
people the agreement names by email address become known (`bot.teams.directory`).
"""

from typing import Any

import httpx
from microsoft_teams.api import ApiClient
from microsoft_teams.common import Client, ClientOptions

from bot.teams.errors import from_response, from_transport
from bot.teams.token import AppToken

PAGE = 500  # the connector's largest page
PAGES = 20  # ten thousand members: a team larger than that is read no further


class Members:
    """One per event loop; `http` is shared with the token, closed by whoever made it."""

    def __init__(self, *, token: AppToken, http: httpx.AsyncClient) -> None:
        self.token = token
        self.http = http

    async def of(self, conversation_id: str, service_url: str) -> list[dict[str, Any]]:
        """Every member of the conversation (a channel's: its team's), as Teams writes them
        (`id`, `name`, `aadObjectId`, `email`, `userPrincipalName`). Raises a
        `bot.teams.errors.TeamsError` when the connector refuses or cannot be reached."""
        api = ApiClient(service_url, Client(ClientOptions(token=self.token), _http=self.http))
        found: list[dict[str, Any]] = []
        continuation: str | None = None
        for _ in range(PAGES):
            try:
                page = await api.conversations.get_paged_members(
                    conversation_id.split(";")[0], PAGE, continuation
                )
            except httpx.HTTPStatusError as error:
                raise from_response("members", error.response) from error
            except httpx.TransportError as error:
                raise from_transport("members", error) from error
            found += [m.model_dump(by_alias=True, exclude_none=True) for m in page.members]
            continuation = page.continuation_token
            if not continuation:
                break
        return found
