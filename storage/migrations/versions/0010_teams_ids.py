"""Teams-sized ids; conversation references and the people a platform introduced

Slack's ids are short (`U0123ABCD`, `C0123ABCD`, `1712345678.000100`); Teams' are not: a
person is an Entra object id (a 36-character GUID), a channel `19:…@thread.tacv2`, a 1:1
`a:1…` of a hundred characters and more, an activity id up to 64. Every column that holds a
person widens to 64 and every conversation or message id to 255. The values stay as they are.

`conversationref` keeps, per conversation, the connector address Teams serves it from, the
tenant, the team (`aadGroupId`) and channel, and Graph's chat id for a 1:1; `chatperson`
keeps, per person, their 1:1 with the bot, their Teams account id, name and email, so
proactive messages can be opened and people named by email resolved.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 09:15:00.000000
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> [(column, length before, length after, nullable)]
WIDEN = {
    "lead": [
        ("owner", 32, 64, True),
        ("card_conversation", 32, 255, True),
        ("card_message_id", 32, 255, True),
    ],
    "person": [("user_id", 32, 64, False)],
    "breach": [("owner", 32, 64, True)],
    "outbox": [
        ("recipient", 32, 255, True),
        ("conversation", 32, 255, True),
        ("message_id", 32, 255, True),
    ],
    "digest": [
        ("recipient", 32, 255, False),
        ("conversation", 32, 255, True),
        ("message_id", 32, 255, True),
    ],
    "feedback": [("by", 32, 64, False)],
    "inboundevent": [("event_id", 64, 255, False)],
}


def _alter(*, narrow: bool) -> None:
    """SQLite rebuilds each table (rows copied, indexes kept); PostgreSQL changes the type in
    place. Narrowing back fails on a value that no longer fits rather than cutting it.

    A rebuilt table is dropped and its copy renamed in its place (the environment checks
    foreign keys after, not during, a migration on SQLite). SQLite cannot reflect the
    expression index on `lower(lead.email)`, so the rebuild leaves it out and it is made again.
    """
    for table, columns in WIDEN.items():
        with (
            warnings.catch_warnings(),  # the index it cannot reflect, made again below
            op.batch_alter_table(table, schema=None) as batch_op,
        ):
            warnings.filterwarnings("ignore", "Skipped unsupported reflection")
            for name, before, after, nullable in columns:
                batch_op.alter_column(
                    name,
                    existing_type=sa.String(length=after if narrow else before),
                    type_=sa.String(length=before if narrow else after),
                    existing_nullable=nullable,
                )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_lead_email_lower")
        op.create_index("ix_lead_email_lower", "lead", [sa.text("lower(email)")], unique=False)


def upgrade() -> None:
    _alter(narrow=False)
    op.create_table(
        "conversationref",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("service_url", sa.String(length=1000), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("channel_id", sa.String(length=255), nullable=True),
        sa.Column("chat_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "conversation_id"),
    )
    op.create_table(
        "chatperson",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("conversation_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=1000), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("service_url", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "user_id"),
    )
    op.create_index("ix_chatperson_email", "chatperson", ["platform", "email"])


def downgrade() -> None:
    op.drop_index("ix_chatperson_email", table_name="chatperson")
    op.drop_table("chatperson")
    op.drop_table("conversationref")
    _alter(narrow=True)
