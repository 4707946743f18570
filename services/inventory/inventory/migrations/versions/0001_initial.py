"""inventory: shared tables, stock items, the stock ledger, reservations and shortage policies.

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
        sa.Column("threshold_as_of", UtcDateTime, nullable=True),
        sa.Column("sellable", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("low_alerted", sa.Boolean, nullable=False, server_default=sa.false()),
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
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_movements_shop_sku", "stock_movements", ["shop_id", "sku_code", "id"])
    op.create_index("ix_movements_kind_time", "stock_movements", ["shop_id", "kind", "created_at"])
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(16), nullable=True),
        sa.Column("paid_at", UtcDateTime, nullable=True),
        sa.Column("short", sa.JSON, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_reservations_queue", "reservations", ["shop_id", "status", "paid_at"])
    op.create_table(
        "reservation_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("reservations.order_id"), nullable=False, index=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("warehouse_code", sa.String(32), nullable=True),
    )
    op.create_index("ix_reservation_lines_sku", "reservation_lines", ["shop_id", "sku_code"])
    op.create_table(
        "reservation_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
    )
    op.create_table(
        "stock_policies",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("shortage_policy", sa.String(16), nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "stock_policy_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("shop_id", sa.String(64), nullable=False, index=True),
        sa.Column("old_policy", sa.String(16), nullable=True),
        sa.Column("new_policy", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(120), nullable=False),
        sa.Column("changed_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("stock_policy_changes", "stock_policies", "reservation_log", "reservation_lines", "reservations"):
        op.drop_table(table)
    op.drop_table("stock_movements")
    op.drop_table("stock_items")
    drop_common_tables(op)
