"""inventory: shared tables, stock items and the stock ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime
from ecom_common.migrations import create_common_tables, drop_common_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables(op)
    op.create_table(
        "stock_items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sku_code", sa.String(64), nullable=False, index=True),
        sa.Column("warehouse_code", sa.String(32), nullable=False),
        sa.Column("shop_id", sa.String(64), nullable=False, index=True),
        sa.Column("on_hand", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("low_stock_threshold", sa.Integer, nullable=False, server_default="10"),
        sa.Column("sellable", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("shop_id", "sku_code", "warehouse_code", name="uq_stock_shop_sku_warehouse"),
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_on_hand_nonneg"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved_nonneg"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_le_on_hand"),
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False, index=True),
        sa.Column("warehouse_code", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("on_hand_delta", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved_delta", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(120), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stock_movements")
    op.drop_table("stock_items")
    drop_common_tables(op)
