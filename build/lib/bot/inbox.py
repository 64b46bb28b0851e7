"""Deliveries from the chat platform that must be handled once, however often they arrive."""

from sqlalchemy.exc import IntegrityError

from bot.context import Context
from storage.db import transaction
from storage.models import SlackEvent


def first_delivery(ctx: Context, event_id: str) -> bool:
    """True the first time an event id is seen, on any replica; a retry gets False."""
    try:
        with transaction(ctx.sessions) as session:
            session.add(SlackEvent(event_id=event_id[:64], received_at=ctx.clock()))
    except IntegrityError:
        return False
    return True
