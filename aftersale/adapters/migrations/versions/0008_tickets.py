"""Violation tickets, their punishments, and the shops they are against (governance.md).

Three new tables; nothing existing changes. A shop's row is written with its first ticket
(its market and opening instant from its first order); the governance settings a ticket is
pinned to are stored in ``policies`` under their own version (``governance-…``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
ID = 128
Instant = sa.DateTime(timezone=True)


def _quarantine() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("quarantined_at", Instant), sa.Column("quarantine_error", sa.Text)]


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("shop_id", sa.String(ID), primary_key=True),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("opened_at", Instant, nullable=False),
        sa.Column("points_changed_at", Instant),
        sa.Column("points_changes", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.String(ID), primary_key=True),
        sa.Column("shop_id", sa.String(ID), nullable=False),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("order_id", sa.String(ID)),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("metric", Json),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("appeals", sa.Integer, nullable=False),
        sa.Column("issued_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("deadline_at", Instant),
        sa.Column("deadline_action", sa.String(32)),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("request", Json, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        *_quarantine(),
    )
    op.create_index("ix_tickets_shop_issued", "tickets", ["shop_id", "issued_at"])
    op.create_index("ix_tickets_deadline", "tickets", ["deadline_at", "ticket_id"])
    op.create_table(
        "punishments",
        sa.Column("punishment_id", sa.String(2 * ID + 1), primary_key=True),
        sa.Column("shop_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("ends_at", Instant, nullable=False),
        sa.Column("ended_at", Instant),
        sa.Column("ended_early", sa.Boolean, nullable=False),
        sa.Column("cause_ticket_id", sa.String(ID), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        *_quarantine(),
    )
    op.create_index("ix_punishments_shop", "punishments", ["shop_id", "started_at"])
    op.create_index(
        "ix_punishments_due",
        "punishments",
        ["ends_at", "punishment_id"],
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("punishments")
    op.drop_table("tickets")
    op.drop_table("shops")
