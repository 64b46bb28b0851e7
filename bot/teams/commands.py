"""`@Baton help|mine|open|stats|agreement|history EMAIL|ID|lead|away [until DATE]|back`: a
message to the bot, answered with a card.

The twin of Slack's `/baton` (`handlers/commands.py`), from the same domain functions
(`bot.overview`, `bot.reports`, `bot.history`, `bot.availability`): Teams has no slash
commands, so a person writes to Baton in its 1:1, or mentions it in a channel
(`<at>Baton</at> mine`, the mention taken off here). The answer is a reply in the same
conversation, posted by the route at once: it is for the person who asked, not a message
the outbox must deliver exactly once. `lead` answers with the button that opens the
hand-over dialog (`handover.py`): Teams opens a dialog only from a card's button.
"""

import re
from collections.abc import Callable
from typing import Any

from bot import availability, history, overview, reports
from bot.context import Context
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.teams.cards import CardRenderer

_MENTION = re.compile(r"<at>.*?</at>", re.S)
Card = dict[str, Any]


def words(activity: dict[str, Any]) -> str:
    """What the person wrote, without the mention of the bot."""
    text = activity.get("text")
    return " ".join(_MENTION.sub(" ", text).split()) if isinstance(text, str) else ""


def answer(cards: CardRenderer, ctx: Context, user: str | None, text: str) -> Card:
    """The card that answers `text`."""
    word, _, rest = text.partition(" ")
    command = COMMANDS.get(word.lower())
    if command is None:
        return cards.message("help", text=text)
    return command(cards, ctx, user, rest.strip())


def _history(cards: CardRenderer, ctx: Context, user: str | None, key: str) -> Card:
    if not key:
        return cards.message("help", text="history")
    try:
        if not user:  # Teams did not say who asks
            return _refused(cards, key, cards.notice("unknown_person"))
        authorize(ctx.agreement, user, Action.READ_HISTORY)
    except Refused as refusal:
        return _refused(cards, key, cards.notice(refusal.reason, **refusal.details))
    found = history.find(ctx, key)
    return cards.message("history", key=key, histories=found, details=history.details, refused=None)


def _refused(cards: CardRenderer, key: str, line: str) -> Card:
    return cards.message("history", key=key, histories=[], details=None, refused=line)


def _mine(cards: CardRenderer, ctx: Context, user: str | None, _: str) -> Card:
    if not user:
        return cards.message("told", text=cards.notice("unknown_person"))
    return cards.message("mine", items=overview.mine(ctx, user))


def _open(cards: CardRenderer, ctx: Context, _user: str | None, _: str) -> Card:
    return cards.message("open", items=overview.open_leads(ctx))


def _stats(cards: CardRenderer, ctx: Context, _user: str | None, _: str) -> Card:
    return cards.message("stats", card=reports.this_week(ctx).as_json())


def _agreement(cards: CardRenderer, _ctx: Context, _user: str | None, _: str) -> Card:
    return cards.message("agreement")


def _lead(cards: CardRenderer, _ctx: Context, _user: str | None, _: str) -> Card:
    """The hand-over dialog's button; who may hand over is checked when it is clicked, so a
    refusal asked for in a channel is shown to that person alone."""
    return cards.message("handover_start")


def _away(cards: CardRenderer, ctx: Context, user: str | None, rest: str) -> Card:
    """`away [until DATE]`: no new leads until then (or until `back`)."""
    if not user:
        return cards.message("told", text=cards.notice("unknown_person"))
    try:
        until = availability.parse_until(rest, ctx.agreement, ctx.clock())
        away = availability.go_away(ctx, user=user, until=until)
    except Refused as refusal:
        return cards.message("told", text=cards.notice(refusal.reason, **refusal.details))
    back_on = away.away_until.astimezone(ctx.agreement.tz).date() if away.away_until else None
    return cards.message("told", text=cards.notice("away", until=back_on))


def _back(cards: CardRenderer, ctx: Context, user: str | None, _: str) -> Card:
    if not user:
        return cards.message("told", text=cards.notice("unknown_person"))
    try:
        reason = "back" if availability.come_back(ctx, user=user) else "not_away"
    except Refused as refusal:
        return cards.message("told", text=cards.notice(refusal.reason, **refusal.details))
    return cards.message("told", text=cards.notice(reason))


COMMANDS: dict[str, Callable[[CardRenderer, Context, str | None, str], Card]] = {
    "history": _history,
    "mine": _mine,
    "open": _open,
    "stats": _stats,
    "agreement": _agreement,
    "lead": _lead,
    "away": _away,
    "back": _back,
}
"""Each command word, and what answers it; anything else is answered with help."""
