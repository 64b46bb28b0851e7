"""Conversation references and the people a chat platform introduced (`ConversationRef`,
`ChatPerson`): what Teams gives when the app is installed or spoken to, kept so that a
message can later be posted, a 1:1 opened, a lookup made and an email address resolved.

Every write is an upsert that keeps what was known when the new activity does not say it
(a message from a person carries no email; an installation does), so the order in which
Teams' activities arrive does not lose anything. Replicas may write the same row at once.

A channel (or group chat) the app was removed from is kept, marked removed, so that what
would be posted there is known to have nowhere to go; the platform telling of it again
brings it back. Every change to the people is counted in `ChatRoster`, which each replica
compares with what it read (`roster_version`).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.models import ChatPerson, ChatRoster, ConversationRef

_SET = frozenset({"updated_at", "removed_at"})
"""Columns an upsert sets as given, None too: the time of this activity, and whether the
conversation is removed (told of again: it is not)."""


def _upsert(session: Session, model: Any, keys: dict[str, str], values: dict[str, Any]) -> None:
    """Insert, or fill the row's columns with the values given; a None keeps the old one."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**keys, **values)
    table = model.__table__
    updates = {
        name: (value if name in _SET else func.coalesce(statement.excluded[name], table.c[name]))
        for name, value in values.items()
    }
    session.exec(  # type: ignore[call-overload]
        statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
    )


def remember_conversation(
    session: Session,
    platform: str,
    conversation_id: str,
    *,
    at: datetime,
    kind: str | None = None,
    service_url: str | None = None,
    tenant_id: str | None = None,
    team_id: str | None = None,
    channel_id: str | None = None,
    chat_id: str | None = None,
) -> None:
    """Keep (or complete) what is known of a conversation."""
    _upsert(
        session,
        ConversationRef,
        {"platform": platform, "conversation_id": conversation_id},
        {
            "kind": kind,
            "service_url": service_url,
            "tenant_id": tenant_id,
            "team_id": team_id,
            "channel_id": channel_id,
            "chat_id": chat_id,
            "updated_at": at,
            "removed_at": None,
        },
    )


def conversation(session: Session, platform: str, conversation_id: str) -> ConversationRef | None:
    """What is known of a conversation, `removed_at` set when the app was removed from it; a
    thread (`…;messageid=…`) is its channel's."""
    return session.get(ConversationRef, (platform, conversation_id.split(";")[0]))


def remember_person(
    session: Session,
    platform: str,
    user_id: str,
    *,
    at: datetime,
    account_id: str | None = None,
    conversation_id: str | None = None,
    name: str | None = None,
    email: str | None = None,
    tenant_id: str | None = None,
    service_url: str | None = None,
) -> None:
    """Keep (or complete) what is known of a person; `email` is kept in lower case."""
    _upsert(
        session,
        ChatPerson,
        {"platform": platform, "user_id": user_id},
        {
            "account_id": account_id,
            "conversation_id": conversation_id,
            "name": name,
            "email": email.strip().lower() if email else None,
            "tenant_id": tenant_id,
            "service_url": service_url,
            "updated_at": at,
        },
    )


def person(session: Session, platform: str, user_id: str) -> ChatPerson | None:
    return session.get(ChatPerson, (platform, user_id))


def personal_conversation(session: Session, platform: str, person: str) -> ConversationRef | None:
    """The 1:1 between the bot and `person`, with the address that serves it, if one is known.

    A person whose 1:1 was never seen but whose account the platform gave (a member of a team
    the app is in) can still have one opened: `person(...)` has what that takes.
    """
    known = session.get(ChatPerson, (platform, person))
    if known is None or known.conversation_id is None:
        return None
    found = session.get(ConversationRef, (platform, known.conversation_id))
    if found is not None:
        return found
    return ConversationRef(
        platform=platform,
        conversation_id=known.conversation_id,
        kind="personal",
        service_url=known.service_url,
        tenant_id=known.tenant_id,
        updated_at=known.updated_at,
    )


def unreachable(session: Session, platform: str, people: Iterable[str]) -> list[str]:
    """Those of `people` (in their order, once each) Baton cannot message in a 1:1 yet: no 1:1
    stored, and no account to open one with."""
    wanted = list(dict.fromkeys(people))
    if not wanted:
        return []
    rows = session.exec(
        select(ChatPerson).where(
            ChatPerson.platform == platform, col(ChatPerson.user_id).in_(wanted)
        )
    )
    reachable = {row.user_id for row in rows if row.conversation_id or row.account_id}
    return [user for user in wanted if user not in reachable]


