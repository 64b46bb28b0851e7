"""Teams' listeners: what an activity that passed `verify.py` asks, handed to the domain.

The twins of `handlers/` for Slack, as thin: each names the person (their Entra object id,
the id the agreement and the leads use) and the lead, calls the same service the Slack
listener calls (`bot.ownership`, `bot.feedback`, `bot.escalation`), and words the outcome
with `bot.teams.answers`. What Teams waits for is the HTTP answer to an invoke, so the
listeners return it: the card in place, or a refusal only the clicker sees, or a dialog.
The card everyone sees is brought up to date by the outbox, as on Slack.

An installation, a roster change or any message also tells Baton where a conversation is
served and who its people are; that is kept (`storage.conversations`) before anything else,
so proactive messages can be opened later.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot import cards as lead_cards
from bot import consequences, feedback, ownership
from bot.actions import ActionId
from bot.context import Context
from bot.deduplication import first_deliveries, first_delivery
from bot.refusals import Refused
from bot.teams import answers, commands, dialogs
from bot.teams.cards import CardRenderer
from bot.teams.directory import PLATFORM
from bot.teams.introductions import introduce
from bot.teams.places import StoredPeople
from storage.db import inserting_together, one_transaction
from storage.models import Lead

log = logging.getLogger(__name__)
Answer = dict[str, Any]


@dataclass
class Inbound:
    """What the listeners use of the running process."""

    ctx: Context
    cards: CardRenderer
    introduced: Callable[[], None]
    """Called after Teams introduced people: the agreement's addresses may resolve now."""
    people: StoredPeople
    """The people as any replica changed them: `known` and the cards' names follow it."""
    known: dict[str, str | None] = field(default_factory=dict)
    """Who Teams introduced before, as `introduce` found them (the process's memory)."""
    version: int | None = None
    """The count of changes to the people `known` and the cards' names are as of."""


@dataclass(frozen=True)
class Handled:
    answer: Answer | None = None
    """The body of the HTTP answer (an invoke's); None: a plain 200."""
    reply: dict[str, Any] | None = None
    """A card to post in the activity's conversation (the answer to a command)."""


def handle(
    inbound: Inbound,
    activity: dict[str, Any],
    members: list[dict[str, Any]] | None = None,
    channels: list[str] | None = None,
) -> Handled:
    """What to answer `activity`; `members` and `channels`, the roster and the team's
    channels read at an installation. A delivery seen before is answered without doing
    anything again."""
    _meet(inbound, activity, members, channels)
    key = _key(activity)
    if activity.get("type") != "invoke":
        fresh = first_delivery(inbound.ctx, key, platform=PLATFORM) if key else True
        if activity.get("type") == "message" and activity.get("text") and fresh:
            text = commands.words(activity)
            user = _person(activity)
            return Handled(reply=commands.answer(inbound.cards, inbound.ctx, user, text))
        return Handled()
    return Handled(answer=_invoke(inbound, activity, key))


def _meet(
    inbound: Inbound,
    activity: dict[str, Any],
    members: list[dict[str, Any]] | None = None,
    channels: list[str] | None = None,
) -> None:
    """Keep who and where the activity shows, before anything is done for it."""
    version, names = inbound.people.current()
    if version != inbound.version:  # a replica introduced or forgot people: read them again
        inbound.known.clear()
        inbound.cards.names = names
        inbound.version = version
    if introduce(inbound.ctx, activity, members, channels, inbound.known):
        inbound.cards.names = inbound.cards.names | _names(activity, members or [])
        inbound.introduced()


def _invoke(inbound: Inbound, activity: dict[str, Any], key: str | None) -> Answer:
    user = _person(activity)
    value = _dict(activity.get("value"))
    name = activity.get("name")
    if name == "adaptiveCard/action" and _verb(value) in TOLD:
        return told(inbound, user, value, key=key)
    if name == "adaptiveCard/action":
        return card_action(inbound, user, value, key=key)
    repeated = bool(key) and not first_delivery(inbound.ctx, key, platform=PLATFORM)
    if name == "task/fetch":
        return dialogs.open_dialog(inbound.ctx, inbound.cards, user, _dict(value.get("data")))
    if name == "task/submit":
        data = _dict(value.get("data"))
        if repeated:
            return answers.closed()
        return dialogs.submitted(inbound.ctx, inbound.cards, user, data)
    return {}


