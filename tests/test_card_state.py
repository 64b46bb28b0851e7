"""What a lead's card is rendered from after a click (`bot.cards.as_it_stands`): its clocks
and its latest feedback, read in one query, whichever of them the lead has; of several leads
at once (`as_they_stand`, claims decided together), the same."""

from datetime import date, timedelta

import pytest

from bot.cards import as_it_stands, as_they_stand
from bot.context import Context
from storage import deadlines
from storage.models import Feedback
from tests.test_rendering import RECEIVED, make_lead

LEAD = "0123456789abcdef0123456789abcdef"


def _stored(ctx: Context, clocks: tuple[str, ...] = (), feedback: tuple[str, ...] = ()) -> None:
    with ctx.sessions() as session, session.begin():
        session.add(make_lead(id=LEAD))
        session.flush()
        for n, kind in enumerate(clocks):
            due = RECEIVED + timedelta(hours=n + 1)
            deadlines.open_clock(
                session=session,
                lead_id=LEAD,
                kind=kind,
                opened_at=RECEIVED,
                due_at=due,
                remind_at=None,
            )
        for n, outcome in enumerate(feedback):
            session.add(
                Feedback(
                    lead_id=LEAD,
                    by="U0SELLER1",
                    at=RECEIVED + timedelta(days=n),
                    outcome=outcome,
                    reason=f"reason {n}",
                    missed_rules=["budget"],
                    recheck_on=date(2027, 1, n + 1),
                )
            )
            session.flush()


def test_clocks_in_their_order_with_the_latest_feedback(ctx: Context) -> None:
    _stored(ctx, clocks=("claim", "contact"), feedback=("rejected", "nurture"))
    with ctx.sessions() as session:
        state = as_it_stands(session, LEAD)
    assert state is not None
    lead, clocks, feedback = state
    assert lead.id == LEAD
    assert [(c.kind, c.due_at) for c in clocks] == [
        ("claim", RECEIVED + timedelta(hours=1)),
        ("contact", RECEIVED + timedelta(hours=2)),
    ]
    assert clocks[0].id is not None and clocks[0].resolved_at is None
    assert feedback is not None
    assert (feedback.outcome, feedback.reason, feedback.missed_rules) == (
        "nurture",
        "reason 1",
        ["budget"],
    )
    assert (feedback.at, feedback.recheck_on) == (RECEIVED + timedelta(days=1), date(2027, 1, 2))


def test_feedback_without_clocks_and_clocks_without_feedback(ctx: Context) -> None:
    _stored(ctx, feedback=("rejected",))
    with ctx.sessions() as session:
        state = as_it_stands(session, LEAD)
    assert state is not None
    assert state[1] == [] and state[2] is not None and state[2].outcome == "rejected"


def test_clocks_without_feedback(ctx: Context) -> None:
    _stored(ctx, clocks=("claim",))
    with ctx.sessions() as session:
        state = as_it_stands(session, LEAD)
    assert state is not None
    assert [c.kind for c in state[1]] == ["claim"] and state[2] is None


def test_a_lead_with_neither_and_no_lead(ctx: Context) -> None:
    _stored(ctx)
    with ctx.sessions() as session:
        state = as_it_stands(session, LEAD)
        assert as_it_stands(session, "f" * 32) is None
    assert state is not None and state[1:] == ([], None)


@pytest.mark.parametrize(
    ("clocks", "feedback"),
    [
        (("claim", "contact"), ("rejected", "nurture")),
        ((), ("rejected",)),
        (("claim",), ()),
        ((), ()),
    ],
)
def test_several_leads_at_once_stand_as_each_alone(
    ctx: Context, clocks: tuple[str, ...], feedback: tuple[str, ...]
) -> None:
    _stored(ctx, clocks=clocks, feedback=feedback)
    gone = "f" * 32
    with ctx.sessions() as session:
        alone = {lead_id: as_it_stands(session, lead_id) for lead_id in (LEAD, gone)}
        together = as_they_stand(session, {LEAD: None, gone: None})
    assert together[gone] is None and alone[gone] is None
    assert together[LEAD] is not None and alone[LEAD] is not None
    (lead, clocks_alone, latest_alone), (same, clocks_together, latest_together) = (
        alone[LEAD],
        together[LEAD],
    )
    assert lead.id == same.id
    assert [c.model_dump() for c in clocks_together] == [c.model_dump() for c in clocks_alone]
    assert (latest_together and latest_together.model_dump()) == (
        latest_alone and latest_alone.model_dump()
    )
