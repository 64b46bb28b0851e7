"""consequences: a lead's pause, a clock's reassignment, and the consequence ledger

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New columns, empty for every lead already stored (none was ever paused). Added in place
    # on both backends: SQLite adds a nullable column without copying the table.
    for column in (
        sa.Column("paused_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("paused_until", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.String(length=64), nullable=True),
        sa.Column("pause_reason", sa.String(length=64), nullable=True),
        sa.Column("pause_note", sa.String(length=1000), nullable=True),
    ):
        op.add_column("lead", column)
    # The scorecard's pauses by reason read the few paused leads, not every lead.
    op.create_index(
        "ix_lead_paused",
        "lead",
        ["paused_at", "pause_reason"],
        sqlite_where=sa.text("paused_at IS NOT NULL"),
        postgresql_where=sa.text("paused_at IS NOT NULL"),
    )
    op.add_column(
        "deadline",
        sa.Column("reassigned_at", storage.types.UtcDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "consequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lead_id", sa.String(length=32), nullable=True),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_consequence_key", "consequence", ["key"], unique=True)
    op.create_index("ix_consequence_kind", "consequence", ["kind"], unique=False)
    op.create_index("ix_consequence_at", "consequence", ["at"], unique=False)
    op.create_index("ix_consequence_lead_id", "consequence", ["lead_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_consequence_lead_id", table_name="consequence")
    op.drop_index("ix_consequence_at", table_name="consequence")
    op.drop_index("ix_consequence_kind", table_name="consequence")
    op.drop_index("uq_consequence_key", table_name="consequence")
    op.drop_table("consequence")
    # In place on both backends (SQLite 3.35 and later): a copy of `lead` would have to drop
    # a table that others point to.
    op.execute("ALTER TABLE deadline DROP COLUMN reassigned_at")
    op.drop_index("ix_lead_paused", table_name="lead")
    for name in ("pause_note", "pause_reason", "paused_by", "paused_until", "paused_at"):
        op.execute(f"ALTER TABLE lead DROP COLUMN {name}")