def _person(activity: dict[str, Any]) -> str | None:
    """Who acted: their Entra object id, in lower case as the agreement keeps it."""
    found = _dict(activity.get("from")).get("aadObjectId")
    return str(found).lower() if found else None


def _key(activity: dict[str, Any]) -> str | None:
    """An activity's id is unique within its conversation."""
    activity_id = activity.get("id")
    conversation = (activity.get("conversation") or {}).get("id") or ""
    return f"{activity_id}@{conversation}"[:255] if activity_id else None


def _names(activity: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, str]:
    people = [activity.get("from") or {}, *(activity.get("membersAdded") or []), *members]
    return {
        str(p["aadObjectId"]).lower(): str(p["name"])
        for p in people
        if p.get("aadObjectId") and p.get("name")
    }


# --- Action.Execute on a card: `adaptiveCard/action` -----------------------------------------


def _claim(ctx: Context, lead_id: str, user: str) -> Lead:
    return ownership.claim(ctx, lead_id=lead_id, user=user)


def _release(ctx: Context, lead_id: str, user: str) -> Lead:
    return ownership.release(ctx, lead_id=lead_id, user=user)


def _contacted(ctx: Context, lead_id: str, user: str) -> Lead:
    return ownership.mark_contacted(ctx, lead_id=lead_id, user=user)


def _won(ctx: Context, lead_id: str, user: str) -> None:
    feedback.close(ctx, lead_id=lead_id, by=user, won=True)


def _lost(ctx: Context, lead_id: str, user: str) -> None:
    feedback.close(ctx, lead_id=lead_id, by=user, won=False)


def _again(ctx: Context, lead_id: str, user: str) -> None:
    feedback.hand_over_again(ctx, lead_id=lead_id, by=user)


VERBS: dict[str, Callable[[Context, str, str], Lead | None]] = {
    ActionId.CLAIM: _claim,
    ActionId.RELEASE: _release,
    ActionId.MARK_CONTACTED: _contacted,
    ActionId.WON: _won,
    ActionId.LOST: _lost,
    ActionId.HAND_OVER_AGAIN: _again,
}
"""The work of each action; one that returns the lead as it left it spares the card a read."""


def card_action(
    inbound: Inbound, user: str | None, value: dict[str, Any], *, key: str | None = None
) -> Answer:
    """Claim, Release, Mark contacted, Won, Lost: the card as it now stands for the person who
    clicked, or why not, for them alone. A repeated delivery (`key`, seen before) shows the
    card and does nothing.

    Teams shows the clicker this answer, so it waits for the work. The delivery's key, the
    work (with its events and outbox rows) and the card are one transaction: one commit, one
    turn at the write lock. A refusal rolls it all back; the key is then kept on its own, so a
    repeat of the refused click is shown the card too."""
    lead_id = _named(value)
    work = VERBS.get(_verb(value))
    if work is None:
        return _notice(inbound, "unknown_action")
    if not user:
        return _notice(inbound, "unknown_person")
    ctx = inbound.ctx
    try:
        with one_transaction(ctx.sessions) as session:
            done = None
            if not key or first_delivery(ctx, key, platform=PLATFORM):
                done = work(ctx, lead_id, user)
            state = lead_cards.as_it_stands(session, lead_id, done)
    except Refused as refusal:
        if key:
            first_delivery(ctx, key, platform=PLATFORM)
        return _notice(inbound, refusal.reason, **refusal.details)
    ctx.wake()  # the work leaves the wake to whoever commits its outbox rows: here
    return _card(inbound, state)


def is_claim(activity: dict[str, Any]) -> bool:
    """A Claim on a lead's card: what `claims` decides together with others."""
    return (
        activity.get("type") == "invoke"
        and activity.get("name") == "adaptiveCard/action"
        and _verb(_dict(activity.get("value"))) == ActionId.CLAIM
    )


