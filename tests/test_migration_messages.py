"""0009: messages referenced by platform, conversation and message id, with the data there."""

import json
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel, select

from storage.db import _alembic_config, make_engine, migrate, session_factory
from storage.models import Digest, InboundEvent, Lead, Outbox

AT = datetime(2026, 11, 20, 9, tzinfo=UTC)
CARD_TS = "1763629201.000100"

# kind, channel, ts, payload: what Slack-shaped rows looked like before 0009
OUTBOX = [
    ("card", None, CARD_TS, {}),
    ("reply", "C0SALES", "1763629202.000100", {"template": "t"}),
    ("reply", None, "1763629203.000100", {"template": "t"}),  # before replies kept theirs
    ("dm", "D0SELLER1", "1763629204.000100", {"template": "t"}),
    ("dm", "U0SELLER1", "1763629205.000100", {"template": "t"}),  # its DM channel never kept
    ("dm", "U0CEO", None, {"template": "t"}),  # queued
    ("erase", "C0MKTG", None, {"ts": "1763629206.000100"}),  # queued
]


def _old_rows(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO lead (id, name, email, company, activity, qualified, reasons, stage,"
                " handed_over_by, received_at, card_channel, card_ts) VALUES ('l1', 'Mette',"
                " 'm@x.dk', 'Nordlys', '[]', true, '[]', 'claimed', 'api', :at, 'C0SALES', :ts)"
            ),
            {"at": AT, "ts": CARD_TS},
        )
        for kind, channel, ts, payload in OUTBOX:
            connection.execute(
                text(
                    "INSERT INTO outbox (lead_id, kind, channel, payload, created_at, attempts,"
                    " sent_at, ts, next_attempt_at) VALUES (:lead, :kind, :channel, :payload,"
                    " :at, 1, :sent, :ts, :due)"
                ),
                {
                    "lead": None if kind == "erase" else "l1",
                    "kind": kind,
                    "channel": channel,
                    "payload": json.dumps(payload),
                    "at": AT,
                    "sent": AT if ts else None,
                    "ts": ts,
                    "due": None if ts else AT,
                },
            )
        connection.execute(
            text(
                "INSERT INTO digest (conversation, bucket, opened_at, channel, ts, version, shown,"
                " queued) VALUES ('U0MANAGER', :at, :at, 'D0MANAGER', '1763629207.000100', 1, 1,"
                " false)"
            ),
            {"at": AT},
        )
        for event_id in ("Ev0SLACK1", "scorecard:2026-11-16"):
            connection.execute(
                text("INSERT INTO slackevent (event_id, received_at) VALUES (:id, :at)"),
                {"id": event_id, "at": AT},
            )


def test_posted_messages_keep_where_they_are_across_the_upgrade_and_back(database_url):
    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0008")
    _old_rows(engine)
    migrate(engine)

    with session_factory(engine)() as session:
        lead = session.get(Lead, "l1")
        rows = session.exec(select(Outbox).order_by(Outbox.id)).all()
        (digest,) = session.exec(select(Digest)).all()
        events = session.exec(select(InboundEvent).order_by(InboundEvent.event_id)).all()
    assert (lead.card_platform, lead.card_conversation, lead.card_message_id) == (
        "slack",
        "C0SALES",
        CARD_TS,
    )
    assert [(r.recipient, r.platform, r.conversation, r.message_id) for r in rows] == [
        (None, "slack", "C0SALES", CARD_TS),
        ("C0SALES", "slack", "C0SALES", "1763629202.000100"),
        (None, "slack", "C0SALES", "1763629203.000100"),
        ("D0SELLER1", "slack", "D0SELLER1", "1763629204.000100"),
        ("U0SELLER1", "slack", None, "1763629205.000100"),  # where it landed is not known
        ("U0CEO", None, None, None),
        ("C0MKTG", None, None, None),
    ]
    assert rows[-1].payload == {"message_id": "1763629206.000100"}
    assert (digest.recipient, digest.platform, digest.conversation, digest.message_id) == (
        "U0MANAGER",
        "slack",
        "D0MANAGER",
        "1763629207.000100",
    )
    assert [(e.platform, e.event_id) for e in events] == [
        ("slack", "Ev0SLACK1"),
        ("baton", "scorecard:2026-11-16"),
    ]

    command.downgrade(_alembic_config(engine), "0008")
    with engine.connect() as connection:
        card = connection.execute(text("SELECT card_channel, card_ts FROM lead")).one()
        back = connection.execute(
            text("SELECT kind, channel, ts, payload FROM outbox ORDER BY id")
        ).all()
        old_digest = connection.execute(text("SELECT conversation, channel, ts FROM digest")).one()
        old_events = connection.execute(text("SELECT event_id FROM slackevent")).scalars().all()
    engine.dispose()
    assert tuple(card) == ("C0SALES", CARD_TS)
    assert [
        (kind, channel, ts, json.loads(payload) if isinstance(payload, str) else payload)
        for kind, channel, ts, payload in back
    ] == OUTBOX
    assert tuple(old_digest) == ("U0MANAGER", "D0MANAGER", "1763629207.000100")
    assert sorted(old_events) == ["Ev0SLACK1", "scorecard:2026-11-16"]


def test_the_migrated_schema_is_the_tables_as_the_code_declares_them(database_url):
    """The renames are written by hand: what the migrations build is what `storage.models`
    declares, column for column and index for index."""
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []
