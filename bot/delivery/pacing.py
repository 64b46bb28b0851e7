"""The pace per conversation: slots handed out in order, urgent rows ahead of bulk ones."""

from bisect import bisect_left, bisect_right
from datetime import datetime
from itertools import count

from bot import metrics
from bot.delivery.interface import Limits, Transport
from storage.models import Outbox

# Where a row stands in its conversation's line: (priority, the order it was given a slot, id).
_Key = tuple[int, int, int]


class _Lane:
    """One conversation's held slots: their times, ascending, and the rows holding them, the
    row at index i holding the time at index i.

    The first `due` slots have come: they stay with their rows, whatever else comes. The rows
    behind them are in order of priority, then of when they were given a slot, so that a row
    finds its place (and its time) by bisection, not by looking at every held slot.
    """

    __slots__ = ("due", "rows", "times")

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.rows: list[_Key] = []
        self.due = 0

    def come(self, now: datetime) -> None:
        """Count the slots that have come by `now` with those that had: never fewer, so a
        clock set back cannot unsettle rows whose time had come."""
        self.due = max(self.due, bisect_right(self.times, now))

    def index(self, key: _Key) -> int:
        """Where the row `key` is in the line."""
        place = bisect_left(self.rows, key, lo=self.due)
        if place < len(self.rows) and self.rows[place] == key:
            return place
        return self.rows.index(key, 0, self.due)

    def remove(self, place: int) -> None:
        del self.rows[place], self.times[place]
        if place < self.due:
            self.due -= 1


class Slots:
    """The slots the paced method's rows hold, by conversation, until each row uses its own.

    A slot, once given, is the row's until it is used, so rows of one conversation go out in
    the order they were first looked at, which is the order they were queued in. Finding,
    giving or freeing one is a bisection in its conversation's line and a list insertion or
    deletion (a move of memory: microseconds at ten thousand), not a look at every held slot,
    of which a burst of updates to one channel leaves thousands.
    """

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._rows: dict[int, tuple[str, _Key]] = {}
        self._order = count()

    def __len__(self) -> int:
        return len(self._rows)

    def at(self, row_id: int, now: datetime) -> datetime | None:
        """The time of the slot `row_id` holds, if it holds one."""
        held = self._rows.get(row_id)
        if held is None:
            return None
        lane = self._lanes[held[0]]
        lane.come(now)
        return lane.times[lane.index(held[1])]

    def free(self, row_id: int) -> None:
        """The row used its slot, or will need a new one: nobody holds that time any more."""
        held = self._rows.pop(row_id, None)
        if held is None:
            return
        conversation, key = held
        lane = self._lanes[conversation]
        lane.remove(lane.index(key))
        if not lane.rows:
            del self._lanes[conversation]

    def give(
        self, row_id: int, priority: int, conversation: str, at: datetime, now: datetime
    ) -> datetime:
        """Give the row a slot: `at`, the conversation's next free one, unless less urgent rows
        hold slots after `now`.

        Rows are given slots as they are taken, so a bulk import's cards may hold the
        conversation's next quarter of an hour by the time an urgent card comes. It takes the
        first of their slots, and each of them the next one's, the last `at`: they keep their
        order, one slot later, and are handed back again when their old slot comes. In the
        line that is one insertion: the times stay where they are, the rows behind move up."""
        lane = self._lanes.get(conversation)
        if lane is None:
            lane = self._lanes[conversation] = _Lane()
        lane.come(now)
        key = (priority, next(self._order), row_id)
        place = bisect_right(lane.rows, key, lo=lane.due)
        lane.rows.insert(place, key)
        lane.times.insert(max(lane.due, bisect_right(lane.times, at)), at)
        self._rows[row_id] = (conversation, key)
        return lane.times[place]

    def forget_come(self, now: datetime, keep: set[int]) -> None:
        """Free the slots that have come, except those of the rows in `keep`: rows that are no
        longer due (another replica sent them) leave their slots here otherwise."""
        for conversation, lane in list(self._lanes.items()):
            lane.come(now)
            if not lane.due:
                continue
            kept = [place for place in range(lane.due) if lane.rows[place][2] in keep]
            for _, _, row_id in lane.rows[: lane.due]:
                if row_id not in keep:
                    del self._rows[row_id]
            lane.rows[: lane.due] = [lane.rows[place] for place in kept]
            lane.times[: lane.due] = [lane.times[place] for place in kept]
            lane.due = len(kept)
            if not lane.rows:
                del self._lanes[conversation]

    def soonest(self) -> datetime | None:
        """The earliest slot anyone holds, to wake up for it."""
        return min((lane.times[0] for lane in self._lanes.values()), default=None)

    def clear(self) -> None:
        self._lanes.clear()
        self._rows.clear()


class Pacing:
    """Part of `Courier`: when a row may go, given its method's hold and its conversation's
    pace."""

    transport: Transport
    limits: Limits
    _slots: Slots

    def _plan(
        self, row: Outbox, now: datetime, placed: dict[str, tuple[str | None, str | None]]
    ) -> datetime | None:
        """When `row` may go, if not now: its method's hold, or its conversation's next slot."""
        route = self.transport.route(row, placed)
        if route is None:
            return None
        method, conversation = route
        held = self.limits.not_before(method, now)
        if held is not None and not self._may_try(method, row, now):
            self._slots.free(row.id)
            metrics.OUTBOX_HELD.labels(reason="method_held").inc()
            return held
        if held is not None or method != self.transport.paced or not conversation:
            return None
        slot = self._slots.at(row.id, now)
        if slot is not None:
            if slot <= now:
                self._slots.free(row.id)
                return None
            return slot
        at = self.limits.reserve(conversation, now)
        if at <= now:
            return None
        metrics.OUTBOX_HELD.labels(reason="pace").inc()
        return self._slots.give(row.id, row.priority, conversation, at, now)

    def _hold_method(self, method: str, until: datetime) -> None:
        """Nothing goes to `method` before `until`; rows with a slot line up again after it."""
        self.limits.hold(method, until)
        if method == self.transport.paced:
            self._slots.clear()
