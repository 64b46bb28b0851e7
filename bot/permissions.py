"""Who may do what, in one table, so every front end and every test asks the same place."""

from enum import StrEnum

from bot.agreement import Agreement
from bot.refusals import Refused


class Action(StrEnum):
    CLAIM = "claim"
    ASSIGN = "assign"
    RELEASE = "release"
    MARK_CONTACTED = "mark_contacted"
    GIVE_FEEDBACK = "give_feedback"
    HAND_OVER = "hand_over"
    READ_HISTORY = "read_history"
    PAUSE = "pause"
    RESTORE = "restore"


OWNER = "owner"
RULES: dict[Action, set[str]] = {
    Action.CLAIM: {"sales", "sales_manager"},
    Action.ASSIGN: {"sales_manager"},
    Action.RELEASE: {OWNER, "sales_manager"},
    Action.MARK_CONTACTED: {OWNER, "sales_manager"},
    Action.GIVE_FEEDBACK: {OWNER, "sales_manager"},
    Action.HAND_OVER: {"marketing", "sales_manager"},
    Action.READ_HISTORY: {"sales", "sales_manager", "marketing", "ceo"},
    Action.PAUSE: {OWNER, "sales_manager"},
    Action.RESTORE: {"sales_manager"},
}


def allowed(agreement: Agreement, user: str, action: Action, owner: str | None = None) -> bool:
    roles = agreement.roles_of(user)
    if owner is not None and user == owner:
        roles.add(OWNER)
    return bool(roles & RULES[action])


def authorize(agreement: Agreement, user: str, action: Action, owner: str | None = None) -> None:
    """Raise `Refused("not_allowed")` naming who may, when `user` may not."""
    if not allowed(agreement, user, action, owner):
        raise Refused("not_allowed", action=action.value, who=sorted(RULES[action]), owner=owner)
