"""the scorecard's window read from indexes alone: leads, their clocks, those awaiting feedback

The report index gains what the two-sided scorecard reads of each lead of a period (first
contact, owner and id, to reach its clocks and feedback), so a window of a million leads is
counted and measured without visiting its rows; a lead's clocks are found with their kind and
state (`lead_id`, `kind`, `resolved_at`, `breached_at`); the stage index carries the lead's
id, so the leads waiting for feedback reach their clocks the same way. Indexes only: no data
changes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 09:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_BEFORE = ["received_at", "qualified", "stage", "claimed_at", "card_at"]
REPORT = [*REPORT_BEFORE, "contacted_at", "owner", "id"]
CLOCKS = ["lead_id", "kind", "resolved_at", "breached_at"]


def upgrade() -> None:
    op.drop_index("ix_lead_received_at_report", table_name="lead")
    op.create_index("ix_lead_received_at_report", "lead", REPORT)
    op.drop_index("ix_lead_stage", table_name="lead")
    op.create_index("ix_lead_stage", "lead", ["stage", "id"])
    op.drop_index("ix_deadline_lead_id", table_name="deadline")
    op.create_index("ix_deadline_lead_id", "deadline", CLOCKS, postgresql_include=["id"])


def downgrade() -> None:
    op.drop_index("ix_deadline_lead_id", table_name="deadline")
    op.create_index("ix_deadline_lead_id", "deadline", ["lead_id"])
    op.drop_index("ix_lead_stage", table_name="lead")
    op.create_index("ix_lead_stage", "lead", ["stage"])
    op.drop_index("ix_lead_received_at_report", table_name="lead")
    op.create_index("ix_lead_received_at_report", "lead", REPORT_BEFORE)