def by_email(session: Session, platform: str, emails: Iterable[str]) -> dict[str, str]:
    """Lower-case address -> user id, for the addresses the platform gave with a person."""
    wanted = sorted({email.strip().lower() for email in emails})
    if not wanted:
        return {}
    rows = session.exec(
        select(ChatPerson).where(ChatPerson.platform == platform, col(ChatPerson.email).in_(wanted))
    )
    return {row.email: row.user_id for row in rows if row.email}


def names(session: Session, platform: str) -> dict[str, str]:
    """User id -> the name the platform gave, for showing people in messages."""
    rows = session.exec(
        select(ChatPerson.user_id, ChatPerson.name).where(
            ChatPerson.platform == platform, col(ChatPerson.name).is_not(None)
        )
    )
    return {user_id: name for user_id, name in rows if name}


def forget_personal(
    session: Session, platform: str, conversation_id: str, *, at: datetime
) -> list[str]:
    """The app was removed from a 1:1: the conversation is forgotten, and so is the way to
    its person (their account, which opening a 1:1 again takes), until the platform
    introduces them again. Their name and address stay: the agreement still names them.
    Returns who it was (none when it was forgotten before)."""
    root = conversation_id.split(";")[0]
    session.execute(
        delete(ConversationRef).where(
            col(ConversationRef.platform) == platform,
            col(ConversationRef.conversation_id) == root,
        )
    )
    whose = list(
        session.exec(
            select(ChatPerson.user_id).where(
                ChatPerson.platform == platform, ChatPerson.conversation_id == root
            )
        )
    )
    if whose:
        session.execute(
            update(ChatPerson)
            .where(col(ChatPerson.platform) == platform, col(ChatPerson.user_id).in_(whose))
            .values(account_id=None, conversation_id=None, updated_at=at)
        )
    return whose


def forget_conversations(
    session: Session,
    platform: str,
    conversation_ids: Iterable[str],
    *,
    team_id: str | None,
    at: datetime,
) -> None:
    """The app was removed from a team (every channel of `team_id`, and the
    `conversation_ids`) or a group chat (the `conversation_ids`): each is marked removed at
    `at`, once (a removal told again keeps the first time)."""
    roots = {conversation.split(";")[0] for conversation in conversation_ids}
    gone = col(ConversationRef.conversation_id).in_(roots)
    if team_id:
        gone = or_(gone, col(ConversationRef.team_id) == team_id)
    session.execute(
        update(ConversationRef)
        .where(
            col(ConversationRef.platform) == platform,
            col(ConversationRef.removed_at).is_(None),
            gone,
        )
        .values(removed_at=at)
    )


def forget_accounts_without_team(session: Session, platform: str, *, at: datetime) -> None:
    """With no team left, the people the app was installed for nowhere but in a team (no 1:1
    of their own) cannot be reached any more: their accounts are forgotten. While a team is
    left they are kept: it may be theirs (the platform does not say whose team it was)."""
    teams_left = session.exec(
        select(ConversationRef.conversation_id)
        .where(
            ConversationRef.platform == platform,
            ConversationRef.kind == "channel",
            col(ConversationRef.removed_at).is_(None),
        )
        .limit(1)
    ).first()
    if teams_left is None:
        session.execute(
            update(ChatPerson)
            .where(
                col(ChatPerson.platform) == platform,
                col(ChatPerson.conversation_id).is_(None),
                col(ChatPerson.account_id).is_not(None),
            )
            .values(account_id=None, updated_at=at)
        )


def people_changed(session: Session, platform: str) -> None:
    """Count a change to the people `platform` introduced (one in this transaction, whatever
    it changed): the other replicas read them again."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ChatRoster).values(platform=platform, version=1)
    session.exec(  # type: ignore[call-overload]
        statement.on_conflict_do_update(
            index_elements=["platform"], set_={"version": ChatRoster.__table__.c.version + 1}
        )
    )


def roster_version(session: Session, platform: str) -> int:
    """How many changes to the people of `platform` were counted (0: none yet)."""
    found = session.get(ChatRoster, platform)
    return found.version if found is not None else 0
