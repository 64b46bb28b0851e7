"""seller status: availability and the rotation of Baton's routing

One row per seller who has been away, out of rotation or chosen by Baton: when the absence
began and ends, whether and why the seller is out of the rotation, and their place in it
(`turns`, `load_offset`, `counts_from`). A new table: no existing rows change. And an index
on the leads' stage and owner, so counting each seller's open leads (every decision) reads
the index alone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column:
    return sa.Column(name, storage.types.UtcDateTime(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "sellerstatus",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        _when("away_since"),
        _when("away_until"),
        _when("out_of_rotation_since"),
        sa.Column("out_of_rotation_reason", sa.String(length=1000), nullable=True),
        _when("counts_from"),
        sa.Column("turns", sa.Float(), nullable=True),
        sa.Column("load_offset", sa.Float(), nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index("ix_lead_stage_owner", "lead", ["stage", "owner"])


def downgrade() -> None:
    op.drop_index("ix_lead_stage_owner", table_name="lead")
    op.drop_table("sellerstatus")
