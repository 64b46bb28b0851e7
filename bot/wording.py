"""The words for what the domain stores as codes: jinja2 text templates in `bot/texts`.

Qualification reasons are stored as a rule's code and its facts (`bot.rules`); feedback
reasons as the code of one of the agreement's reasons. Every front end (the Slack templates,
the intake API's answer, the CLI) reads them through here, so rewording a reason is an edit
of a text template and never changes what is stored, grouped or erased.
"""

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot import rules

TEXTS = Path(__file__).parent / "texts"


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEXTS)),
        autoescape=False,  # plain text: each front end escapes for its own format
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def reason(stored: Any) -> str:
    """One qualification reason in words, from its code and facts."""
    if not isinstance(stored, dict):  # nothing but codes is stored; show anything else as is
        return str(stored)
    code = str(stored.get("code", ""))
    try:
        template = _env().get_template(f"reasons/{code}.txt.j2")
    except TemplateNotFound:
        return rules.label(code)
    return template.render(**(stored.get("facts") or {})).strip()


def reasons(stored: Iterable[Any] | None) -> list[str]:
    return [reason(item) for item in stored or []]


def compact(number: float | None) -> str:
    """12500000 -> 12.5M: revenue at a glance, in whatever currency Marketing uses."""
    if number is None:
        return "—"
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{number:g}"
