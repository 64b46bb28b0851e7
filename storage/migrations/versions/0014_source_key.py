"""source key: a lead's source as a number in the report index

The scorecard's figures by source were the one part of it that read every lead's row of the
period: a source may be 1,000 characters, more than a PostgreSQL index entry holds. Each lead
now carries `source_key` (`storage.models.source_key`: 8 bytes of the source's BLAKE2b
digest), set on insert, and the report index ends with it, so the funnel and the feedback by
source are counted from the index and a source's text is read once per source.

Stored leads get theirs here: each distinct source is hashed once in Python (SQLite has no
such hash) and the keys are written in one `UPDATE … FROM` over the leads with a source.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 12:30:00.000000
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_BEFORE = [
    "received_at", "qualified", "stage", "claimed_at", "card_at", "contacted_at", "owner", "id"
]  # fmt: skip
REPORT = [*REPORT_BEFORE, "source_key"]

_KEYS = sa.table(
    "lead_source_key", sa.column("source", sa.String), sa.column("source_key", sa.BigInteger)
)


def source_key(source: str) -> int:
    """As `storage.models.source_key` computes it for every lead inserted from now on."""
    digest = hashlib.blake2b(source.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def upgrade() -> None:
    op.add_column("lead", sa.Column("source_key", sa.BigInteger(), nullable=True))
    connection = op.get_bind()
    sources = connection.execute(
        sa.text("SELECT DISTINCT source FROM lead WHERE source IS NOT NULL")
    ).scalars()
    keys = [{"source": source, "source_key": source_key(source)} for source in sources]
    if keys:
        # Without an index: a source of 1,000 characters does not fit in one on PostgreSQL,
        # and the join hashes the few sources instead.
        connection.execute(
            sa.text("CREATE TEMPORARY TABLE lead_source_key (source TEXT, source_key BIGINT)")
        )
        connection.execute(sa.insert(_KEYS), keys)
        connection.execute(
            sa.text(
                "UPDATE lead SET source_key = lead_source_key.source_key FROM lead_source_key "
                "WHERE lead.source = lead_source_key.source"
            )
        )
        connection.execute(sa.text("DROP TABLE lead_source_key"))
    op.drop_index("ix_lead_received_at_report", table_name="lead")
    op.create_index("ix_lead_received_at_report", "lead", REPORT)


def downgrade() -> None:
    op.drop_index("ix_lead_received_at_report", table_name="lead")
    op.create_index("ix_lead_received_at_report", "lead", REPORT_BEFORE)
    # In place on both backends (SQLite 3.35 and later), as 0012 drops its columns.
    op.execute("ALTER TABLE lead DROP COLUMN source_key")
