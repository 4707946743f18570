"""orders: what marketing's quote took off each line, and from whom.

One row per (line, source) in `order_discounts` (promotion, coupon, points, with the rule or claim
it came from and who funds it: shop | platform); each line keeps its share of the order-level
discounts (`discount_fen`) and what it paid (`paid_fen`), which every refund of the line reads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("discount_fen", sa.Integer, nullable=False, server_default="0"))
    op.add_column("order_lines", sa.Column("paid_fen", sa.Integer, nullable=True))
    # Lines placed before marketing priced orders paid their unit price times their quantity.
    op.execute("UPDATE order_lines SET paid_fen = unit_price_fen * quantity")
    with op.batch_alter_table("order_lines") as batch:
        batch.alter_column("paid_fen", existing_type=sa.Integer, nullable=False)
    op.add_column("orders", sa.Column("points_used", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "order_discounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("amount_fen", sa.Integer, nullable=False),
        sa.Column("funded_by", sa.String(16), nullable=False),
        sa.UniqueConstraint("order_id", "line_no", "source", name="uq_order_discount_line_source"),
        sa.CheckConstraint("amount_fen > 0", name="ck_order_discount_positive"),
        sa.CheckConstraint("funded_by IN ('shop', 'platform')", name="ck_order_discount_funder"),
    )


def downgrade() -> None:
    op.drop_table("order_discounts")
    op.drop_column("orders", "points_used")
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("paid_fen")
        batch.drop_column("discount_fen")
