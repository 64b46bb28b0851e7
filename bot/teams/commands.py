"""`@Baton help` and `@Baton history EMAIL|ID`: a message to the bot, answered with a card.

The twin of Slack's `/baton` (`handlers/commands.py`) for the two commands that need no
more than a message: Teams has no slash commands, so a person writes to Baton in its 1:1, or
mentions it in a channel (`<at>Baton</at> history …`, the mention taken off here). The answer
is a reply in the same conversation, posted by the route at once: it is for the person who
asked, not a message the outbox must deliver exactly once.
"""

import re
from typing import Any

from bot import history
from bot.context import Context
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.teams.cards import CardRenderer

_MENTION = re.compile(r"<at>.*?</at>", re.S)


def words(activity: dict[str, Any]) -> str:
    """What the person wrote, without the mention of the bot."""
    text = activity.get("text")
    return " ".join(_MENTION.sub(" ", text).split()) if isinstance(text, str) else ""


def answer(cards: CardRenderer, ctx: Context, user: str | None, text: str) -> dict[str, Any]:
    """The card that answers `text`."""
    word, _, rest = text.partition(" ")
    key = rest.strip()
    if word.lower() != "history" or not key:
        return cards.message("help", text=text)
    try:
        if not user:  # Teams did not say who asks
            return _refused(cards, key, cards.notice("unknown_person"))
        authorize(ctx.agreement, user, Action.READ_HISTORY)
    except Refused as refusal:
        return _refused(cards, key, cards.notice(refusal.reason, **refusal.details))
    found = history.find(ctx, key)
    return cards.message("history", key=key, histories=found, details=history.details, refused=None)


def _refused(cards: CardRenderer, key: str, line: str) -> dict[str, Any]:
    return cards.message("history", key=key, histories=[], details=None, refused=line)
