"""logistics: the gifts marketing granted paid orders, shown on their shipment's pick list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_gifts",
        sa.Column("order_id", sa.String(40), primary_key=True),
        sa.Column("promotion_id", sa.String(40), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_gifts")
