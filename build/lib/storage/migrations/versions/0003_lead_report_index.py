"""lead: covering index for the scorecard's window

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 20:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_received_at_report",
            ["received_at", "qualified", "stage", "claimed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_received_at_report")
