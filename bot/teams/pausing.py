"""Pause clock on Teams: the dialog the lead card's button opens, and its submit.

The twin of Slack's `open_pause` (`handlers/actions.py`) and `pause_submitted`
(`handlers/views.py`), calling the same `bot.pause`. Whoever may not pause, or a lead
paused once already, is told before the dialog opens; a day or a reason that cannot be
taken is shown under its field with what was typed, and nothing is stored; any other
refusal closes the dialog with a line only the person who submitted sees.
"""

from datetime import date, datetime, timedelta
from typing import Any

from bot import ownership, pause
from bot.actions import BlockId
from bot.context import Context
from bot.permissions import Action, authorize
from bot.refusals import Refused
from bot.teams import answers
from bot.teams.cards import CardRenderer

FIELDS = {
    "pause_not_ahead": BlockId.UNTIL,
    "pause_too_long": BlockId.UNTIL,
    "pause_reason_unknown": BlockId.REASON,
    "pause_reason_required": BlockId.REASON,
}
"""Where in the dialog each of its problems is shown, as in the Slack modal."""


def open_dialog(ctx: Context, cards: CardRenderer, user: str, lead_id: str) -> dict[str, Any]:
    """The dialog, or why not (raises `Refused`)."""
    lead = ownership.lead(ctx, lead_id)
    authorize(ctx.agreement, user, Action.PAUSE, owner=lead.owner)
    if lead.paused_at is not None:
        raise Refused("paused_before", until=lead.paused_until, by=lead.paused_by)
    return _dialog(ctx, cards, lead_id)


def submitted(
    ctx: Context, cards: CardRenderer, user: str, lead_id: str, given: dict[str, str]
) -> dict[str, Any]:
    """Pause the lead as the dialog says: closed with what it did, or shown again with the
    problem under its field. Other refusals are raised for the listener to tell."""
    try:
        lead = pause.pause(
            ctx,
            lead_id=lead_id,
            user=user,
            until=_day(given.get(BlockId.UNTIL.value)),
            reason=given.get(BlockId.REASON.value),
            note=given.get(BlockId.NOTE.value),
        )
    except Refused as refusal:
        field = FIELDS.get(refusal.reason)
        if field is None:
            raise
        errors = {field.value: cards.notice(refusal.reason, **refusal.details)}
        return _dialog(ctx, cards, lead_id, errors=errors, given=given)
    return answers.closed(cards.notice("paused", until=lead.paused_until))


def _dialog(
    ctx: Context,
    cards: CardRenderer,
    lead_id: str,
    *,
    errors: dict[str, str] | None = None,
    given: dict[str, str] | None = None,
) -> dict[str, Any]:
    now: datetime = ctx.clock()
    today = now.astimezone(ctx.agreement.tz).date()
    return cards.pause_dialog(
        ownership.lead(ctx, lead_id),
        tomorrow=(today + timedelta(days=1)).isoformat(),
        latest=pause.latest_day(ctx, now).isoformat(),
        errors=errors,
        given=given,
    )


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
