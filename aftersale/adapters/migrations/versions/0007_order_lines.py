"""Order lines, the refund ledger and partial-refund offers (lines.md).

Orders gain ``lines``, ``shipping_fee`` and ``shipping_refunded``; cases gain their ``lines``,
``offers``, ``refund`` and what the ledger needs to settle them. Rows written before this
revision are read as lines.md reads an order without lines: one line ``"1"`` of the whole
amount, no shipping fee, what was refunded on it, and its one unit returned when the order was
cancelled or a return was refunded after the item was sent back; each case covers that line,
and a case that ended refunded or cancelled gets the refund it paid (its amount, as items).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Json = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
MONEY_BACK = ("refunded", "cancelled")
PLATFORM_PAYS = ("logistics", "platform")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("shipping_fee", sa.String(40), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("shipping_refunded", sa.String(40), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("lines", Json, nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("lines", Json, nullable=True))
        batch.add_column(sa.Column("offers", Json, nullable=True))
        batch.add_column(sa.Column("refund", Json, nullable=True))
        for flag in ("covers_rest", "item_returned"):
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch.add_column(sa.Column("return_shipping_cost", sa.String(40), nullable=True))
        batch.add_column(sa.Column("offer_from", sa.String(32), nullable=True))
        batch.add_column(sa.Column("clock_left", sa.String(40), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("lines", existing_type=Json, nullable=False)
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("lines", existing_type=Json, nullable=False)
        batch.alter_column("offers", existing_type=Json, nullable=False)


def _fill(connection: sa.Connection) -> None:
    orders = sa.table(
        "orders",
        sa.column("order_id", sa.String),
        sa.column("amount", sa.String),
        sa.column("refunded_total", sa.String),
        sa.column("open_case_id", sa.String),
        sa.column("cancelled_at", sa.String),
        sa.column("lines", Json),
    )
    cases = sa.table(
        "cases",
        sa.column("case_id", sa.String),
        sa.column("order_id", sa.String),
        sa.column("kind", sa.String),
        sa.column("state", sa.String),
        sa.column("amount", sa.String),
        sa.column("responsibility", sa.String),
        sa.column("return_shipped", sa.Boolean),
        sa.column("lines", Json),
        sa.column("offers", Json),
        sa.column("refund", Json),
        sa.column("item_returned", sa.Boolean),
    )
    returned: set[str] = set()
    for row in connection.execute(
        sa.select(cases.c.case_id, cases.c.order_id, cases.c.kind, cases.c.state).add_columns(
            cases.c.amount, cases.c.responsibility, cases.c.return_shipped
        )
    ).all():
        received = bool(row.return_shipped) and row.state not in ("return_in_transit", "withdrawn")
        if row.kind == "return_refund" and row.state == "refunded" and received:
            returned.add(row.order_id)
        values: dict[str, Any] = {
            "lines": [{"line_id": "1", "quantity": 1}],
            "offers": [],
            "item_returned": received,
        }
        if row.state in MONEY_BACK:
            zero = _to_the_cent("0", row.amount)
            values["refund"] = {
                "items": row.amount,
                "shipping": zero,
                "return_shipping": zero,
                "total": row.amount,
                "paid_by": "platform" if row.responsibility in PLATFORM_PAYS else "seller",
            }
        connection.execute(cases.update().where(cases.c.case_id == row.case_id).values(values))
    for row in connection.execute(
        sa.select(
            orders.c.order_id,
            orders.c.amount,
            orders.c.refunded_total,
            orders.c.open_case_id,
            orders.c.cancelled_at,
        )
    ).all():
        line = {
            "line_id": "1",
            "sku": None,
            "quantity": 1,
            "unit_price": row.amount,
            "refunded_amount": _to_the_cent(row.refunded_total, row.amount),
            "returned_quantity": int(row.cancelled_at is not None or row.order_id in returned),
            "open_case_id": row.open_case_id,
        }
        connection.execute(
            orders.update().where(orders.c.order_id == row.order_id).values(lines=[line])
        )


def _to_the_cent(amount: str, like: str) -> str:
    """``amount`` with as many decimals as ``like`` (the order's amount): the release before
    lines wrote a fresh order's refunded_total as "0", and lines write every amount to the
    currency's unit ("0.00", "0", "0.000")."""
    return str(Decimal(amount).quantize(Decimal(like)))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name in (
            "clock_left",
            "offer_from",
            "return_shipping_cost",
            "item_returned",
            "covers_rest",
            "refund",
            "offers",
            "lines",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("orders") as batch:
        for name in ("lines", "shipping_refunded", "shipping_fee"):
            batch.drop_column(name)
