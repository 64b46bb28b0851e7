"""Messages as jinja2 templates that render Block Kit JSON, so a team can reword them freely.

Every `{{ value }}` that is text is written for the place it lands in, which the template
does not have to say: a template renders with a stand-in for each value, and once the JSON
is parsed each stand-in is replaced by its value written for its text object (see `_fill`):
in `mrkdwn`, escaped and with formatting characters neutralised (`blockkit.mrkdwn`); in
`plain_text`, as typed (`blockkit.plain`); anywhere else (a button's value, an id) as is.
Values marked safe (`mention`, `link`, jinja's `safe` for a template's own markup) are
written as they are. Undefined names fail loudly, so a typo in a template breaks a test
instead of a message.
"""

import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from bot import blockkit, ids
from bot.agreement import Agreement
from bot.durations import humanize, wait
from storage.models import Deadline, Feedback, Lead

TEMPLATES = Path(__file__).parent / "templates"
_USER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# The text values of the template being rendered, in order; a stand-in names each by index.
_values: ContextVar[list[str] | None] = ContextVar("baton_template_values", default=None)
_STAND_IN = re.compile(r"\ue000(\d+)\ue001")  # private-use characters around an index


def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _finalize(value: Any) -> str:
    """Text that would read differently in `mrkdwn` and in `plain_text` becomes a stand-in,
    filled in once its place in the JSON is known. The rest (most text, numbers, times, the
    ids of `bot.ids`) reads the same anywhere and is written at once, as is what is marked
    safe."""
    if value is None:
        return ""
    if isinstance(value, Markup | Enum):
        return _json_text(str(value))
    text = str(value)
    values = _values.get()
    if values is None:  # rendered outside `Renderer`: Slack's entities, wherever it lands
        return _json_text(blockkit.escape(text))
    if not blockkit.SPECIAL.search(text) and "\ue000" not in text:  # nor looks like a stand-in
        return _json_text(text)
    values.append(text)
    return f"\ue000{len(values) - 1}\ue001"


def _fill(payload: Any, values: list[str]) -> Any:
    """Put each value in place of its stand-in, written for the text object it is in.

    The `text` of a `plain_text` object is plain; the `text` of a `mrkdwn` object and a
    message's own `text` (its notification and fallback, which Slack formats) are mrkdwn.
    Everything else (button values, private metadata) keeps the value as it is.
    """
    if not values:
        return payload
    writers = {"plain": blockkit.plain, "mrkdwn": blockkit.mrkdwn, "raw": blockkit.unmention}
    subs = {how: partial(_written, write=write, values=values) for how, write in writers.items()}
    _fill_in(payload, subs)
    return payload


def _fill_in(node: Any, subs: dict[str, Callable[[re.Match[str]], str]]) -> None:
    if isinstance(node, list):
        for item in node:
            _fill_in(item, subs)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    for key, child in node.items():
        if isinstance(child, (dict, list)):
            _fill_in(child, subs)
        elif isinstance(child, str) and "\ue000" in child:
            how = "raw"
            if key == "text":
                how = "plain" if kind == "plain_text" else "mrkdwn"
            node[key] = _STAND_IN.sub(subs[how], child)


def _written(found: re.Match[str], *, write: Callable[[str], str], values: list[str]) -> str:
    return write(values[int(found[1])])


def mention(user: str | None) -> Markup | str:
    """`<@U123>` for a real user id; anything else stays plain text, written like any other."""
    if user and _USER_ID.match(user):
        return Markup(f"<@{user}>")
    return user or ""


def link(url: str | None) -> Markup:
    """A URL for `<url|text>`: entities only, so that a `_` in it is not taken for text."""
    return Markup(blockkit.escape(url or ""))


def compact(number: float | None) -> str:
    """12500000 -> 12.5M: revenue at a glance, in whatever currency Marketing uses."""
    if number is None:
        return "—"
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{number:g}"


class Renderer:
    def __init__(self, agreement: Agreement, folder: Path | None = None) -> None:
        loaders = [FileSystemLoader(str(folder))] if folder else []
        self.agreement = agreement
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATES))]),
            autoescape=False,
            finalize=_finalize,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(
            when=self.when,
            mention=mention,
            link=link,
            compact=compact,
            cut=blockkit.cut,
            duration=humanize,
            seconds=lambda value: humanize(timedelta(seconds=value)),
            wait=wait,
        )
        self.env.globals.update(agreement=agreement, ids=ids)

    def when(self, moment: datetime | str | None) -> str:
        """A time as the agreement's people read it: local to the agreement's timezone."""
        if moment is None:
            return "—"
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        local = moment.astimezone(self.agreement.tz)
        return f"{local:%a %d %b, %H:%M} ({local.tzname()})"

    def _json(self, template: str, facts: dict[str, Any]) -> dict[str, Any]:
        values: list[str] = []
        taken = _values.set(values)
        try:
            text = self.env.get_template(f"{template}.json.j2").render(**facts)
        finally:
            _values.reset(taken)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"template {template} did not render JSON: {error}") from None
        return _fill(parsed, values)

    def message(self, template: str, **facts: Any) -> dict[str, Any]:
        """`{"text": fallback, "blocks": [...]}` within Block Kit's limits."""
        return blockkit.fit_message(self._json(template, facts))

    def view(self, template: str, **facts: Any) -> dict[str, Any]:
        return blockkit.fit_view(self._json(template, facts))

    def card(
        self, lead: Lead, clocks: list[Deadline], feedback: Feedback | None = None
    ) -> dict[str, Any]:
        """The lead's card as it stands: owner, next deadline, outcome, the buttons its stage
        allows."""
        open_clocks = {clock.kind: clock for clock in clocks if clock.resolved_at is None}
        overdue = any(clock.breached_at is not None for clock in open_clocks.values())
        return self.message(
            "lead_card", lead=lead, clocks=open_clocks, overdue=overdue, feedback=feedback
        )

    def notice(self, reason: str, **details: Any) -> dict[str, Any]:
        return self.message("notice", reason=reason, details=details)
