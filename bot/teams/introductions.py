"""What an activity tells Baton of where it came from: the conversation's address and
tenant, its team and channel, and the people in it (`storage.conversations`).

Teams says these things only in passing: when the app is installed in a team or by a person
(`installationUpdate`, `conversationUpdate` with `membersAdded`), and with every message
and click after. A bot cannot start a 1:1 with someone Teams never introduced, so each is
kept: the 1:1's conversation id where the activity is one, the person's account id (`29:…`)
to open one with otherwise, and the connector address (`serviceUrl`) that serves both.

Teams also says when the app is removed: `installationUpdate` with `action: remove` (from a
team, or by a person from their 1:1), and `conversationUpdate` with the bot among
`membersRemoved`. A removed team's channels (or a group chat) are kept marked removed, so
nothing is posted there again and what would have been is a dead letter that says why; a
1:1 is forgotten, and its person cannot be reached until Teams introduces them again
(`baton check` names both).

Each replica remembers whom it found known (`known`); a removal received by another one is
counted in the database (`storage.conversations.people_changed`), and the listeners read
people again when that count moved (`bot.teams.places.StoredPeople`).
"""

from typing import Any

from bot.context import Context
from bot.teams.directory import PLATFORM
from storage import conversations
from storage.db import reading, transaction

INSTALLS = frozenset({"conversationUpdate", "installationUpdate"})


def introduce(
    ctx: Context,
    activity: dict[str, Any],
    members: list[dict[str, Any]] | None = None,
    channels: list[str] | None = None,
    known: dict[str, str | None] | None = None,
) -> bool:
    """Keep what `activity` says of its conversation and people, the conversation's
    `members` as the roster lists them and its team's `channels` (both read at an
    installation: only the roster gives email addresses, only the list every channel); True
    when it introduced people (an installation, members added), so the agreement's
    addresses may resolve now.

    A click or a message from someone already known changes nothing and writes nothing: the
    answers to fifty clicks at once do not queue behind fifty writes. `known` remembers, in
    the process, who was found known and in which 1:1 (their row's `conversation_id`), so
    that such an activity does not read the database either: Baton never forgets a person it
    was introduced to.
    """
    conversation = activity.get("conversation") or {}
    service_url = activity.get("serviceUrl")
    if not conversation.get("id") or not service_url:
        return False
    if removal(activity):
        _forget(ctx, activity, {} if known is None else known)
        return False
    root = str(conversation["id"]).split(";")[0]
    kind = conversation.get("conversationType")
    data = activity.get("channelData") or {}
    tenant = (data.get("tenant") or {}).get("id") or conversation.get("tenantId")
    bot = (activity.get("recipient") or {}).get("id") or ""
    everyone = [activity.get("from") or {}, *(activity.get("membersAdded") or []), *(members or [])]
    merged: dict[str, dict[str, Any]] = {}
    for person in everyone:
        if person.get("aadObjectId") and person.get("id") != bot:
            key = str(person["aadObjectId"]).lower()
            merged[key] = {**merged.get(key, {}), **person}
    people = list(merged.values())
    installing = activity.get("type") in INSTALLS
    seen = {} if known is None else known
    unsure = [person for person in people if _unsure(seen, person, root, kind)]
    if not installing and not unsure:
        return False
    with reading(ctx.sessions) as session:
        news = installing or any(_new(session, seen, person, root, kind) for person in unsure)
    if not news:
        return False
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        conversations.remember_conversation(
            session,
            PLATFORM,
            root,
            at=now,
            kind=kind,
            service_url=service_url,
            tenant_id=tenant,
            team_id=(data.get("team") or {}).get("aadGroupId"),
            channel_id=(data.get("channel") or {}).get("id")
            or (root if kind == "channel" else None),
            chat_id=_chat_id(people[0], bot) if kind == "personal" and people else None,
        )
        for channel in channels or []:
            conversations.remember_conversation(
                session,
                PLATFORM,
                channel,
                at=now,
                kind="channel",
                service_url=service_url,
                tenant_id=tenant,
                team_id=(data.get("team") or {}).get("aadGroupId"),
                channel_id=channel,
            )
        for person in people:
            seen.pop(str(person["aadObjectId"]).lower(), None)  # read again when next seen
            conversations.remember_person(
                session,
                PLATFORM,
                str(person["aadObjectId"]).lower(),
                at=now,
                account_id=person.get("id"),
                conversation_id=root if kind == "personal" else None,
                name=person.get("name"),
                email=person.get("email") or person.get("userPrincipalName"),
                tenant_id=tenant,
                service_url=service_url,
            )
        if people:
            conversations.people_changed(session, PLATFORM)
    return installing and bool(people)


