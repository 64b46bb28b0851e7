"""The note a write-back leaves in the CRM: what happened, why, who said so, and a stamp.

Rendered from `templates/note.html.j2` with HTML autoescaping, since HubSpot and Pipedrive
both show a note's body as HTML: a lead named `<script>` is text there, never markup. The
stamp names the outbox row that wrote it, so a retry after a lost answer can find the note
an earlier attempt made (`find_note`) instead of writing it twice.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

MAX_NOTE = 10_000  # characters of the salesperson's note carried over

OUTCOMES = {"accepted": "accepted", "rejected": "rejected", "nurture": "back to nurture"}


def _lines(text: str) -> Markup:
    """Escaped text with its line breaks kept as `<br>`."""
    return Markup("<br>").join(escape(line) for line in text.splitlines())


_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["lines"] = _lines


def stamp(row_id: int | str, queued: datetime) -> str:
    """A mark unique to one outbox row, that no person would type: `baton:<row>:<queued>`."""
    return f"baton:{row_id}:{int(queued.timestamp() * 1000)}"


def note(
    *,
    step: Literal["contacted", "feedback"],
    by: str,
    at: datetime,
    stamp: str,
    outcome: str | None = None,
    reason: str | None = None,
    text: str | None = None,
) -> str:
    """The note's HTML. `outcome` is one of `OUTCOMES` for feedback; `at` is shown as given
    (pass it in the agreement's time zone)."""
    return (
        _env.get_template("note.html.j2")
        .render(
            step=step,
            by=by,
            at=f"{at:%Y-%m-%d %H:%M} {at.tzname() or ''}".strip(),
            stamp=stamp,
            outcome=OUTCOMES.get(outcome or "", outcome),
            reason=reason,
            note=(text or "")[:MAX_NOTE],
        )
        .strip()
    )
