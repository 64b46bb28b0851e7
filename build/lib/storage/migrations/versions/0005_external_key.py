"""lead: a fixed-size key for external_id, so that an id of any valid length can be unique

The unique index held `external_id` itself, up to 1,000 characters of up to 4 bytes each: more
than a btree entry may hold on PostgreSQL (2,704 bytes), so a long non-Latin id could not be
stored at all. The index now holds `external_key`, the SHA-256 (hex) of `external_id`, filled
here for every lead that has one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00.000000
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sha256(value: str | None) -> str | None:
    """`storage.models.external_key` as it is today, frozen here with the migration."""
    return hashlib.sha256(value.encode()).hexdigest() if value else None


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("external_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        digest = "encode(sha256(convert_to(external_id, 'UTF8')), 'hex')"
    else:  # SQLite has no SHA-256 of its own: lend it Python's for this statement
        bind.connection.driver_connection.create_function(
            "baton_sha256", 1, _sha256, deterministic=True
        )
        digest = "baton_sha256(external_id)"
    op.execute(f"UPDATE lead SET external_key = {digest} WHERE external_id IS NOT NULL")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("uq_lead_external_id")
        batch_op.create_index("uq_lead_external_key", ["external_key"], unique=True)


def downgrade() -> None:
    """Fails on PostgreSQL if a stored `external_id` is too long for the old index."""
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("uq_lead_external_key")
        batch_op.create_index("uq_lead_external_id", ["external_id"], unique=True)
        batch_op.drop_column("external_key")
