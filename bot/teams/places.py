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
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.teams.connector import Person
from storage import conversations
from storage.db import reading

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
    removed_at: datetime | None = None
    """When the app was removed from its team: nothing can be posted there since."""


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
        """The channel (with `removed_at` once the app was removed from its team), or None
        when Baton was never installed in its team."""
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
        with reading(self.sessions) as session:
            found = conversations.conversation(session, PLATFORM, channel_id)
        if found is None:
            return None
        return ChannelPlace(
            channel_id, found.service_url or self.service_url, found.team_id, found.removed_at
        )

    def person(self, person_id: str) -> PersonPlace | None:
        with reading(self.sessions) as session:
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
        with reading(self.sessions) as session:
            known = conversations.person(session, PLATFORM, person_id)
        return known.email if known is not None else None


class StoredPeople:
    """The people Teams introduced as this process last read them: their names, and the
    count of changes to them (`storage.conversations.roster_version`) it read them at.

    Any replica may change them (an installation, a removal), so the count is read again at
    most every `EVERY` seconds, and the names only when it moved: a burst of clicks costs no
    query, and what another replica changed is seen here within `EVERY`."""

    EVERY = 1.0

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._version: int | None = None
        self._names: dict[str, str] = {}
        self._checked_at: float | None = None

    def current(self) -> tuple[int, dict[str, str]]:
        """The count of changes, and the names as of that count."""
        now = time.monotonic()
        if self._checked_at is None or now - self._checked_at >= self.EVERY:
            with reading(self.sessions) as session:
                version = conversations.roster_version(session, PLATFORM)
                if version != self._version:
                    self._names = conversations.names(session, PLATFORM)
                    self._version = version
            self._checked_at = now
        assert self._version is not None
        return self._version, self._names


class StoredNames(Mapping[str, str]):
    """People's names as Teams gave them, for the cards the outbox renders (`StoredPeople`)."""

    def __init__(self, people: StoredPeople) -> None:
        self.people = people

    def _current(self) -> dict[str, str]:
        return self.people.current()[1]

    def __getitem__(self, person_id: str) -> str:
        return self._current()[person_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())
