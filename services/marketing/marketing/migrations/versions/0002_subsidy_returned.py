"""marketing: what a paid order's refunds gave back of the campaign subsidy its quote reserved.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_quotes", sa.Column("refunded_fen", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("order_quotes", sa.Column("subsidy_returned", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_quotes") as batch:
        batch.drop_column("subsidy_returned")
        batch.drop_column("refunded_fen")
