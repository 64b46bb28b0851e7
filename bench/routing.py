"""One assignment decision (`bot.routing.choose_seller`) at 100 sellers, with the open leads
and the history a team of that size has: every seller holding some open leads (a few at the
cap), some away or out of the rotation, weights for a few, and closed leads behind them."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from bench.common import Databases, Results, Target
from bot import routing
from bot.agreement_file import parse_agreement
from bot.schemas import LeadIn
from storage import leads, sellers
from storage.db import make_engine, session_factory, transaction
from tests.support import AGREEMENT, GOOD_LEAD

TARGET = Target("p99", "<", 5, "p99 < 5 ms")
SELLERS = [f"U0R{n:03d}" for n in range(1, 101)]
CAP = 15
CLOSED_PER_SELLER = 200
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def agreement_for(mode: str):
    weights = ", ".join(f"{seller}: 2" for seller in SELLERS[:10])
    text = AGREEMENT.replace(
        "sales: [U0SELLER1, U0SELLER2, U0SELLER3]", f"sales: [{', '.join(SELLERS)}]"
    )
    return parse_agreement(
        text + f"routing: {{mode: {mode}, weights: {{{weights}}}, max_open: {CAP}}}\n"
    )


def seed(url: str) -> int:
    """Open leads per seller drawn from 0 to the cap (mean about 7), 200 closed leads each,
    five sellers away and two out of the rotation. Returns the number of leads."""
    draw = random.Random(14)
    base = LeadIn.model_validate(GOOD_LEAD).columns()
    rows = []
    for seller in SELLERS:
        held = min(CAP, int(draw.triangular(0, CAP + 2, 6)))
        stages = ["claimed"] * held + [draw.choice(leads.CLOSED) for _ in range(CLOSED_PER_SELLER)]
        for stage in stages:
            rows.append(
                {
                    **base,
                    "id": f"{len(rows):032x}",
                    "qualified": True,
                    "reasons": [],
                    "stage": stage,
                    "owner": seller,
                    "handed_over_by": "api",
                    "received_at": NOW - timedelta(days=draw.uniform(0, 365)),
                }
            )
    engine = make_engine(url)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        for start in range(0, len(rows), 5000):
            leads.insert_all(session=session, rows=rows[start : start + 5000])
        for seller in SELLERS[10:15]:
            sellers.set_away(session=session, seller=seller, until=None, at=NOW)
        for seller in SELLERS[15:17]:
            sellers.take_out_of_rotation(session, seller, "3 breaches this week", NOW)
    with transaction(sessions) as session:  # every seller placed in the rotation
        routing.Rotation(session, agreement_for("round_robin"), NOW)
    # As autovacuum leaves a table this size after the inserts: its statistics taken, its
    # pages all-visible (so PostgreSQL answers the count from the index alone).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        statement = "VACUUM ANALYZE lead" if engine.dialect.name == "postgresql" else "ANALYZE"
        connection.execute(text(statement))
    engine.dispose()
    return len(rows)


def decision(results: Results, dbs: Databases, quick: bool, backend: str) -> None:
    repeat = 200 if quick else 1000
    with dbs.fresh(backend, "routing") as url:
        count = seed(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        for mode in ("round_robin", "least_loaded"):
            agreement = agreement_for(mode)
            samples = []
            for _ in range(repeat + 20):
                with sessions() as session:
                    began = time.perf_counter()
                    choice = _decide(session, agreement)
                    samples.append((time.perf_counter() - began) * 1000)
                    session.rollback()
                assert choice is not None
            results.add(
                "routing",
                f"one decision, {mode.replace('_', ' ')}, 100 sellers",
                backend,
                "ms",
                samples[20:],
                target=TARGET,
            )
        with sessions() as session:
            rotation = routing.Rotation(session, agreement_for("round_robin"), NOW)
            alone = []
            for _ in range(repeat):
                began = time.perf_counter()
                rotation.choose()
                alone.append((time.perf_counter() - began) * 1000)
            session.rollback()
        figure = results.add(
            "routing", "the choice alone (rows already read)", backend, "ms", alone
        )
        if backend == dbs.backends[-1]:
            results.note(
                "routing",
                f"The choice alone does no I/O, so its tail (p99 {figure.p99:.2f} ms against a "
                f"median of {figure.median:.2f} ms) is the time the process waited for a "
                f"core; the decisions' tails above include the same wait.",
            )
        engine.dispose()
    if backend == dbs.backends[0]:
        results.note(
            "routing",
            f"{len(SELLERS)} sellers (10 of weight 2, 5 away, 2 out of rotation, cap {CAP}), "
            f"{count:,} leads of which {count - len(SELLERS) * CLOSED_PER_SELLER:,} open; "
            f"each decision in a fresh session (its BEGIN, the two reads, its ROLLBACK), so "
            f"the figure includes two round trips to the database besides the choice.",
        )


def _decide(session: Session, agreement) -> routing.Choice | None:
    return routing.choose_seller(session, agreement, NOW)
