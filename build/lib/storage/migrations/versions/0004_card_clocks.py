"""clocks start at the card: lead.card_at, outbox.priority

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("card_at", storage.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_index("ix_lead_received_at_report")
        batch_op.create_index(
            "ix_lead_received_at_report",
            ["received_at", "qualified", "stage", "claimed_at", "card_at"],
            unique=False,
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    # A card already posted was first in the channel when its first delivery was recorded:
    # the earliest card row that carries the card's ts (its updates carry the same ts).
    op.execute(
        """
        UPDATE lead SET card_at = (
            SELECT min(outbox.sent_at) FROM outbox
            WHERE outbox.lead_id = lead.id AND outbox.kind = 'card' AND outbox.ts = lead.card_ts
        )
        WHERE card_ts IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("priority")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_received_at_report")
        batch_op.create_index(
            "ix_lead_received_at_report",
            ["received_at", "qualified", "stage", "claimed_at"],
            unique=False,
        )
        batch_op.drop_column("card_at")
