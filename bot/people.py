"""People the agreement names by email address, resolved to the platform's user ids.

An email address is easier to get right than a member ID copied from a profile, so the
agreement may name anyone by either. The domain works with platform ids only: before Baton
starts, the `Roster` asks the platform's `Directory` for each address and replaces it with
the id in the agreement in effect. Each answer is kept (`storage.directory`), so a replica
that starts while the platform cannot be reached still knows its people; the platform's word
is asked first, because a person's address may move to someone else.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.agreement import Agreement, People, is_email
from bot.agreement_file import place
from bot.clock import Clock
from storage import directory
from storage.db import transaction

ROLES = ("sales_manager", "ceo", "sales", "marketing")


class DirectoryUnavailable(Exception):
    """The platform could not be asked; the message says why, in one line."""


class Directory(Protocol):
    """A chat platform's people, found by email address."""

    platform: str

    def user_by_email(self, email: str) -> str | None:
        """The platform's user id of the person with this address; None when nobody has it.

        Raises `DirectoryUnavailable` when the platform cannot be asked."""
        ...


@dataclass(frozen=True)
class Named:
    """One place in the agreement that names a person by email address."""

    keys: tuple[str | int, ...]
    email: str


def named_by_email(agreement: Agreement) -> Iterator[Named]:
    people = agreement.people
    for role in ROLES:
        value = getattr(people, role)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if is_email(item):
                    yield Named(("people", role, index), item)
        elif is_email(value):
            yield Named(("people", role), value)


def nobody(source: Path, named: Named, platform: str) -> str:
    """The one line `baton check` and start-up give for an address nobody on the platform has."""
    where = place(source, *named.keys)
    if platform == "teams":  # Teams tells a bot who people are only where it is installed
        return (
            f"{where}: Teams has not introduced anyone with the address {named.email} yet: add "
            f"Baton to the sales team (or they add it personally), or name them by their Entra "
            f"object ID"
        )
    return (
        f"{where}: {platform.capitalize()} knows nobody with the address {named.email}: check "
        f"the address, or name them by their member ID"
    )


def unresolved(agreement: Agreement, found: Directory, source: Path) -> list[str]:
    """What `baton check` says: each address the platform cannot resolve, one line each.
    Asks the platform only; stores nothing."""
    problems = []
    for named in named_by_email(agreement):
        try:
            if found.user_by_email(named.email) is None:
                problems.append(nobody(source, named, found.platform))
        except DirectoryUnavailable as error:
            return [str(error)]
    return problems


class Roster:
    """Resolves the people an agreement names by email, through the platform and the cache.

    `partial`: a platform that introduces people only once the app is installed where they
    are (Teams) cannot resolve everyone before its first start; then the addresses it can
    are replaced, the others wait (and can claim nothing) until `resolve` is called again
    after an installation, and what is missing is only noted (`pending`)."""

    def __init__(
        self,
        found: Directory,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        partial: bool = False,
    ) -> None:
        self.directory = found
        self.sessions = sessions
        self.clock = clock
        self.partial = partial
        self.pending: list[str] = []

    def resolve(self, agreement: Agreement, source: Path) -> list[str]:
        """Put user ids in place of the addresses in `agreement.people`; the problems, one
        line each, for the addresses that could not be resolved (then nothing is changed,
        unless the roster is `partial`: then the problems are `pending`, and returned empty)."""
        named = list(named_by_email(agreement))
        if not named:
            return []
        platform = self.directory.platform
        with self.sessions() as session:
            known = directory.cached(
                session=session, platform=platform, emails=[n.email for n in named]
            )
        ids: dict[str, str] = {}
        problems: list[str] = []
        with transaction(self.sessions) as session:
            for one in named:
                try:
                    user = self.directory.user_by_email(one.email)
                except DirectoryUnavailable as error:
                    user = known.get(one.email)
                    if user is None:
                        problems.append(f"{place(source, *one.keys)}: {error}")
                        continue
                else:
                    if user is None:
                        problems.append(nobody(source, one, platform))
                        continue
                    directory.remember(
                        session=session,
                        platform=platform,
                        email=one.email,
                        user_id=user,
                        at=self.clock(),
                    )
                ids[one.email] = user
        if self.partial:
            self.pending = problems
            agreement.people = _with_ids(agreement, ids)
            return []
        if not problems:
            agreement.people = _with_ids(agreement, ids)
            weights = {
                ids.get(seller, seller): w for seller, w in agreement.routing.weights.items()
            }
            agreement.routing = agreement.routing.model_copy(update={"weights": weights})
        return problems


def _with_ids(agreement: Agreement, ids: dict[str, str]) -> People:
    people = agreement.people
    update = {}
    for role in ROLES:
        value = getattr(people, role)
        if isinstance(value, list):
            update[role] = [ids.get(item, item) for item in value]
        else:
            update[role] = ids.get(value, value)
    return people.model_copy(update=update)
