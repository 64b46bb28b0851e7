"""The shared pipeline: the stages of a lead, who owns each, and which moves lead where.

Every service asks `next_stage` before it changes a lead, so an illegal move is refused
with the same reason wherever it comes from (a button, a modal, the CLI, a future front end).
"""

from enum import StrEnum

from bot.refusals import Refused


class Stage(StrEnum):
    HANDED_OVER = "handed_over"
    UNQUALIFIED = "unqualified"
    CLAIMED = "claimed"
    CONTACTED = "contacted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NURTURE = "nurture"
    WON = "won"
    LOST = "lost"


class Move(StrEnum):
    CLAIM = "claim"
    ASSIGN = "assign"
    RELEASE = "release"
    MARK_CONTACTED = "mark_contacted"
    ACCEPT = "accept"
    REJECT = "reject"
    NURTURE = "nurture"
    WIN = "win"
    LOSE = "lose"
    HAND_OVER_AGAIN = "hand_over_again"
    DEAL_WON = "deal_won"
    """The CRM says a deal of the lead is won (`bot.wins`): the CRM is the record of deals."""


S = Stage
MOVES: dict[Move, dict[Stage, Stage]] = {
    Move.CLAIM: {S.HANDED_OVER: S.CLAIMED},
    Move.ASSIGN: {S.HANDED_OVER: S.CLAIMED, S.CLAIMED: S.CLAIMED, S.CONTACTED: S.CONTACTED},
    Move.RELEASE: {S.CLAIMED: S.HANDED_OVER},
    Move.MARK_CONTACTED: {S.CLAIMED: S.CONTACTED},
    Move.ACCEPT: {S.CLAIMED: S.ACCEPTED, S.CONTACTED: S.ACCEPTED},
    Move.REJECT: {S.CLAIMED: S.REJECTED, S.CONTACTED: S.REJECTED},
    Move.NURTURE: {S.CLAIMED: S.NURTURE, S.CONTACTED: S.NURTURE},
    Move.WIN: {S.ACCEPTED: S.WON},
    Move.LOSE: {S.ACCEPTED: S.LOST},
    Move.HAND_OVER_AGAIN: {S.NURTURE: S.CLAIMED},
    Move.DEAL_WON: {stage: S.WON for stage in Stage if stage != S.WON},
}

OWNED_BY = {
    S.HANDED_OVER: "marketing",
    S.UNQUALIFIED: "marketing",
    S.NURTURE: "marketing",
    S.CLAIMED: "sales",
    S.CONTACTED: "sales",
    S.ACCEPTED: "sales",
    S.REJECTED: "marketing",
    S.WON: "sales",
    S.LOST: "sales",
}
"""Which team the lead belongs to at each stage: until Sales claims it, it is Marketing's."""

OPEN = (S.HANDED_OVER, S.CLAIMED, S.CONTACTED)
OUTCOMES = (S.ACCEPTED, S.REJECTED, S.NURTURE, S.WON, S.LOST)
FEEDBACK = (Move.ACCEPT, Move.REJECT, Move.NURTURE)


def _refusal(stage: Stage, move: Move) -> Refused:
    if move in FEEDBACK:
        if stage == S.HANDED_OVER:
            return Refused("feedback_unclaimed")
        if stage in OUTCOMES:
            return Refused("feedback_given", stage=stage.value)
        return Refused("no_feedback", stage=stage.value)
    reason = {
        Move.CLAIM: "not_claimable",
        Move.ASSIGN: "not_claimable",
        Move.RELEASE: "not_releasable",
        Move.MARK_CONTACTED: "not_contactable",
        Move.WIN: "not_closable",
        Move.LOSE: "not_closable",
        Move.DEAL_WON: "not_closable",
        Move.HAND_OVER_AGAIN: "not_in_nurture",
    }[move]
    return Refused(reason, stage=stage.value)


def next_stage(stage: str, move: Move) -> Stage:
    """Where `move` takes a lead in `stage`, or `Refused` with the reason it cannot."""
    current = Stage(stage)
    target = MOVES[move].get(current)
    if target is None:
        raise _refusal(current, move)
    return target
