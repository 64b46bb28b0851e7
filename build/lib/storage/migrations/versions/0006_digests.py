"""digests: one message naming several overdue leads or reminders for one person

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 02:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("bucket", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Boolean(), nullable=False),
        sa.Column("updated_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation", "bucket", name="uq_digest_bucket"),
    )
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_opened_at"), ["opened_at"], unique=False)

    op.create_table(
        "digestitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("clock", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("due_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("planned_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("added_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("shown_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadline.id"]),
        sa.ForeignKeyConstraint(["digest_id"], ["digest.id"]),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deadline_id", "kind", "step", "due_at", name="uq_digestitem_notice"),
    )
    with op.batch_alter_table("digestitem", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digestitem_digest_id"), ["digest_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_digestitem_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("digestitem", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digestitem_lead_id"))
        batch_op.drop_index(batch_op.f("ix_digestitem_digest_id"))
    op.drop_table("digestitem")
    with op.batch_alter_table("digest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_opened_at"))
    op.drop_table("digest")
