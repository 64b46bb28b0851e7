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

from bot import handover_form
from bot.context import Context
from bot.permissions import Action, authorize
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
    if not FORM.fullmatch(form):  # not a dialog Baton opened
        return answers.closed(cards.notice("unknown_action"))
    given = {name: text for name in (*TEXTS, *NUMBERS) if (text := _text(data.get(name)))}
    try:
        result = handover_form.hand_over(
            ctx, user=user, fields=given, platform="teams", form_id=form
        )
    except handover_form.FormProblems as problems:
        return _dialog(cards, form, errors=_under_fields(problems.problems), given=given)
    verdict = cards.message("handover_verdict", lead=result.lead, created=result.created)
    return answers.dialog("Hand over a lead", verdict, height="small")


def _under_fields(problems: dict[str, str]) -> dict[str, str]:
    """Each problem under the dialog's field it names; one of no field under the first."""
    shown: dict[str, str] = {}
    for name, problem in problems.items():
        shown.setdefault(name if name in (*TEXTS, *NUMBERS) else handover_form.FIRST, problem)
    return shown


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
