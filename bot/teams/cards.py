"""Teams messages as jinja2 templates that render Adaptive Cards (1.5), within Teams' limits.

The same facts as the Slack templates (`bot/slack/templates`), another shape. Each `{{ value }}`
is written for the place it lands in, as `bot.slack.render` does for Block Kit: a value that
Markdown would read differently renders as a stand-in, and once the JSON is parsed it is
replaced by the value written for its place: escaped (`bot.teams.text.markdown`) in a
TextBlock's text or a fact, as it is anywhere else (a TextRun, an input, an action's data).

Teams takes a message of about 28 KB at most (413 `MessageSizeTooBig` beyond), shows six
actions on a card, and a card can carry user text of any length; `fit_card` cuts the longest
texts until the card fits, with a visible "…", and refuses one that cannot.
"""

import json
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader
from markupsafe import Markup

from bot import json_templates, rules, wording
from bot.agreement import Agreement
from bot.durations import humanize, wait
from bot.feedback import RULES
from bot.teams import answers
from bot.teams.answers import Size
from bot.teams.text import cut, markdown, special
from bot.wording import compact
from storage.models import Lead

TEMPLATES = Path(__file__).parent / "templates"
CARD_BYTES = 27 * 1024
"""A card's JSON at most: Teams refuses a message over about 28 KB, the activity around the
card (summary, addresses) included."""
ACTIONS = 6
"""Actions Teams shows on a card."""
SHORTEST = 100
"""`fit_card` cuts no text shorter than this."""
GROWTH = 6
"""`json.dumps` of parsed JSON text takes at most this many times its bytes: a separator gains
a space, a character of a string takes at most six bytes (`\u001f`), a number at most 4.5
times its text (`1e15` is written `1000000000000000.0`)."""
PER_VALUE = 9
"""Bytes a character of a value takes at most, written for Markdown (a look-alike, or a word
joiner of three bytes beside it) and then for JSON (six bytes at most)."""


_mentions: ContextVar[list[dict[str, Any]] | None] = ContextVar("teams_mentions", default=None)
"""The people the card being rendered mentions, for its `msteams.entities`."""


class CardTooLarge(ValueError):
    """Even with every long text cut, the card is over Teams' limit."""


# Text with none of what Markdown reads is as it is everywhere; the rest becomes a stand-in.
_finalize = json_templates.finalizer(needs_stand_in=special, outside=lambda text: text)


def _fill(node: Any, values: list[str], left: int, *, facts: bool = False) -> int:
    """Put each value in place of its stand-in: escaped where Teams reads Markdown (the
    `text` of a TextBlock, the title and value of a FactSet's fact), as it is elsewhere.
    A string that is itself an item of a list is left as it is (no template puts a value
    there). `left`: the stand-ins not yet put in place; each value has one, so the walk
    ends once none is left (most cards have a few values, in their first lines, or none).
    Returns those still left."""
    if type(node) is list:
        for item in node:
            if not left:
                break
            if type(item) is dict or type(item) is list:
                left = _fill(item, values, left, facts=facts)
        return left
    kind = node.get("type")
    for key, child in node.items():
        if not left:
            break
        if type(child) is str:
            if "\ue000" in child:
                reads_markdown = (kind == "TextBlock" and key == "text") or facts
                write = markdown if reads_markdown else str
                left -= child.count("\ue000")
                node[key] = json_templates.STAND_IN.sub(
                    partial(json_templates.written, write=write, values=values), child
                )
        elif type(child) is dict or type(child) is list:
            left = _fill(child, values, left, facts=kind == "FactSet" and key == "facts")
    return left