def claims(inbound: Inbound, activities: list[dict[str, Any]]) -> list[Handled | Exception]:
    """Claims that arrived together (`is_claim`), decided in one transaction, in the order
    they came: what `card_action` answers each, with one BEGIN, one COMMIT, one statement
    for their claims and one for their clocks (`ownership.claim_all`), one insert each of
    their keys, events and outbox rows, one read of their cards and one look at the digests
    for all of them.

    A claim is refused before it writes anything but its delivery's key, which is kept as
    a refused click's is, so a refusal leaves the others' work standing. Any other failure
    rolls all of them back, and each is then decided alone, as it would have been. A claim
    that came alone is decided so at once: one statement fewer than a batch of one."""
    if len(activities) == 1:
        return [_alone(inbound, activities[0])]
    for activity in activities:
        _meet(inbound, activity)
    ctx = inbound.ctx
    clicks = [(_person(a), _named(_dict(a.get("value"))), _key(a)) for a in activities]
    try:
        with one_transaction(ctx.sessions) as session, inserting_together(session):
            keys = [key for user, _, key in clicks if user and key]
            fresh = first_deliveries(ctx, keys, platform=PLATFORM)
            done: dict[str, Lead | None] = {}
            outcomes, work = _sort(inbound, fresh, done, clicks)
            decided = ownership.claim_all(ctx, [(lead_id, user) for _, lead_id, user in work])
            for (n, lead_id, _), result in zip(work, decided, strict=True):
                if isinstance(result, Refused):
                    outcomes[n] = _notice(inbound, result.reason, **result.details)
                else:
                    done[lead_id] = result
            states = lead_cards.as_they_stand(session, done)
    except Exception:
        log.warning("claims decided together failed; deciding each alone", exc_info=True)
        return [_alone(inbound, activity) for activity in activities]
    ctx.wake()
    return [
        Handled(answer=_card(inbound, states[o]) if isinstance(o, str) else o) for o in outcomes
    ]


def _sort(
    inbound: Inbound,
    fresh: set[str],
    done: dict[str, Lead | None],
    clicks: list[tuple[str | None, str, str | None]],
) -> tuple[list[str | Answer], list[tuple[int, str, str]]]:
    """What answers each claim of a batch, as far as is known before any is worked: the lead
    whose card answers it, or the notice that does; and the claims to work, (place, lead,
    person). A delivery `fresh` (taken for the first time) is worked once; a repeat is
    answered with its lead's card as it stands (None in `done`: to be read)."""
    outcomes: list[str | Answer] = []
    work: list[tuple[int, str, str]] = []
    for n, (user, lead_id, key) in enumerate(clicks):
        if not user:
            outcomes.append(_notice(inbound, "unknown_person"))
            continue
        if not key or key in fresh:
            fresh.discard(key or "")
            work.append((n, lead_id, user))
        else:
            done.setdefault(lead_id, None)
        outcomes.append(lead_id)
    return outcomes, work


def _named(value: dict[str, Any]) -> str:
    """What a card action is about: a lead's id, or a seller's (Put back in rotation)."""
    return str(_dict(_dict(value.get("action")).get("data")).get("value") or "")


def _alone(inbound: Inbound, activity: dict[str, Any]) -> Handled | Exception:
    """One claim decided on its own; what failed is its answer alone."""
    try:
        return handle(inbound, activity)
    except Exception as failed:
        return failed


def _restore(ctx: Context, seller: str, user: str) -> None:
    consequences.restore(ctx, seller=seller, by=user)


TOLD: dict[str, tuple[Callable[[Context, str, str], None], str, str]] = {
    ActionId.RESTORE: (_restore, "restored", "seller"),
}
"""Actions on a card that is not a lead's (Put back in rotation, in the sales manager's 1:1):
the work, the notice that says it was done, and what that notice calls the action's value.
Answered for the clicker alone."""


def told(
    inbound: Inbound, user: str | None, value: dict[str, Any], *, key: str | None = None
) -> Answer:
    """An action of `TOLD`: what it did, or why not; a repeated delivery (`key`, seen before)
    does nothing again."""
    subject = _named(value)
    work, done, called = TOLD[_verb(value)]
    fresh = not key or first_delivery(inbound.ctx, key, platform=PLATFORM)
    if not user:
        return _notice(inbound, "unknown_person")
    try:
        if fresh:
            work(inbound.ctx, subject, user)
    except Refused as refusal:
        return _notice(inbound, refusal.reason, **refusal.details)
    return _notice(inbound, done, **{called: subject})


def _verb(value: dict[str, Any]) -> Any:
    return _dict(value.get("action")).get("verb")


def _card(inbound: Inbound, state: lead_cards.CardState | None) -> Answer:
    if state is None:
        return _notice(inbound, "lead_gone")
    return answers.card(inbound.cards.card(*state))


def _notice(inbound: Inbound, reason: str, **details: Any) -> Answer:
    """A line for the person who clicked alone: a refusal, or what their click did."""
    return answers.notice(inbound.cards.notice(reason, **details))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
