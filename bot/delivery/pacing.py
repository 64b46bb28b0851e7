"""The pace per conversation: slots handed out in order, urgent rows ahead of bulk ones."""

from datetime import datetime
from typing import NamedTuple

from bot import metrics
from bot.delivery.interface import Limits, Transport
from storage.models import Outbox


class Slot(NamedTuple):
    """A time a row may post to a conversation, kept for it until it is used."""

    conversation: str
    priority: int
    at: datetime


class Pacing:
    """Part of `Courier`: when a row may go, given its method's hold and its conversation's
    pace."""

    transport: Transport
    limits: Limits
    _slots: dict[int, Slot]

    def _plan(
        self, row: Outbox, now: datetime, placed: dict[str, tuple[str | None, str | None]]
    ) -> datetime | None:
        """When `row` may go, if not now: its method's hold, or its conversation's next slot.

        A slot, once given, is the row's until it is used, so rows of one conversation go out in
        the order they were first looked at, which is the order they were queued in.
        """
        route = self.transport.route(row, placed)
        if route is None:
            return None
        method, conversation = route
        held = self.limits.not_before(method, now)
        if held is not None and not self._may_try(method, row, now):
            self._slots.pop(row.id, None)
            metrics.OUTBOX_HELD.labels(reason="method_held").inc()
            return held
        if held is not None or method != self.transport.paced or not conversation:
            return None
        slot = self._slots.get(row.id)
        if slot is not None:
            if slot.at <= now:
                del self._slots[row.id]
                return None
            return slot.at
        at = self._reserve(row, conversation, now)
        if at <= now:
            return None
        if len(self._slots) > 10_000:  # rows another replica delivered leave their slots here
            self._slots = {k: v for k, v in self._slots.items() if v.at > now}
        self._slots[row.id] = Slot(conversation, row.priority, at)
        metrics.OUTBOX_HELD.labels(reason="pace").inc()
        return at

    def _reserve(self, row: Outbox, conversation: str, now: datetime) -> datetime:
        """The conversation's next slot for `row`, ahead of every less urgent row holding a
        later one.

        Rows are given slots as they are taken, so a bulk import's cards may hold the
        conversation's next quarter of an hour by the time an urgent card comes. It takes the first
        of their slots, and each of them the next one's, the last a new one: they keep their
        order, one slot later, and are handed back again when their old slot comes."""
        at = self.limits.reserve(conversation, now)
        if at <= now:
            return at
        behind = sorted(
            (slot.at, row_id)
            for row_id, slot in self._slots.items()
            if slot.conversation == conversation and slot.priority > row.priority and slot.at > now
        )
        if not behind:
            return at
        later = [when for when, _ in behind[1:]] + [at]
        for (_, row_id), when in zip(behind, later, strict=True):
            self._slots[row_id] = self._slots[row_id]._replace(at=when)
        return behind[0][0]

    def _hold_method(self, method: str, until: datetime) -> None:
        """Nothing goes to `method` before `until`; rows with a slot line up again after it."""
        self.limits.hold(method, until)
        if method == self.transport.paced:
            self._slots.clear()
