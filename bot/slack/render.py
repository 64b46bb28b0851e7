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

import re
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup

from bot import json_templates, rules, wording
from bot.agreement import Agreement
from bot.durations import humanize, wait
from bot.slack import blockkit
from bot.wording import compact

TEMPLATES = Path(__file__).parent / "templates"
_USER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_finalize = json_templates.finalizer(
    # Text that would read differently in `mrkdwn` and in `plain_text` becomes a stand-in;
    # outside `Renderer`, Slack's entities, wherever it lands.
    needs_stand_in=blockkit.SPECIAL.search,
    outside=blockkit.escape,
)


def _fill(payload: Any, values: list[str]) -> Any:
    """Put each value in place of its stand-in, written for the text object it is in.

    The `text` of a `plain_text` object is plain; the `text` of a `mrkdwn` object and a
    message's own `text` (its notification and fallback, which Slack formats) are mrkdwn.
    Everything else (button values, private metadata) keeps the value as it is.
    """
    if not values:
        return payload
    writers = {"plain": blockkit.plain, "mrkdwn": blockkit.mrkdwn, "raw": blockkit.unmention}
    subs = {
        how: partial(json_templates.written, write=write, values=values)
        for how, write in writers.items()
    }
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
            node[key] = json_templates.STAND_IN.sub(subs[how], child)


def mention(user: str | None) -> Markup | str:
    """`<@U123>` for a real user id; anything else stays plain text, written like any other."""
    if user and _USER_ID.match(user):
        return Markup(f"<@{user}>")
    return user or ""


def link(url: str | None) -> Markup:
    """A URL for `<url|text>`: entities only, so that a `_` in it is not taken for text."""
    return Markup(blockkit.escape(url or ""))


class Renderer(json_templates.JsonRenderer):
    def __init__(self, agreement: Agreement, folder: Path | None = None) -> None:
        loaders = [FileSystemLoader(str(folder))] if folder else []
        super().__init__(
            agreement, ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATES))]), _finalize
        )
        self.env.filters.update(
            mention=mention,
            link=link,
            compact=compact,
            cut=blockkit.cut,
            duration=humanize,
            seconds=lambda value: humanize(timedelta(seconds=value)),
            wait=wait,
            reason=wording.reason,
            rule=rules.label,
        )

    def _json(self, template: str, facts: dict[str, Any]) -> dict[str, Any]:
        return _fill(*json_templates.render(self.env, template, facts))

    def message(self, template: str, **facts: Any) -> dict[str, Any]:
        """`{"text": fallback, "blocks": [...]}` within Block Kit's limits."""
        return blockkit.fit_message(self._json(template, facts))

    def view(self, template: str, **facts: Any) -> dict[str, Any]:
        return blockkit.fit_view(self._json(template, facts))

    def notice(self, reason: str, **details: Any) -> dict[str, Any]:
        return self.message("notice", reason=reason, details=details)