def installs(activity: dict[str, Any]) -> bool:
    """Whether `activity` installs the app, or changes what it was installed in (its roster,
    its team's channels): a removal does neither."""
    return activity.get("type") in INSTALLS and not removal(activity)


def removal(activity: dict[str, Any]) -> bool:
    """Whether `activity` says the app was removed from its conversation: uninstalled, or
    the bot itself among the members removed."""
    if activity.get("type") == "installationUpdate":
        return activity.get("action") == "remove"
    if activity.get("type") != "conversationUpdate":
        return False
    bot = (activity.get("recipient") or {}).get("id")
    removed = activity.get("membersRemoved") or []
    return bool(bot) and any(
        isinstance(member, dict) and member.get("id") == bot for member in removed
    )


def _forget(ctx: Context, activity: dict[str, Any], seen: dict[str, str | None]) -> None:
    """Forget the conversation the app was removed from; removing it again changes nothing.

    A 1:1: the conversation, and its person's way in. A team: every channel Baton knows of
    it, marked removed, found by the team's Graph id (`aadGroupId`), or by the one its first
    channel (the team's id) was stored with when the removal does not carry it. A group
    chat: itself, marked removed."""
    conversation = activity.get("conversation") or {}
    root = str(conversation["id"]).split(";")[0]
    data = activity.get("channelData") or {}
    team = data.get("team") or {}
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        if conversation.get("conversationType") == "personal":
            whose = conversations.forget_personal(session, PLATFORM, root, at=now)
            for user in whose:
                seen.pop(user, None)  # their next activity introduces them again
            if whose:
                conversations.people_changed(session, PLATFORM)
            return
        named = [root, *([str(team["id"])] if team.get("id") else [])]
        team_id = team.get("aadGroupId") or next(
            (
                ref.team_id
                for ref in (conversations.conversation(session, PLATFORM, c) for c in named)
                if ref is not None and ref.team_id
            ),
            None,
        )
        conversations.forget_conversations(session, PLATFORM, named, team_id=team_id, at=now)
        if conversation.get("conversationType") == "channel" or team:
            conversations.forget_accounts_without_team(session, PLATFORM, at=now)
            conversations.people_changed(session, PLATFORM)
    seen.clear()  # who was reachable through the team is read again


def _unsure(
    seen: dict[str, str | None], person: dict[str, Any], root: str, kind: str | None
) -> bool:
    """Whether the database must say if `person` is new: not found known in this process, or
    not in this 1:1."""
    user = str(person["aadObjectId"]).lower()
    return user not in seen or (kind == "personal" and seen[user] != root)


def _new(
    session: Any, seen: dict[str, str | None], person: dict[str, Any], root: str, kind: str | None
) -> bool:
    user = str(person["aadObjectId"]).lower()
    known = conversations.person(session, PLATFORM, user)
    if known is None or not (known.account_id or known.conversation_id):
        return True  # never introduced, or forgotten when the app was removed
    seen[user] = known.conversation_id
    return kind == "personal" and known.conversation_id != root


def _chat_id(person: dict[str, Any], bot: str) -> str:
    """Graph's id of the 1:1 between a person and the bot (`28:<app id>`), which Graph's
    chat messages are read by: `19:<their Entra id>_<app id>@unq.gbl.spaces`."""
    return f"19:{str(person['aadObjectId']).lower()}_{bot.split(':', 1)[-1]}@unq.gbl.spaces"
