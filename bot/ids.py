"""Ids of the buttons, modals and commands Baton puts in Slack, parsed back in one place."""

from enum import StrEnum


class ActionId(StrEnum):
    CLAIM = "baton.claim"
    ASSIGN = "baton.assign"
    RELEASE = "baton.release"
    MARK_CONTACTED = "baton.mark_contacted"
    GIVE_FEEDBACK = "baton.give_feedback"
    REASSIGN = "baton.reassign"
    EXTEND = "baton.extend"


class ViewId(StrEnum):
    ASSIGN = "baton.assign_view"
    EXTEND = "baton.extend_view"


class BlockId(StrEnum):
    ASSIGNEE = "assignee"
    REASON = "reason"


def clock_ref(lead_id: str, kind: str) -> str:
    """One clock of one lead, as a button value or a modal's private metadata."""
    return f"{lead_id}:{kind}"


def parse_clock_ref(value: str) -> tuple[str, str]:
    lead_id, _, kind = value.partition(":")
    return lead_id, kind
