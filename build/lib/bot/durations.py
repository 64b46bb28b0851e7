"""Durations as the agreement writes them: `<number><unit>` with s, m, h or d.

A span keeps its unit because `2d` means two business days of opening hours, while `48h`
means 48 business hours: a plain timedelta could not tell them apart.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Span:
    amount: float
    unit: str

    @property
    def wall(self) -> timedelta:
        """The span by the wall clock (what it means on a 24/7 calendar)."""
        return timedelta(**{_UNITS[self.unit]: self.amount})

    def __str__(self) -> str:
        return f"{self.amount:g}{self.unit}"


def parse_duration(value: object) -> Span:
    """Accept `90s`, `15m`, `4h`, `2d` (and a bare 0); reject anything a reader could misjudge."""
    if isinstance(value, Span):
        return value
    if value == 0 and not isinstance(value, bool):
        return Span(0, "s")
    match = _PATTERN.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'"{value}" is not a duration like 4h (a number and s, m, h or d)')
    number, unit = match.groups()
    return Span(float(number), unit)


def humanize(value: timedelta) -> str:
    """A duration for people: `2h 5m`, `3d 1h`, `45s`."""
    seconds = max(0, int(value.total_seconds()))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if seconds and len(parts) < 2:
        parts.append(f"{seconds}s")
    return " ".join(parts[:2]) or "0s"


def wait(seconds: float | None) -> str:
    """A wait in seconds, as precise as it deserves: `0.4s`, `12s`, `16m 37s`; `—` for none."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    return humanize(timedelta(seconds=seconds))
