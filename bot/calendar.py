"""Business time for the lead agreement's deadlines.

Deadlines in the agreement are promises made in working time ("reply within 4h" means four
hours the team is at work), so they are counted on a calendar of opening hours, weekdays,
public holidays and the company's own closed days, in the team's timezone.

Interval conventions:

* A business day is open on the half-open interval ``[opening, closing)``: ``is_open`` is
  true at 08:00 and false at 16:00 for an 08:00-16:00 day.
* ``add`` counts from ``start`` if it is open, otherwise from the next opening. A positive
  duration therefore ends in ``(opening, closing]``: work that uses up the day is due at the
  closing instant of that day, not at the next day's opening. A zero duration returns
  ``start`` if it is open, otherwise the next opening, so every due time is open or a closing
  instant.
* ``elapsed`` measures the overlap of ``[start, end]`` with the opening intervals, which makes
  it additive and the exact inverse of ``add``.
* Opening hours are local wall-clock times, so an 08:00-16:00 day is eight hours on both sides
  of a daylight-saving change. An ambiguous wall time (clocks going back) means its first
  occurrence; a wall time skipped by clocks going forward means the instant of the jump.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

__all__ = ["BusinessCalendar"]

_CLOSED_DAY = re.compile(r"(\d{2})-(\d{2})")
_DAY = timedelta(days=1)
# Bounds the search for an opening so a calendar without business days fails instead of hanging.
_MAX_CLOSED_RUN = 3 * 366


def _utc(at: datetime, name: str) -> datetime:
    """Normalise to UTC, refusing naive values whose meaning would depend on the server."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")
    return at.astimezone(UTC)


def _non_negative(duration: timedelta) -> None:
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")


