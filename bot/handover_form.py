"""A lead typed into a chat form (Slack's `/baton lead` modal, Teams' `@Baton lead` dialog).

Both forms go through the API's intake, qualification and idempotency; what they share
besides is here: who may hand over, the form's id as the lead's external id (a form sent
twice is one hand-over), the platform as the source when none was typed, and each field's
problem worded as the form shows it.
"""

from typing import Any

from pydantic import ValidationError

from bot import intake
from bot.context import Context
from bot.permissions import Action, authorize
from bot.schemas import LeadIn

FIRST = "name"
"""Where a problem that names no field is shown: the form's first field."""


class FormProblems(Exception):
    """The form cannot be stored as typed: each field's first problem, by field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(problems)
        self.problems = problems


def hand_over(
    ctx: Context, *, user: str, fields: dict[str, Any], platform: str, form_id: str
) -> intake.HandOver:
    """Store the lead `user` typed; raises `Refused` for someone who may not hand over and
    `FormProblems` for what the form must show under its fields."""
    authorize(ctx.agreement, user, Action.HAND_OVER)
    given = {**fields, "external_id": f"{platform}-{form_id}"}
    given["source"] = given.get("source") or platform
    try:
        lead_in = LeadIn.model_validate(given)
    except ValidationError as error:
        problems: dict[str, str] = {}
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else FIRST
            problems.setdefault(field, problem["msg"].removeprefix("Value error, "))
        raise FormProblems(problems) from error
    try:
        return intake.hand_over(ctx, lead_in, by=user)
    except intake.Unstorable as refused:
        raise FormProblems({refused.field or FIRST: refused.reason}) from refused
