"""jinja2 templates that render JSON for a chat platform (Block Kit, Adaptive Cards).

A value whose text reads differently depending on where it lands (markup, entities) becomes
a stand-in while the template renders, and the front end writes it once its place in the
JSON is known. The mechanism is the same for every platform; only what needs a stand-in and
how it is written differ, and each adapter says that.
"""

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import BaseLoader, Environment, StrictUndefined
from markupsafe import Markup

from bot import actions as ids
from bot.agreement import Agreement
from storage.models import Deadline, Feedback, Lead

STAND_IN = re.compile(r"\ue000(\d+)\ue001")  # private-use characters around an index

# The values of the template being rendered, in order; a stand-in names each by index.
_values: ContextVar[list[str] | None] = ContextVar("baton_template_values", default=None)


PLAIN_TEXTS = 4096
"""Texts a finalizer remembers as written, then forgets all at once; none longer than
`PLAIN_LENGTH`: a few megabytes at most."""
PLAIN_LENGTH = 200

_encode = json.encoder.encode_basestring
"""What `json.dumps(text, ensure_ascii=False)` does to a string, without its way there: a
card's every value is written by it."""


def json_text(text: str) -> str:
    return _encode(text)[1:-1]


def finalizer(
    needs_stand_in: Callable[[str], object], outside: Callable[[str], str]
) -> Callable[[Any], str]:
    """jinja2's `finalize`: text that `needs_stand_in` becomes a stand-in (or anything that
    looks like one); the rest, and what is marked safe, is written at once. `outside` writes
    a value rendered outside `render`, where no place will be known."""
    # Text found to need no stand-in, as written: the same few values (a country, a stage,
    # a date, "—") fill every card, and a lead's own fill its card again when it changes.
    plain: dict[str, str] = {}

    def finalize(value: Any) -> str:
        # Plain text first: nearly every value a template writes is one, and a card writes
        # dozens per render.
        if type(value) is str:
            text = value
        elif value is None:
            return ""
        elif isinstance(value, Markup | Enum):
            return json_text(str(value))
        else:
            text = str(value)
        values = _values.get()
        if values is None:
            return json_text(outside(text))
        written = plain.get(text)
        if written is not None:
            return written
        if "\ue000" not in text and not needs_stand_in(text):
            written = _encode(text)[1:-1]
            if len(text) <= PLAIN_LENGTH:
                if len(plain) >= PLAIN_TEXTS:
                    plain.clear()
                plain[text] = written
            return written
        values.append(text)
        return f"\ue000{len(values) - 1}\ue001"

    return finalize


def render(env: Environment, template: str, facts: dict[str, Any]) -> tuple[Any, list[str]]:
    """The template's JSON with its stand-ins, and the values they stand for."""
    text, values = render_text(env, template, facts)
    return parse(template, text), values


def render_text(env: Environment, template: str, facts: dict[str, Any]) -> tuple[str, list[str]]:
    """The template's JSON text with its stand-ins, and the values they stand for."""
    values: list[str] = []
    taken = _values.set(values)
    try:
        return env.get_template(f"{template}.json.j2").render(**facts), values
    finally:
        _values.reset(taken)


def parse(template: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"template {template} did not render JSON: {error}") from None


def written(found: re.Match[str], *, write: Callable[[str], str], values: list[str]) -> str:
    """One stand-in (a match of `STAND_IN`), written by `write`."""
    return write(values[int(found[1])])


def local_time(moment: datetime | str | None, tz: ZoneInfo) -> str:
    """A time as the agreement's people read it; facts queued in the outbox carry ISO text."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return _local_text(moment, tz)


@lru_cache(maxsize=1024)
def _local_text(moment: datetime, tz: ZoneInfo) -> str:
    """Remembered: a lead's card shows the same few deadlines each time it is rendered (its
    answer to a click, then its update in the channel); equal moments are one instant."""
    local = moment.astimezone(tz)
    return f"{local:%a %d %b, %H:%M} ({local.tzname()})"


class JsonRenderer:
    """What a platform's renderer shares with the others: the environment its templates
    render in (stand-ins from `finalize`, undefined names failing loudly), the agreement's
    local times, and the facts of a lead's card. A subclass adds its filters and `message`,
    which fits the rendered JSON within its platform's limits."""

    def __init__(self, agreement: Agreement, loader: BaseLoader, finalize: Callable) -> None:
        self.agreement = agreement
        self.env = Environment(
            loader=loader,
            autoescape=False,
            finalize=finalize,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = self.when
        self.env.globals.update(agreement=agreement, ids=ids)

    def when(self, moment: datetime | str | None) -> str:
        return local_time(moment, self.agreement.tz)

    def message(self, template: str, **facts: Any) -> dict[str, Any]:
        raise NotImplementedError

    def card(
        self,
        lead: Lead,
        clocks: list[Deadline],
        feedback: Feedback | None = None,
        routed: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The lead's card as it stands: owner, next deadline, outcome, the buttons (actions)
        its stage allows; `routed`, Baton's last choice for it (`bot.routing.why`)."""
        open_clocks = {clock.kind: clock for clock in clocks if clock.resolved_at is None}
        overdue = any(clock.breached_at is not None for clock in open_clocks.values())
        return self.message(
            "lead_card",
            lead=lead,
            clocks=open_clocks,
            overdue=overdue,
            feedback=feedback,
            routed=routed,
        )
