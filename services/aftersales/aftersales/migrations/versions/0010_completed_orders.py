"""aftersales: the orders it has seen completed (orders.OrderCompleted), so that a refund-only of a new
customer (no earlier completed order in the shop) may be approved automatically.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "completed_orders",
        sa.Column("order_id", sa.String(40), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False),
        sa.Column("completed_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_completed_orders_shop_buyer", "completed_orders", ["shop_id", "buyer_id"])


def downgrade() -> None:
    op.drop_index("ix_completed_orders_shop_buyer", table_name="completed_orders")
    op.drop_table("completed_orders")
