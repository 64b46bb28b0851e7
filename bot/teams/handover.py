"""`@Baton lead` on Teams: Marketing hands over a lead from chat, in a dialog with the fields
of Slack's `/baton lead` modal (`handlers/views.py`), through the same intake as the API.

Teams opens a dialog only from a card's button, so the command answers with one
(`commands.py`); who may hand over (the agreement's rule, as on Slack) is checked when it is
clicked and again at the submit, and a refusal is shown to that person alone. The dialog
carries an id of its own, made when it opens: sent twice, it is one hand-over (the API's
`external_id`, as Slack's view id is). Field problems come back under their fields with
what was typed, in the words the Slack modal shows, and nothing is stored; a lead that was
stored is answered in the dialog with its verdict: went to Sales, or why not.
"""

import re
from typing import Any

from pydantic import ValidationError

from bot import intake
from bot.context import Context
from bot.permissions import Action, authorize
from bot.schemas import LeadIn
from bot.teams import answers
from bot.teams.cards import CardRenderer
from storage.models import new_id

TEXTS = (
    "name",
    "email",
    "company",
    "title",
    "phone",
    "country",
    "industry",
    "buying_stage",
    "budget",
    "source",
    "challenges",
)
NUMBERS = ("employees", "revenue")
LONG = 1000
LONGEST = {"challenges": 3000}
"""The most each field of the dialog takes (its `maxLength`, the Slack modal's)."""
FIRST = "name"
"""Where a problem that names no field of the dialog is shown."""
FORM = re.compile(r"[0-9a-f]{32}")
"""A dialog's id, as `open_dialog` makes it."""


def open_dialog(ctx: Context, cards: CardRenderer, user: str) -> dict[str, Any]:
    """The dialog, or why not (raises `Refused`)."""
    authorize(ctx.agreement, user, Action.HAND_OVER)
    return _dialog(cards, new_id())


def submitted(
    ctx: Context, cards: CardRenderer, user: str, form: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Hand the lead over: its verdict in the dialog, or the dialog again with each field's
    problem. A refusal of the person is raised for the listener to tell them."""
    authorize(ctx.agreement, user, Action.HAND_OVER)
    if not FORM.fullmatch(form):  # not a dialog Baton opened
        return answers.closed(cards.notice("unknown_action"))
    given = {name: text for name in (*TEXTS, *NUMBERS) if (text := _text(data.get(name)))}
    fields: dict[str, Any] = dict(given)
    fields["external_id"] = f"teams-{form}"
    fields["source"] = fields.get("source") or "teams"
    try:
        lead_in = LeadIn.model_validate(fields)
    except ValidationError as error:
        return _dialog(cards, form, errors=problems(error), given=given)
    try:
        result = intake.hand_over(ctx, lead_in, by=user)
    except intake.Unstorable as refused:
        return _dialog(cards, form, errors={_field(refused.field): refused.reason}, given=given)
    verdict = cards.message("handover_verdict", lead=result.lead, created=result.created)
    return answers.dialog("Hand over a lead", verdict, height="small")


def problems(error: ValidationError) -> dict[str, str]:
    """Each field's first problem, worded as the Slack modal words it."""
    found: dict[str, str] = {}
    for problem in error.errors():
        field = _field(str(problem["loc"][0]) if problem["loc"] else None)
        found.setdefault(field, problem["msg"].removeprefix("Value error, "))
    return found


def _field(name: str | None) -> str:
    """The dialog's field a problem is shown under."""
    return name if name in (*TEXTS, *NUMBERS) else FIRST


def _dialog(
    cards: CardRenderer,
    form: str,
    *,
    errors: dict[str, str] | None = None,
    given: dict[str, str] | None = None,
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        name: text[: LONGEST.get(name, LONG)]  # as much as the field takes (a forged submit)
        for name, text in (given or {}).items()
        if name not in NUMBERS
    }
    for name in NUMBERS:
        if (number := _number((given or {}).get(name))) is not None:
            shown[name] = number
    return cards.dialog(
        "handover_dialog",
        title="Hand over a lead",
        height="large",
        form=form,
        errors=errors or {},
        given=shown,
    )


def _text(value: Any) -> str | None:
    """What was typed, as the Slack modal takes it: Teams sends every input's value as text
    (a number too), "" for none. Spaces are the intake's to judge, as they are from Slack."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _number(value: str | None) -> float | int | None:
    """A number typed, to show again in its field; anything else is not shown again."""
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    if number is None or not abs(number) < 1e300:  # nan and infinities too
        return None
    return int(number) if number.is_integer() else number
