"""Ids of the buttons, modals and commands Baton puts in Slack, parsed back in one place."""

from enum import StrEnum


class ActionId(StrEnum):
    CLAIM = "baton.claim"
    ASSIGN = "baton.assign"
    RELEASE = "baton.release"
    MARK_CONTACTED = "baton.mark_contacted"
    GIVE_FEEDBACK = "baton.give_feedback"


class ViewId(StrEnum):
    ASSIGN = "baton.assign_view"


class BlockId(StrEnum):
    ASSIGNEE = "assignee"