class BusinessCalendar:
    """Opening hours of a team; all results are timezone-aware UTC datetimes."""

    def __init__(
        self,
        tz: str = "UTC",
        *,
        days: Sequence[int] | None = None,
        start: time | None = None,
        end: time | None = None,
        holidays_country: str | None = None,
        closed: Sequence[str] = (),
    ) -> None:
        """Build a calendar; ``days=None`` is a 24/7 clock, where nothing else may be set.

        ``days`` are weekday numbers (Monday=0). ``start``/``end`` are local opening hours;
        ``start=None`` means midnight and ``end=None`` the midnight ending the day.
        ``holidays_country`` is an ISO code understood by the ``holidays`` package and
        ``closed`` lists the company's own "MM-DD" closed days, repeated every year.
        """
        self.tz = ZoneInfo(tz)
        if days is None:
            if start is not None or end is not None or holidays_country or closed:
                raise ValueError("opening hours, holidays and closed days require `days`")
            self._days: frozenset[int] | None = None
        else:
            bad = [d for d in days if not isinstance(d, int) or not 0 <= d <= 6]
            if bad:
                raise ValueError(f"days must be weekday numbers 0-6 (Monday=0), got {bad}")
            if not days:
                raise ValueError("days must name at least one weekday")
            self._days = frozenset(days)
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is not None:
                raise ValueError(f"{name} is local to the calendar's timezone; drop its tzinfo")
        self._start = start if start is not None else time(0)
        self._end = end
        if end is not None and not self._start < end:
            raise ValueError(f"start {self._start} must be before end {end}")
        self._country = self._check_country(holidays_country)
        self._holidays: dict[int, frozenset[date]] = {}
        self._hours_by_day: dict[date, tuple[datetime, datetime] | None] = {}
        self._closed = frozenset(self._parse_closed(value) for value in closed)

    @classmethod
    def always(cls, tz: str = "UTC") -> BusinessCalendar:
        """A calendar where deadlines are plain wall-clock durations."""
        return cls(tz)

    @property
    def is_24_7(self) -> bool:
        return self._days is None

    @property
    def day_length(self) -> timedelta:
        """Length of a business day by the wall clock; what one agreement day is worth."""
        if self.is_24_7:
            return _DAY
        end = timedelta(hours=24) if self._end is None else _since_midnight(self._end)
        return end - _since_midnight(self._start)

    def business_days(self, days: float) -> timedelta:
        """What an agreement's ``2d`` is worth: that many business days of opening hours."""
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        return days * self.day_length

    def is_open(self, at: datetime) -> bool:
        at = _utc(at, "at")
        if self.is_24_7:
            return True
        hours = self._hours(at.astimezone(self.tz).date())
        return hours is not None and hours[0] <= at < hours[1]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Due time of work taking ``duration`` of business time that arrives at ``start``.

        Counting begins at ``start`` if it is open, otherwise at the next opening, so a zero
        duration yields the moment work can begin.
        """
        start = _utc(start, "start")
        _non_negative(duration)
        if self.is_24_7:
            return start + duration
        remaining = duration
        intervals = self._open_intervals(start.astimezone(self.tz).date())
        while True:
            opening, closing = next(intervals)
            if start >= closing:
                continue
            begin = max(opening, start)
            if remaining <= closing - begin:
                return begin + remaining
            remaining -= closing - begin

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants, so an SLA clock can be checked after the fact."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return timedelta(0)
        if self.is_24_7:
            return end - start
        total = timedelta(0)
        day, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        while day <= last:
            hours = self._hours(day)
            if hours is not None:
                overlap = min(hours[1], end) - max(hours[0], start)
                total += max(overlap, timedelta(0))
            day += _DAY
        return total

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open intervals within ``[start, end)``, clipped to it: what the scorecard hands
        the database so that it can measure business time itself, row by row."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end <= start:
            return []
        if self.is_24_7:
            return [(start, end)]
        found = []
        day, last = start.astimezone(self.tz).date() - _DAY, end.astimezone(self.tz).date()
        while day <= last:
            hours = self._hours(day)
            if hours is not None and hours[0] < end and hours[1] > start:
                found.append((max(hours[0], start), min(hours[1], end)))
            day += _DAY
        return found

    def _open_intervals(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals from ``day`` on, failing if the calendar never opens again."""
        closed_run = 0
        while True:
            hours = self._hours(day)
            if hours is None:
                closed_run += 1
                if closed_run > _MAX_CLOSED_RUN:
                    raise ValueError(f"no business day within 3 years after {day.isoformat()}")
            else:
                closed_run = 0
                yield hours
            day += _DAY

    def _hours(self, day: date) -> tuple[datetime, datetime] | None:
        """UTC opening interval of a local date, or None when closed.

        Remembered per date: a scorecard asks about the same few days for tens of thousands
        of leads, and the calendar never changes once built.
        """
        if day not in self._hours_by_day:
            self._hours_by_day[day] = self._opening_hours(day)
        return self._hours_by_day[day]

    def _opening_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """Hours lying wholly in a daylight-saving gap never happen on the clock, so that day
        is closed."""
        if not self._is_business_day(day):
            return None
        opening = self._instant(day, self._start)
        if self._end is None:
            closing = self._instant(day + _DAY, time(0))
        else:
            closing = self._instant(day, self._end)
        return (opening, closing) if opening < closing else None

    def _is_business_day(self, day: date) -> bool:
        assert self._days is not None
        return (
            day.weekday() in self._days
            and (day.month, day.day) not in self._closed
            and day not in self._public_holidays(day.year)
        )

    def _public_holidays(self, year: int) -> frozenset[date]:
        if self._country is None:
            return frozenset()
        if year not in self._holidays:
            self._holidays[year] = frozenset(
                holidays.country_holidays(self._country, years=year).keys()
            )
        return self._holidays[year]

    def _instant(self, day: date, wall: time) -> datetime:
        """UTC instant of a local wall time, mapped so that later wall times never come earlier.

        zoneinfo places a skipped wall time after the jump by the size of the gap, which could
        put an opening after a closing; the jump itself keeps the intervals ordered.
        """
        local = datetime.combine(day, wall, tzinfo=self.tz)
        instant = local.astimezone(UTC)
        if instant.astimezone(self.tz).replace(tzinfo=None) == local.replace(tzinfo=None):
            return instant
        before = int(local.replace(fold=1).astimezone(UTC).timestamp())
        after = int(instant.timestamp())
        new_offset = instant.astimezone(self.tz).utcoffset()
        while after - before > 1:
            middle = (before + after) // 2
            if datetime.fromtimestamp(middle, self.tz).utcoffset() == new_offset:
                after = middle
            else:
                before = middle
        return datetime.fromtimestamp(after, UTC)

    @staticmethod
    def _check_country(country: str | None) -> str | None:
        if country is None:
            return None
        code = country.upper()
        try:
            holidays.country_holidays(code)
        except NotImplementedError:
            raise ValueError(f"unknown holiday country {country!r}") from None
        return code

    @staticmethod
    def _parse_closed(value: str) -> tuple[int, int]:
        match = _CLOSED_DAY.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"closed day must be 'MM-DD', got {value!r}")
        month, day = int(match[1]), int(match[2])
        try:
            date(2000, month, day)
        except ValueError:
            raise ValueError(f"closed day {value!r} is not a calendar date") from None
        return month, day


def _since_midnight(wall: time) -> timedelta:
    return timedelta(
        hours=wall.hour, minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond
    )
