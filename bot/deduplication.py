"""Deliveries that must be handled once, however often they arrive."""

from sqlalchemy.exc import IntegrityError

from bot.context import Context
from storage.db import transaction
from storage.models import InboundEvent

OWN = "baton"
"""The platform name under which Baton keeps keys of its own (a weekly scorecard sent)."""


def first_delivery(ctx: Context, event_id: str, *, platform: str = OWN) -> bool:
    """True the first time `platform` delivers this event id, on any replica; a retry gets
    False. Without a platform, `event_id` is a key of Baton's own, done once across replicas."""
    try:
        with transaction(ctx.sessions) as session:
            session.add(
                InboundEvent(platform=platform, event_id=event_id[:255], received_at=ctx.clock())
            )
    except IntegrityError:
        return False
    return True
