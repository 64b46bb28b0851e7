"""`storage.db.one_transaction`: the services' transactions inside it are its own, committed
with it or rolled back with it; a delivery's id taken inside it is kept only with its work;
rows inserted together (`inserting_together`) go at the end of their block, or not at all."""

import pytest
from sqlmodel import col, select

from bot import messages
from bot.context import Context
from bot.deduplication import first_deliveries, first_delivery
from storage import leads, outbox
from storage.db import inserting_together, one_transaction, transaction
from storage.models import Event, InboundEvent, Outbox


def test_a_transaction_inside_joins_it_and_commits_with_it(ctx: Context) -> None:
    with one_transaction(ctx.sessions) as outer:
        with transaction(ctx.sessions) as inner:
            assert inner is outer
        assert first_delivery(ctx, "evt-1", platform="teams")
        assert not first_delivery(ctx, "evt-1", platform="teams")
    with ctx.sessions() as session:
        assert [e.event_id for e in session.exec(select(InboundEvent))] == ["evt-1"]


def test_a_raise_inside_rolls_back_all_of_it(ctx: Context) -> None:
    with pytest.raises(RuntimeError), one_transaction(ctx.sessions):
        assert first_delivery(ctx, "evt-2", platform="teams")
        assert first_delivery(ctx, "evt-3", platform="slack")
        raise RuntimeError("the work failed")
    with ctx.sessions() as session:
        assert session.exec(select(InboundEvent)).all() == []
    assert first_delivery(ctx, "evt-2", platform="teams")  # not kept: taken afresh


def test_several_deliveries_at_once_are_each_first_once(ctx: Context) -> None:
    assert first_delivery(ctx, "evt-seen", platform="teams")
    with one_transaction(ctx.sessions):
        fresh = first_deliveries(ctx, ["evt-a", "evt-seen", "evt-b", "evt-a"], platform="teams")
    assert fresh == {"evt-a", "evt-b"}
    assert first_deliveries(ctx, ["evt-a", "evt-c"], platform="teams") == {"evt-c"}
    assert first_deliveries(ctx, [], platform="teams") == set()


def _events(ctx: Context) -> list[str]:
    with ctx.sessions() as session:
        return [e.kind for e in session.exec(select(Event).order_by(col(Event.id))).all()]


def test_rows_inserted_together_go_at_the_end_of_the_block_in_their_order(ctx: Context) -> None:
    at = ctx.clock()
    with one_transaction(ctx.sessions) as session:
        with inserting_together(session):
            leads.record(session=session, lead_id=None, at=at, actor="baton", kind="first")
            messages.queue(session=session, rows=[outbox.row(kind="dm", at=at, recipient="U1")])
            leads.record(session=session, lead_id=None, at=at, actor="baton", kind="second")
            assert session.exec(select(Event)).all() == []  # held until the block ends
        assert [e.kind for e in session.exec(select(Event)).all()] == ["first", "second"]
    assert _events(ctx) == ["first", "second"]
    with ctx.sessions() as session:
        assert [row.recipient for row in session.exec(select(Outbox)).all()] == ["U1"]


def test_no_rows_inserted_together_insert_nothing(ctx: Context) -> None:
    with one_transaction(ctx.sessions) as session, inserting_together(session):
        outbox.enqueue_all(session=session, rows=[])
        leads.record_all(session=session, events=[])
    assert _events(ctx) == []
    with ctx.sessions() as session:
        assert session.exec(select(Outbox)).all() == []


def test_a_block_that_raises_inserts_nothing(ctx: Context) -> None:
    with (
        pytest.raises(RuntimeError),
        one_transaction(ctx.sessions) as session,
        inserting_together(session),
    ):
        leads.record(session=session, lead_id=None, at=ctx.clock(), actor="baton", kind="never")
        raise RuntimeError("the claim failed")
    assert _events(ctx) == []
