"""Baton's choice of seller (`bot.routing`): fairness with weights over thousands of leads,
the cap, absences without a catch-up flood, and the rotation; on SQLite and PostgreSQL."""

from datetime import UTC, datetime

from bot import routing
from bot.agreement_file import parse_agreement
from bot.context import Context
from storage.db import transaction
from tests.support import AGREEMENT

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SELLERS = ["U0SELLER1", "U0SELLER2", "U0SELLER3"]


def routed(routing_yaml: str):
    return parse_agreement(AGREEMENT + routing_yaml)


def with_routing(ctx: Context, routing_yaml: str) -> Context:
    return Context(agreement=routed(routing_yaml), sessions=ctx.sessions, clock=lambda: NOW)


def run_rotation(ctx: Context, count: int, *, exclude=()) -> list[str]:
    """`count` choices in a row, each counted as a turn (no leads stored)."""
    chosen = []
    with transaction(ctx.sessions) as session:
        rotation = routing.Rotation(session, ctx.agreement, NOW)
        for _ in range(count):
            choice = rotation.choose(exclude)
            assert choice is not None
            rotation.took(choice.seller)
            chosen.append(choice.seller)
    return chosen


def test_round_robin_gives_each_seller_their_weighted_share_within_one_lead(ctx):
    ctx = with_routing(ctx, "routing: {mode: round_robin, weights: {U0SELLER1: 2}}\n")
    chosen = run_rotation(ctx, 4000)
    # Stride scheduling: at every prefix of n leads each seller's count is within one lead of
    # n * weight / total weight (2/4, 1/4, 1/4 here).
    shares = {"U0SELLER1": 0.5, "U0SELLER2": 0.25, "U0SELLER3": 0.25}
    counts = dict.fromkeys(SELLERS, 0)
    for n, seller in enumerate(chosen, start=1):
        counts[seller] += 1
        for name, share in shares.items():
            assert abs(counts[name] - n * share) <= 1, (n, counts)
    assert counts == {"U0SELLER1": 2000, "U0SELLER2": 1000, "U0SELLER3": 1000}
