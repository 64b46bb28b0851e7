"""The pace per conversation and the holds per method that a transport keeps for its platform."""

from datetime import datetime, timedelta


class Limits:
    """A platform's limits kept by the sender, so that it rarely has to answer 429.

    The paced method (Slack's `chat.postMessage`, Teams' sends) goes to each conversation at
    `rate` a second with bursts of `burst`: a token bucket per conversation, kept as GCRA (one
    "theoretical arrival time" per conversation), so a slot can be handed out for later and
    slots come out in the order they were asked for, which keeps each conversation's messages
    in order. A method that answered 429 or failed waits until its `not_before`; other methods
    and other conversations carry on.

    In memory and per process: two replicas each keep their own pace.
    """

    def __init__(self, *, rate: float, burst: int, paced: str) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate = rate
        self.paced = paced
        self.burst = burst
        self.interval = timedelta(seconds=1 / rate)
        self._tolerance = self.interval * (burst - 1)
        self._arrival: dict[str, datetime] = {}
        self._not_before: dict[str, datetime] = {}

    def reserve(self, channel: str, now: datetime) -> datetime:
        """The earliest time a message to `channel` may go; that slot is taken from now on."""
        if len(self._arrival) > 10_000:  # channels gone quiet hold no tokens: forget them
            self._arrival = {c: t for c, t in self._arrival.items() if t > now}
        arrival = self._arrival.get(channel, now)
        at = max(now, arrival - self._tolerance)
        self._arrival[channel] = max(arrival, at) + self.interval
        return at

    def not_before(self, method: str, now: datetime) -> datetime | None:
        """When `method` may be called again, if that is later than `now`."""
        until = self._not_before.get(method)
        if until is None or until <= now:
            self._not_before.pop(method, None)
            return None
        return until

    def hold(self, method: str, until: datetime) -> None:
        """Call `method` no sooner than `until` (Retry-After, or a backoff after an outage).

        For the paced method every conversation's bucket is empty at `until`: after a 429 the
        messages resume at the steady pace, not with a burst that earns the next 429.
        """
        self._not_before[method] = max(until, self._not_before.get(method, until))
        if method == self.paced:
            empty = until + self._tolerance
            self._arrival = dict.fromkeys(self._arrival, empty)

    def release(self, method: str) -> None:
        """`method` may be called again now: the platform answers it again after an outage.

        Its limiter saw nothing from Baton meanwhile, so the channels have their bursts."""
        self._not_before.pop(method, None)
        if method == self.paced:
            self._arrival.clear()

    def next_change(self, now: datetime) -> datetime | None:
        """The next time a held method may be called again, to sleep no longer than needed."""
        later = [until for until in self._not_before.values() if until > now]
        return min(later, default=None)
