"""The scorecard's figures by source, counted by `source_key` from the report index: every
way a lead is stored keys its source, and migration 0014 keys the leads stored before it."""

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import inspect, text

from bot.agreement_file import parse_agreement
from bot.scorecard import NO_SOURCE, compute
from storage import leads
from storage.db import _alembic_config, make_engine, migrate, session_factory, transaction
from storage.models import Feedback, Lead, source_key
from tests.support import AGREEMENT

LONG = "源" * 1000
"""A source as long as a lead may have, more than a PostgreSQL index entry holds."""
AT = datetime(2026, 11, 24, 10, tzinfo=UTC)


def _row(lead_id: str, source: str | None) -> dict:
    return {
        "id": lead_id,
        "name": "Mette",
        "email": f"{lead_id}@nordlys.dk",
        "company": "Nordlys",
        "source": source,
        "activity": [],
        "qualified": True,
        "reasons": [],
        "stage": "handed_over",
        "handed_over_by": "api",
        "received_at": AT,
    }


def _keys(engine) -> dict[str, int | None]:
    with engine.connect() as connection:
        return dict(connection.execute(text("SELECT id, source_key FROM lead")).all())


def test_every_insert_keys_the_source_and_the_scorecard_names_each_source(ctx):
    """The intake's bulk insert and an ORM insert both set the key; a long source and a lead
    without one are counted under their own names, with the feedback on them."""
    with transaction(ctx.sessions) as session:
        leads.insert_all(
            session=session,
            rows=[_row("a", "webinar"), _row("b", LONG), _row("c", None), _row("d", "webinar")],
        )
        session.add(Lead(**_row("e", LONG) | {"stage": "accepted"}))
        session.flush()
        session.add(Feedback(lead_id="e", by="U0SELLER1", at=AT, outcome="accepted"))
        session.add(
            Feedback(lead_id="c", by="U0SELLER1", at=AT, outcome="rejected", reason="too_early")
        )
    engine = ctx.sessions.kw["bind"]
    sources = {"a": "webinar", "b": LONG, "c": None, "d": "webinar", "e": LONG}
    assert _keys(engine) == {lead_id: source_key(source) for lead_id, source in sources.items()}
    assert source_key(None) is None and source_key("webinar") != source_key(LONG)

    with ctx.sessions() as session:
        card = compute(
            session=session,
            agreement=ctx.agreement,
            since=AT - timedelta(days=1),
            until=AT + timedelta(days=1),
            now=AT + timedelta(days=1),
        )
    assert {name: source.handed_over for name, source in card.sources.items()} == {
        "webinar": 2,
        LONG: 2,
        NO_SOURCE: 1,
    }
    assert card.sources[LONG].accepted == 1
    assert card.sources[LONG].feedback == {"accepted": 1}
    assert card.sources[NO_SOURCE].rejected_by_reason == {"too_early": 1}
    assert card.sources["webinar"].feedback == {}


def test_leads_stored_before_the_source_key_get_theirs(database_url):
    """0014 keys every stored lead's source as an insert would, puts the key in the report
    index, and goes back to 0013 without it."""
    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0013")
    sources = {"a": "webinar", "b": LONG, "c": None, "d": "webinar", "e": "fair"}
    with engine.begin() as connection:
        for lead_id, source in sources.items():
            connection.execute(
                text(
                    "INSERT INTO lead (id, source, name, email, company, activity, qualified,"
                    " reasons, stage, handed_over_by, received_at) VALUES (:id, :source,"
                    " 'Mette', 'm@nordlys.dk', 'Nordlys', '[]', true, '[]', 'handed_over', 'api',"
                    " :at)"
                ),
                {"id": lead_id, "source": source, "at": AT},
            )
    migrate(engine)

    assert _keys(engine) == {lead_id: source_key(source) for lead_id, source in sources.items()}
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("lead")}
    assert indexes["ix_lead_received_at_report"]["column_names"][-2:] == ["id", "source_key"]
    with session_factory(engine)() as session:
        card = compute(
            session=session,
            agreement=parse_agreement(AGREEMENT),
            since=AT - timedelta(days=1),
            until=AT + timedelta(days=1),
            now=AT + timedelta(days=1),
        )
    assert {name: source.handed_over for name, source in card.sources.items()} == {
        "webinar": 2,
        LONG: 1,
        "fair": 1,
        NO_SOURCE: 1,
    }

    command.downgrade(_alembic_config(engine), "0013")
    assert "source_key" not in {column["name"] for column in inspect(engine).get_columns("lead")}
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("lead")}
    assert indexes["ix_lead_received_at_report"]["column_names"][-1] == "id"
    engine.dispose()
