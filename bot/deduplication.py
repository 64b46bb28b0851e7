"""Deliveries that must be handled once, however often they arrive."""

from bot.context import Context
from storage import deliveries
from storage.db import transaction

OWN = "baton"
"""The platform name under which Baton keeps keys of its own (a weekly scorecard sent)."""


def first_delivery(ctx: Context, event_id: str, *, platform: str = OWN) -> bool:
    """True the first time `platform` delivers this event id, on any replica; a retry gets
    False. Without a platform, `event_id` is a key of Baton's own, done once across replicas.
    Inside `storage.db.one_transaction` the key is taken in that transaction: kept only if the
    work done with it is."""
    with transaction(ctx.sessions) as session:
        return deliveries.take(
            session=session, platform=platform, event_id=event_id, at=ctx.clock()
        )


def first_deliveries(ctx: Context, event_ids: list[str], *, platform: str) -> set[str]:
    """`first_delivery` of several event ids at once: those delivered for the first time."""
    with transaction(ctx.sessions) as session:
        return deliveries.take_all(
            session=session, platform=platform, event_ids=event_ids, at=ctx.clock()
        )
