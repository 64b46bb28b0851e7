"""Where Teams conversations are: what the transport needs to know of a channel or a person
before it can write there, as Teams told Baton when the app was installed.

A channel is written to at its team's `serviceUrl` and looked in (a retry's lookup) through
Graph by its team's id; a person is reached in their 1:1 with the bot, opened from their
Teams user id and tenant, and looked in by Graph's id of that chat. `Places` is how the
transport asks; the process gives it one that reads what the installation stored.
"""

from dataclasses import dataclass
from typing import Protocol

from bot.teams.connector import Person


@dataclass(frozen=True)
class ChannelPlace:
    """A Teams channel Baton writes to."""

    id: str
    """The channel's conversation id (`19:…@thread.tacv2`), as the agreement names it."""
    service_url: str
    team_id: str | None = None
    """Graph's id of its team (`aadGroupId`): without it, a retry cannot look for a post."""


@dataclass(frozen=True)
class PersonPlace:
    """A person Baton writes to in a 1:1."""

    person: Person
    """Their Teams user id, tenant and the service URL to open the 1:1 at."""
    conversation: str | None = None
    """The 1:1's conversation id, once known (opened, or given at installation)."""
    chat_id: str | None = None
    """Graph's id of the 1:1 (`19:…@unq.gbl.spaces`): without it, a retry cannot look."""
    name: str | None = None
    """The name Teams shows for them."""


class Places(Protocol):
    """The conversation references the installation stored."""

    def channel(self, channel_id: str) -> ChannelPlace | None:
        """The channel, or None when Baton was never installed in its team."""
        ...

    def person(self, person_id: str) -> PersonPlace | None:
        """The person named so in the agreement (an Entra id, or as resolved from an email),
        or None when they cannot be reached yet (the app not installed for them)."""
        ...
