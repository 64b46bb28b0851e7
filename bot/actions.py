"""The actions on a lead every front end offers (claim, assign, feedback...), named once.

Slack carries them as action, view and block ids, Teams as the verbs and data of its cards;
both parse them back here, so a listener of either platform calls the same service.
"""

from enum import StrEnum


class ActionId(StrEnum):
    CLAIM = "baton.claim"
    ASSIGN = "baton.assign"
    RELEASE = "baton.release"
    MARK_CONTACTED = "baton.mark_contacted"
    GIVE_FEEDBACK = "baton.give_feedback"
    REASSIGN = "baton.reassign"
    EXTEND = "baton.extend"
    PAUSE = "baton.pause"
    RESTORE = "baton.restore"
    """The sales manager puts a seller back in rotation (`bot.consequences`)."""
    CONTACTED_HOW = "baton.contacted_how"
    WON = "baton.won"
    LOST = "baton.lost"
    HAND_OVER_AGAIN = "baton.hand_over_again"
    HAND_OVER = "baton.hand_over"
    """Opens the hand-over form where a platform needs a button for it (Teams)."""
    HOME_REFRESH = "baton.home_refresh"
    AWAY = "baton.away"
    """App Home's switch: away until `/baton back` (a button), or until a day (a date picker)."""
    AWAY_UNTIL = "baton.away_until"
    BACK = "baton.back"
    DIGEST = "baton.digest"
    """The overflow menu of a lead in a digest; each option names the action it stands for."""


class ViewId(StrEnum):
    ASSIGN = "baton.assign_view"
    EXTEND = "baton.extend_view"
    PAUSE = "baton.pause_view"
    FEEDBACK = "baton.feedback_view"
    HAND_OVER = "baton.hand_over_view"


class BlockId(StrEnum):
    ASSIGNEE = "assignee"
    REASON = "reason"
    OUTCOME = "outcome"
    MISSED = "missed_rules"
    RECHECK = "recheck_on"
    NOTE = "note"
    UNTIL = "until"


def clock_ref(lead_id: str, kind: str) -> str:
    """One clock of one lead, as a button value or a modal's private metadata."""
    return f"{lead_id}:{kind}"


def parse_clock_ref(value: str) -> tuple[str, str]:
    """One clock of one lead (`<lead id>:<kind>`), from a button value or a modal's metadata."""
    lead_id, _, kind = value.partition(":")
    return lead_id, kind


def digest_option(action: str, value: str) -> str:
    """A lead's action in a digest's overflow menu: `<action id>|<the button's value>`."""
    return f"{action}|{value}"


def parse_digest_option(value: str) -> tuple[str, str]:
    action, _, argument = value.partition("|")
    return action, argument


def button(action: dict[str, str]) -> tuple[str, str]:
    """The action id and value of a button for one of the domain's actions on a lead
    (`bot.digests`: `{"id": "extend", "lead": …, "clock": …}`)."""
    value = clock_ref(action["lead"], action["clock"]) if "clock" in action else action["lead"]
    return ActionId[action["id"].upper()].value, value
