"""billing: the platform-funded discounts of each order line, paid to the shop at settlement.

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
    op.add_column(
        "billing_order_lines", sa.Column("platform_fen", sa.BigInteger, nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("billing_order_lines") as batch:
        batch.drop_column("platform_fen")
