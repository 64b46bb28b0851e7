"""What the Bot Connector tells of an installation beyond the activity: the conversation's
members (`pagedMembers`), with what only the roster gives, each person's email address and
user principal name; and a team's channels (`/v3/teams/{id}/conversations`).

Teams' installation activities name who was added by their ids alone, and only the team's
first channel; both lists are read once when the app is installed. That is how the people
the agreement names by email address, and its sales and marketing channels, become known
(`bot.teams.directory`, `storage.conversations`).
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

    async def channels(self, team_id: str, service_url: str) -> list[str]:
        """The ids of a team's channels (`19:…@thread.tacv2`); raises as `of` does."""
        api = ApiClient(service_url, Client(ClientOptions(token=self.token), _http=self.http))
        try:
            found = await api.teams.get_conversations(team_id)
        except httpx.HTTPStatusError as error:
            raise from_response("channels", error.response) from error
        except httpx.TransportError as error:
            raise from_transport("channels", error) from error
        return [channel.id for channel in found if channel.id]
