"""The pipeline's state machine, exhaustively: every stage by every move."""

import pytest

from bot.pipeline import MOVES, OWNED_BY, Move, Stage, next_stage
from bot.refusals import Refused

ALLOWED = {
    (Stage.HANDED_OVER, Move.CLAIM): Stage.CLAIMED,
    (Stage.HANDED_OVER, Move.ASSIGN): Stage.CLAIMED,
    (Stage.CLAIMED, Move.ASSIGN): Stage.CLAIMED,
    (Stage.CONTACTED, Move.ASSIGN): Stage.CONTACTED,
    (Stage.CLAIMED, Move.RELEASE): Stage.HANDED_OVER,
    (Stage.CLAIMED, Move.MARK_CONTACTED): Stage.CONTACTED,
    (Stage.CLAIMED, Move.ACCEPT): Stage.ACCEPTED,
    (Stage.CONTACTED, Move.ACCEPT): Stage.ACCEPTED,
    (Stage.CLAIMED, Move.REJECT): Stage.REJECTED,
    (Stage.CONTACTED, Move.REJECT): Stage.REJECTED,
    (Stage.CLAIMED, Move.NURTURE): Stage.NURTURE,
    (Stage.CONTACTED, Move.NURTURE): Stage.NURTURE,
    (Stage.ACCEPTED, Move.WIN): Stage.WON,
    (Stage.ACCEPTED, Move.LOSE): Stage.LOST,
    (Stage.NURTURE, Move.HAND_OVER_AGAIN): Stage.CLAIMED,
    **{(stage, Move.DEAL_WON): Stage.WON for stage in Stage if stage != Stage.WON},
}

REFUSALS = {
    Move.CLAIM: {"not_claimable"},
    Move.ASSIGN: {"not_claimable"},
    Move.RELEASE: {"not_releasable"},
    Move.MARK_CONTACTED: {"not_contactable"},
    Move.ACCEPT: {"feedback_unclaimed", "feedback_given", "no_feedback"},
    Move.REJECT: {"feedback_unclaimed", "feedback_given", "no_feedback"},
    Move.NURTURE: {"feedback_unclaimed", "feedback_given", "no_feedback"},
    Move.WIN: {"not_closable"},
    Move.LOSE: {"not_closable"},
    Move.HAND_OVER_AGAIN: {"not_in_nurture"},
    Move.DEAL_WON: {"not_closable"},
}


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("move", list(Move))
def test_every_stage_and_move(stage: Stage, move: Move):
    if (stage, move) in ALLOWED:
        assert next_stage(stage.value, move) == ALLOWED[(stage, move)]
        return
    with pytest.raises(Refused) as refusal:
        next_stage(stage.value, move)
    assert refusal.value.reason in REFUSALS[move]


def test_the_table_is_the_one_tested():
    table = {(stage, move): target for move, row in MOVES.items() for stage, target in row.items()}
    assert table == ALLOWED


def test_feedback_before_anyone_claimed_says_so():
    with pytest.raises(Refused) as refusal:
        next_stage("handed_over", Move.REJECT)
    assert refusal.value.reason == "feedback_unclaimed"


def test_a_second_feedback_is_refused():
    with pytest.raises(Refused) as refusal:
        next_stage("rejected", Move.ACCEPT)
    assert refusal.value.reason == "feedback_given"


def test_every_stage_has_an_owning_team():
    assert set(OWNED_BY) == set(Stage)
    assert OWNED_BY[Stage.HANDED_OVER] == "marketing"
    assert OWNED_BY[Stage.CLAIMED] == "sales"
