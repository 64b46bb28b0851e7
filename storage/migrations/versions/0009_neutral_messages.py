"""messages referenced by (platform, conversation, message id); a neutral inbound-event table

A lead's card was `card_channel`/`card_ts`, an outbox row's `channel`/`ts`, a digest's
`channel`/`ts`: Slack's names. They become the platform, the conversation and the message id,
and every message already posted is on the platform "slack". An outbox row keeps whom it was
queued for as `recipient`, apart from where it landed, so a DM whose conversation was never
recorded (the person's id is all there is) is known as such without reading the id's shape.
A digest's person or channel becomes its `recipient` too. `slackevent` becomes
`inboundevent`, keyed by the platform and the event id (Baton's own once-only keys, the
weekly scorecard's, under "baton").

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 07:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both SQLite (3.25 and later) and PostgreSQL rename a column in place, indexes and
# constraints included, without copying the table.
RENAMES = {
    "lead": [("card_channel", "card_conversation"), ("card_ts", "card_message_id")],
    "outbox": [("channel", "recipient"), ("ts", "message_id")],
    "digest": [("conversation", "recipient"), ("channel", "conversation"), ("ts", "message_id")],
}


def _rename(table: str, old: str, new: str) -> None:
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")


def _string(name: str, length: int) -> sa.Column:
    return sa.Column(name, sa.String(length=length), nullable=True)


def _erase_payloads(old: str, new: str) -> None:
    """An erase row names the message it rewrites in its payload: `ts` became `message_id`."""
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, payload FROM outbox WHERE kind = 'erase'"))
    for row_id, payload in rows.all():
        data = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
        if old in data:
            data[new] = data.pop(old)
            connection.execute(
                sa.text("UPDATE outbox SET payload = :payload WHERE id = :id"),
                {"payload": json.dumps(data), "id": row_id},
            )


def upgrade() -> None:
    for table, renames in RENAMES.items():
        for old, new in renames:
            _rename(table, old, new)
    op.add_column("lead", _string("card_platform", 16))
    op.add_column("outbox", _string("platform", 16))
    op.add_column("outbox", _string("conversation", 32))
    op.add_column("digest", _string("platform", 16))
    op.execute("UPDATE lead SET card_platform = 'slack' WHERE card_message_id IS NOT NULL")
    op.execute("UPDATE digest SET platform = 'slack' WHERE message_id IS NOT NULL")
    # Where a sent message landed: its row's address, once the DM's conversation replaced the
    # person's id; a card's or a reply's is the lead's card conversation. Slack's person ids
    # begin with U or W: such a DM's conversation was never recorded.
    op.execute(
        """
        UPDATE outbox SET platform = 'slack', conversation = CASE
            WHEN recipient IS NULL THEN
                (SELECT lead.card_conversation FROM lead WHERE lead.id = outbox.lead_id)
            WHEN recipient LIKE 'U%' OR recipient LIKE 'W%' THEN NULL
            ELSE recipient END
        WHERE message_id IS NOT NULL
        """
    )
    _erase_payloads("ts", "message_id")
    op.create_table(
        "inboundevent",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_id"),
    )
    op.create_index("ix_inboundevent_received_at", "inboundevent", ["received_at"])
    # The weekly scorecard's key, sent once across replicas, is Baton's own, not Slack's.
    op.execute(
        "INSERT INTO inboundevent (platform, event_id, received_at)"
        " SELECT CASE WHEN event_id LIKE 'scorecard:%' THEN 'baton' ELSE 'slack' END,"
        " event_id, received_at FROM slackevent"
    )
    op.drop_index("ix_slackevent_received_at", table_name="slackevent")
    op.drop_table("slackevent")


def downgrade() -> None:
    op.create_table(
        "slackevent",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_slackevent_received_at", "slackevent", ["received_at"])
    op.execute(
        "INSERT INTO slackevent (event_id, received_at)"
        " SELECT event_id, received_at FROM inboundevent WHERE platform IN ('slack', 'baton')"
    )
    op.drop_index("ix_inboundevent_received_at", table_name="inboundevent")
    op.drop_table("inboundevent")
    _erase_payloads("message_id", "ts")
    # Slack kept a sent row's landing conversation in its address, where one was recorded.
    op.execute(
        "UPDATE outbox SET recipient = conversation"
        " WHERE conversation IS NOT NULL AND recipient IS NOT NULL"
    )
    op.drop_column("digest", "platform")
    op.drop_column("outbox", "conversation")
    op.drop_column("outbox", "platform")
    op.drop_column("lead", "card_platform")
    for table, renames in reversed(RENAMES.items()):
        for old, new in reversed(renames):
            _rename(table, new, old)
