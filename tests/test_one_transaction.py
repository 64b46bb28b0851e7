"""`storage.db.one_transaction`: the services' transactions inside it are its own, committed
with it or rolled back with it; a delivery's id taken inside it is kept only with its work."""

import pytest
from sqlmodel import select

from bot.context import Context
from bot.deduplication import first_deliveries, first_delivery
from storage.db import one_transaction, transaction
from storage.models import InboundEvent


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
