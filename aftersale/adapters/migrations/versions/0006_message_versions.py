"""Messages become aggregates like orders and cases: a ``version`` column, so that every write
of one is a compare-and-set on it in the unit of work's commit (aftersale.adapters.unit_of_work).

Messages written before this revision start at version 1.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("version")
