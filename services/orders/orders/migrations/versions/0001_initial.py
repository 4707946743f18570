"""orders: shared tables, orders with their lines and timeline, per-shop audit rules.

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
        "orders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("presale", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("priority", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("address", sa.JSON, nullable=False),
        sa.Column("address_masked", sa.JSON, nullable=False),
        sa.Column("receiver_phone", sa.String(40), nullable=False),
        sa.Column("goods_fen", sa.Integer, nullable=False),
        sa.Column("discount_fen", sa.Integer, nullable=False),
        sa.Column("shipping_fen", sa.Integer, nullable=False),
        sa.Column("payable_fen", sa.Integer, nullable=False),
        sa.Column("shipping_breakdown", sa.JSON, nullable=True),
        sa.Column("held_reasons", sa.String(300), nullable=False, server_default=""),
        sa.Column("held_at", UtcDateTime, nullable=True),
        sa.Column("promised_ship_by", UtcDateTime, nullable=True),
        sa.Column("promise", sa.String(100), nullable=True),
        sa.Column("payment_id", sa.String(64), nullable=True),
        sa.Column("paid_at", UtcDateTime, nullable=True),
        sa.Column("shipment_id", sa.String(64), nullable=True),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_no", sa.String(64), nullable=True),
        sa.Column("shipped_at", UtcDateTime, nullable=True),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.Column("completed_at", UtcDateTime, nullable=True),
        sa.Column("cancelled_at", UtcDateTime, nullable=True),
        sa.Column("cancel_reason", sa.String(300), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("payable_fen >= 0", name="ck_orders_payable_nonneg"),
    )
    op.create_index("ix_orders_shop_status", "orders", ["shop_id", "status"])
    op.create_index("ix_orders_created", "orders", ["created_at", "id"])
    op.create_index("ix_orders_shop_phone_created", "orders", ["shop_id", "receiver_phone", "created_at"])
    op.create_table(
        "order_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False, server_default=""),
        sa.Column("category_id", sa.String(64), nullable=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("list_price_fen", sa.Integer, nullable=False),
        sa.Column("unit_price_fen", sa.Integer, nullable=False),
        sa.Column("weight_g", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("order_id", "line_no", name="uq_order_lines_no"),
    )
    op.create_table(
        "order_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
    )
    op.create_table(
        "audit_rules",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_rules")
    op.drop_table("order_timeline")
    op.drop_table("order_lines")
    op.drop_table("orders")
    drop_common_tables(op)
