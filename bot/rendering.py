"""Messages as jinja2 templates that render Block Kit JSON, so a team can reword them freely.

Every `{{ value }}` is escaped for Slack and for JSON on its way out; only values marked
safe by a filter (`mention`) keep their angle brackets. Undefined names fail loudly, so a
typo in a template breaks a test instead of a message.
"""

import json
import re
from datetime import datetime, timedelta
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


def _finalize(value: Any) -> str:
    if value is None:
        return ""
    text = str(value) if isinstance(value, Markup) else blockkit.escape(str(value))
    return json.dumps(text, ensure_ascii=False)[1:-1]


def mention(user: str | None) -> Markup | str:
    """`<@U123>` for a real user id; anything else stays plain, escaped text."""
    if user and _USER_ID.match(user):
        return Markup(f"<@{user}>")
    return user or ""


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
        text = self.env.get_template(f"{template}.json.j2").render(**facts)
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"template {template} did not render JSON: {error}") from None

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
