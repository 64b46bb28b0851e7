"""open feedback clocks: an index of the feedback clocks still running

The scorecard counts the leads waiting for feedback whose feedback clock has passed.
PostgreSQL found their clocks by reading every clock (a tenth of a second at a million
leads); a partial index of the feedback clocks not yet resolved, with the lead and whether
the clock was breached, holds just those. SQLite's planner keeps looking up each waiting
lead's clocks in `ix_deadline_lead_id`; it gets the index too, so that both schemas are the
one `storage.models` declares. An index only: no data changes. On a large PostgreSQL
database run `VACUUM (ANALYZE) deadline` after upgrading, so that the index is read without
visiting the rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_FEEDBACK = "kind = 'feedback' AND resolved_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_deadline_feedback_open",
        "deadline",
        ["lead_id", "breached_at"],
        sqlite_where=sa.text(OPEN_FEEDBACK),
        postgresql_where=sa.text(OPEN_FEEDBACK),
    )


def downgrade() -> None:
    op.drop_index("ix_deadline_feedback_open", table_name="deadline")
