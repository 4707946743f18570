"""inventory: the SKUs an inventory.SafetyStockLow is out for (one alert per crossing).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safety_stock_alerts",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("sku_code", sa.String(64), primary_key=True),
        sa.Column("available", sa.Integer, nullable=False),
        sa.Column("alerted_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("safety_stock_alerts")
