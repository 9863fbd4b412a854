"""Health rollups: per-subject records, counted items and hourly sums, kept with the events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from aftersale.adapters.schema import ID, MEASURE, SUBJECT, Json, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_shop_at", "events", ["shop_id", "at"])
    op.create_table(
        "health_subjects",
        sa.Column("subject_id", sa.String(SUBJECT), primary_key=True),
        sa.Column("shop_id", sa.String(ID), nullable=False),
        sa.Column("record", Json, nullable=False),
    )
    op.create_table(
        "health_items",
        sa.Column("shop_id", sa.String(ID), primary_key=True),
        sa.Column("measure", sa.String(MEASURE), primary_key=True),
        sa.Column("item_id", sa.String(SUBJECT), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("hit", sa.Boolean, nullable=False),
        sa.Column("pending", sa.Boolean, nullable=False),
        sa.Column("example", sa.String(SUBJECT), nullable=False),
    )
    op.create_index("ix_health_items_window", "health_items", ["shop_id", "measure", "at"])
    op.create_index(
        "ix_health_items_hits",
        "health_items",
        ["shop_id", "measure", "at", "example"],
        sqlite_where=sa.text("hit = 1"),
        postgresql_where=sa.text("hit"),
    )
    op.create_table(
        "health_hours",
        sa.Column("shop_id", sa.String(ID), primary_key=True),
        sa.Column("measure", sa.String(MEASURE), primary_key=True),
        sa.Column("hour", UTCDateTime(), primary_key=True),
        sa.Column("counted", sa.Integer, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_table(
        "health_rollups",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("health_version", sa.String(64), nullable=False),
        sa.Column("built_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("health_rollups", "health_hours", "health_items", "health_subjects"):
        op.drop_table(table)
    op.drop_index("ix_events_shop_at", "events")