def fit_card(
    card: dict[str, Any], limit: int = CARD_BYTES, *, at_most: int | None = None
) -> dict[str, Any]:
    """`card` within Teams' limits: six actions at most, and its JSON within `limit` bytes,
    the longest texts cut first. `at_most`: a bound of its JSON's bytes known beforehand
    (`CardRenderer`'s); within `limit`, the card is not measured."""
    if len(card.get("actions") or []) > ACTIONS:
        raise ValueError(f"a card shows at most {ACTIONS} actions")
    if at_most is not None and at_most <= limit:
        return card
    while (size := len(json.dumps(card, ensure_ascii=False).encode())) > limit:
        texts = sorted(_texts(card), key=lambda owner: len(owner[0][owner[1]]), reverse=True)
        if not texts or len(texts[0][0][texts[0][1]]) <= SHORTEST:
            raise CardTooLarge(f"the card is {size} bytes, over Teams' {limit}")
        owner, key = texts[0]
        text = owner[key]
        excess = size - limit
        owner[key] = cut(text, max(SHORTEST, len(text) - max(excess, len(text) // 4)))
    return card


def _texts(node: Any) -> list[tuple[dict[str, Any], str]]:
    """Every text a reader sees in `node`: a TextBlock's, a TextRun's, a fact's value."""
    found: list[tuple[dict[str, Any], str]] = []
    if isinstance(node, list):
        for item in node:
            found += _texts(item)
    elif isinstance(node, dict):
        if node.get("type") in ("TextBlock", "TextRun") and isinstance(node.get("text"), str):
            found.append((node, "text"))
        if node.get("type") == "FactSet":
            found += [(fact, "value") for fact in node.get("facts") or []]
        for child in node.values():
            if isinstance(child, dict | list):
                found += _texts(child)
    return found


class CardRenderer(json_templates.JsonRenderer):
    """Renders the Teams templates; `names` maps a person's id (Entra id or email) to the name
    the card shows."""

    def __init__(self, agreement: Agreement, names: Mapping[str, str] | None = None) -> None:
        super().__init__(agreement, FileSystemLoader(str(TEMPLATES)), _finalize)
        # The templates ship with Baton: no file is looked at again after its first render
        # (the answer to a click would wait for a stat of the template on a busy disk).
        self.env.auto_reload = False
        self.names = names if names is not None else {}
        self.env.filters.update(
            person=self.person,
            mention=self.mention,
            compact=compact,
            cut=cut,
            reason=wording.reason,
            rule=rules.label,
            wait=wait,
            seconds=lambda value: humanize(timedelta(seconds=value)),
        )

    def person(self, user: str | None) -> str:
        return self.names.get(user, user) if user else "—"

    def mention(self, user: str | None) -> Markup | str:
        """An @mention of a person, which notifies them, as Slack's `<@U…>` does: `<at>name</at>`
        in the text, and the person's id with it in the card's `msteams.entities` (Teams takes
        an Entra object id or a Teams user id there). Only in a TextBlock's text."""
        if not user:
            return "—"
        name = self.person(user)
        text = f"<at>{markdown(name).replace('<', '‹').replace('>', '›')}</at>"
        found = _mentions.get()
        if found is not None and not any(m["text"] == text for m in found):
            found.append({"type": "mention", "text": text, "mentioned": {"id": user, "name": name}})
        return Markup(text)

    def render(self, template: str, **facts: Any) -> dict[str, Any]:
        """The template's JSON with every value in place; not yet fitted."""
        return self._rendered(template, facts)[0]

    def message(self, template: str, **facts: Any) -> dict[str, Any]:
        """An Adaptive Card within Teams' limits."""
        card, at_most = self._rendered(template, facts)
        return fit_card(card, at_most=at_most)

    def _rendered(self, template: str, facts: dict[str, Any]) -> tuple[Any, int | None]:
        """The card, and a bound of its JSON's bytes (None: not known, with @mentions).

        The bound spares measuring the JSON of a card that is evidently within Teams' limit,
        as nearly all are: `json.dumps` writes what the template's JSON text says in at most
        `GROWTH` times its bytes, and each character of a value put in place of a stand-in
        in at most `PER_VALUE` bytes."""
        mentioned: list[dict[str, Any]] = []
        taken = _mentions.set(mentioned)
        try:
            text, values = json_templates.render_text(self.env, template, facts)
        finally:
            _mentions.reset(taken)
        parsed = json_templates.parse(template, text)
        _fill(parsed, values, len(values))
        if mentioned and isinstance(parsed, dict):
            parsed.setdefault("msteams", {})["entities"] = mentioned
            return parsed, None
        return parsed, GROWTH * len(text.encode()) + PER_VALUE * sum(map(len, values))

    def dialog(self, template: str, *, title: str, height: Size, **facts: Any) -> dict[str, Any]:
        """The answer to `task/fetch` that opens a dialog showing the template's card."""
        return answers.dialog(title, self.message(template, **facts), height=height)

    def notice(self, reason: str, **details: Any) -> str:
        """The line only the person who clicked sees: a refusal, or what their click did."""
        return str(self.render("notice", reason=reason, details=details)["text"])

    def feedback_dialog(
        self,
        lead: Lead,
        *,
        errors: Mapping[str, str] | None = None,
        given: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The feedback dialog; shown again after a submit with `errors` (field -> what is
        wrong, under its field) and what was `given`, so nothing typed is lost."""
        return self.dialog(
            "feedback_dialog",
            title="Give feedback",
            height="large",
            lead=lead,
            rules=RULES,
            errors=errors or {},
            given=given or {},
        )

    def extend_dialog(self, lead: Lead, kind: str) -> dict[str, Any]:
        return self.dialog(
            "extend_dialog", title="Extend the deadline", height="small", lead=lead, kind=kind
        )

    def assign_dialog(self, lead: Lead) -> dict[str, Any]:
        return self.dialog("assign_dialog", title="Assign lead", height="small", lead=lead)

    def pause_dialog(
        self,
        lead: Lead,
        *,
        tomorrow: str,
        latest: str,
        errors: Mapping[str, str] | None = None,
        given: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The pause dialog: until (from `tomorrow` to `latest`), a reason or a note; shown
        again after a submit with `errors` under their fields and what was `given`."""
        return self.dialog(
            "pause_dialog",
            title="Pause the clock",
            height="medium",
            lead=lead,
            tomorrow=tomorrow,
            latest=latest,
            errors=errors or {},
            given=given or {},
        )
