"""The outbox: each event records the id of the transaction that wrote it (PostgreSQL), so a
relay's cursor never passes an event that commits later (aftersale.adapters.outbox).

Events written before this revision get transaction id 0: they were all committed when the
schema was upgraded (``aftersale db upgrade`` runs with the writers stopped), and 0 sorts them
before every later event, in their seq order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("tx_id", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE events SET tx_id = 0")
    op.create_index(
        "ix_events_outbox",
        "events",
        ["tx_id", "seq"],
        sqlite_where=sa.text("tx_id IS NOT NULL"),
        postgresql_where=sa.text("tx_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_outbox", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("tx_id")
