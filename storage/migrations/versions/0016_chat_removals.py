"""chat removals: a channel the app was removed from is kept as removed; people's version

`conversationref.removed_at`: when the app was removed from a channel's team (or a group
chat). The row was deleted before, and the channel, unknown, was written to once more at the
default service URL; now it is known as gone, nothing is posted there, and `baton check`
says so. Rows already deleted stay so: their channels are unknown, as before.

`chatroster`: one row per platform, its `version` counted up by every change to the people
the platform introduced, which each replica compares with its own to read them again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversationref",
        sa.Column("removed_at", storage.types.UtcDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "chatroster",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("platform"),
    )


def downgrade() -> None:
    op.drop_table("chatroster")
    op.execute("DELETE FROM conversationref WHERE removed_at IS NOT NULL")
    with op.batch_alter_table("conversationref") as batch:
        batch.drop_column("removed_at")
