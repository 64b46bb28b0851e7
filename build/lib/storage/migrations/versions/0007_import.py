"""lead: an index on lower(email), for an import's check for leads already open

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_lead_email_lower", "lead", [sa.text("lower(email)")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_lead_email_lower", table_name="lead")
