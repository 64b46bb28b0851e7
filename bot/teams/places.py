"""Where Teams conversations are: what the transport needs to know of a channel or a person
before it can write there, as Teams told Baton when the app was installed.

A channel is written to at its team's `serviceUrl` and looked in (a retry's lookup) through
Graph by its team's id; a person is reached in their 1:1 with the bot, opened from their
Teams user id and tenant, and looked in by Graph's id of that chat. `Places` is how the
transport asks; the process gives it one that reads what the installation stored.
"""

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.teams.connector import Person
from storage import conversations

PLATFORM = "teams"
_ENTRA_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


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


class StoredPlaces:
    """`Places` from what the installation stored (`storage.conversations`), read each time:
    a person who installs the app is reachable at their next message, on every replica."""

    def __init__(
        self, sessions: sessionmaker[Session], *, service_url: str, app_id: str | None = None
    ) -> None:
        """`service_url`: where a conversation Teams gave no address for is served
        (`TEAMS_SERVICE_URL`); `app_id`: the bot's, which names its 1:1 chats in Graph."""
        self.sessions = sessions
        self.service_url = service_url
        self.app_id = app_id

    def channel(self, channel_id: str) -> ChannelPlace | None:
        with self.sessions() as session:
            found = conversations.conversation(session, PLATFORM, channel_id)
        if found is None:
            return None
        return ChannelPlace(channel_id, found.service_url or self.service_url, found.team_id)

    def person(self, person_id: str) -> PersonPlace | None:
        with self.sessions() as session:
            known = conversations.person(session, PLATFORM, person_id)
            if known is None or not (known.account_id or known.conversation_id):
                return None
            chat = conversations.personal_conversation(session, PLATFORM, person_id)
        service_url = (chat.service_url if chat else None) or known.service_url
        return PersonPlace(
            person=Person(
                user_id=known.account_id or person_id,
                tenant_id=known.tenant_id or (chat.tenant_id if chat else None) or "",
                service_url=service_url or self.service_url,
            ),
            conversation=known.conversation_id,
            chat_id=(chat.chat_id if chat else None) or self._chat_id(person_id),
            name=known.name,
        )

    def _chat_id(self, person_id: str) -> str | None:
        """Graph's id of the 1:1 between a person and the bot, by Microsoft's naming
        (`19:{Entra object id}_{app id}@unq.gbl.spaces`), when they are named by Entra id."""
        if not self.app_id or not _ENTRA_ID.fullmatch(person_id):
            return None
        return f"19:{person_id}_{self.app_id}@unq.gbl.spaces"

    def email_of(self, person_id: str) -> str | None:
        """The address Teams gave with a person: what a CRM knows its users by."""
        with self.sessions() as session:
            known = conversations.person(session, PLATFORM, person_id)
        return known.email if known is not None else None


class StoredNames(Mapping[str, str]):
    """People's names as Teams gave them (`storage.conversations.names`), for the cards;
    read again at most every `EVERY`, so a card rendered in a burst costs no query."""

    EVERY = 60.0

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._names: dict[str, str] = {}
        self._read_at: float | None = None

    def _current(self) -> dict[str, str]:
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= self.EVERY:
            with self.sessions() as session:
                self._names = conversations.names(session, PLATFORM)
            self._read_at = now
        return self._names

    def __getitem__(self, person_id: str) -> str:
        return self._current()[person_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())
