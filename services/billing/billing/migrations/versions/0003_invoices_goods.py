"""billing: invoices (发票) and the goods flow billing learns from events, for 三流合一.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('requested', 'issued')"


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", sa.String(length=120), nullable=False),
        sa.Column("title_type", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("tax_number", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("invoice_no", sa.String(length=20), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("refused_reason", sa.String(length=300), nullable=True),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=True),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("invoice_id"),
        sa.UniqueConstraint("invoice_no"),
    )
    op.create_index(op.f("ix_invoices_order_id"), "invoices", ["order_id"], unique=False)
    op.create_index(op.f("ix_invoices_buyer_id"), "invoices", ["buyer_id"], unique=False)
    op.create_index("ix_invoices_shop_status", "invoices", ["shop_id", "status", "requested_at"], unique=False)
    op.create_index(
        "uq_invoices_one_active",
        "invoices",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_table(
        "goods_movements",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("ref_id", sa.String(length=60), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=True),
        sa.Column("sku_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("direction", "ref_id", "sku_code", name="uq_goods_ref_sku"),
    )
    op.create_index(op.f("ix_goods_movements_order_id"), "goods_movements", ["order_id"], unique=False)
    op.create_index(op.f("ix_goods_movements_at"), "goods_movements", ["at"], unique=False)
    op.create_table(
        "three_way_runs",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("mismatch_count", sa.Integer(), nullable=False),
        sa.Column("mismatches", sa.JSON(), nullable=False),
        sa.Column("ran_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("three_way_runs")
    op.drop_table("goods_movements")
    op.drop_table("invoices")
