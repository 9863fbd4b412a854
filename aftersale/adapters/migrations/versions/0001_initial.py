"""The first schema: orders, cases (with their deadline), events, pinned policies, messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from aftersale.adapters.schema import ID, Json, Seq, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(ID), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "orders",
        _id("order_id", primary_key=True),
        _id("shop_id", nullable=False, index=True),
        _id("buyer_id", nullable=False),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("dispatch_by", UTCDateTime()),
        sa.Column("shipped_at", UTCDateTime()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("cancelled_at", UTCDateTime()),
        _id("tracking"),
        sa.Column("refunded_total", sa.String(40), nullable=False),
        _id("open_case_id"),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "cases",
        _id("case_id", primary_key=True),
        _id("order_id", nullable=False, index=True),
        _id("shop_id", nullable=False),
        _id("buyer_id", nullable=False),
        sa.Column("market", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("responsibility", sa.String(16), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opened_by", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("request", Json, nullable=False),
        sa.Column("deadline_at", UTCDateTime()),
        sa.Column("deadline_action", sa.String(32)),
        sa.Column("rejected_by_seller", sa.Boolean, nullable=False),
        sa.Column("return_shipped", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("quarantined_at", UTCDateTime()),
        sa.Column("quarantine_error", sa.Text),
        sa.Column("reminded_for", UTCDateTime()),
    )
    op.create_index("ix_cases_shop_state", "cases", ["shop_id", "state"])
    op.create_index("ix_cases_deadline", "cases", ["deadline_at", "case_id"])
    op.create_table(
        "events",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        _id("case_id", index=True),
        _id("order_id", index=True),
        _id("shop_id", index=True),
        sa.Column("data", Json, nullable=False),
    )
    op.create_table(
        "policies",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("document", Json, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "messages",
        _id("message_id", primary_key=True),
        _id("shop_id", nullable=False, index=True),
        _id("order_id"),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("replied_at", UTCDateTime()),
    )


def downgrade() -> None:
    for table in ("messages", "policies", "events", "cases", "orders"):
        op.drop_table(table)
