"""Health rollups pruning: the instant from which the rollups still hold every item, and an
index of the old hours; an index of the (few) quarantined cases.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from aftersale.adapters.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_rollups") as batch:
        batch.add_column(sa.Column("kept_from", UTCDateTime(), nullable=True))
    op.create_index("ix_health_hours_hour", "health_hours", ["hour"])
    op.create_index(
        "ix_cases_quarantined",
        "cases",
        ["quarantined_at"],
        sqlite_where=sa.text("quarantined_at IS NOT NULL"),
        postgresql_where=sa.text("quarantined_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_quarantined", "cases")
    op.drop_index("ix_health_hours_hour", "health_hours")
    with op.batch_alter_table("health_rollups") as batch:
        batch.drop_column("kept_from")
