"""Daily health snapshots: the whole report of each shop at each local midnight.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from aftersale.adapters.schema import ID, Json, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("shop_id", sa.String(ID), primary_key=True),
        sa.Column("taken_at", UTCDateTime(), primary_key=True),
        sa.Column("score", sa.Float),
        sa.Column("tier", sa.String(16)),
        sa.Column("alert_open", sa.Boolean, nullable=False),
        sa.Column("report", Json, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
