"""analytics: shared tables, facts (orders, lines, refunds, shipments, cases), visits, rollups
(shop x day, SKU x day, buyers and visitors per shop-day).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime
from ecom_common.migrations import create_common_tables, drop_common_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables(op)
    op.create_table('buyer_day',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('orders', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'day', 'buyer_id')
    )
    op.create_index('ix_buyer_day_shop_buyer', 'buyer_day', ['shop_id', 'buyer_id'], unique=False)
    op.create_table('case_facts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('case_type', sa.String(length=16), nullable=True),
    sa.Column('tier', sa.String(length=16), nullable=True),
    sa.Column('opened_at', UtcDateTime, nullable=False),
    sa.Column('opened_day', sa.Date(), nullable=False),
    sa.Column('refund_approved_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('escalations', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('closed_at', UtcDateTime, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('line_facts',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('sku_code', sa.String(length=64), nullable=False),
    sa.Column('category_id', sa.String(length=64), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_day', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('order_id', 'line_no')
    )
    op.create_index('ix_line_facts_shop_paid_day', 'line_facts', ['shop_id', 'paid_day'], unique=False)
    op.create_table('order_facts',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('goods_fen', sa.BigInteger(), nullable=False),
    sa.Column('discount_fen', sa.BigInteger(), nullable=False),
    sa.Column('shipping_fen', sa.BigInteger(), nullable=False),
    sa.Column('payable_fen', sa.BigInteger(), nullable=False),
    sa.Column('placed_at', UtcDateTime, nullable=False),
    sa.Column('placed_day', sa.Date(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=True),
    sa.Column('paid_at', UtcDateTime, nullable=True),
    sa.Column('paid_day', sa.Date(), nullable=True),
    sa.Column('payment_method', sa.String(length=32), nullable=True),
    sa.Column('refunded_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cancelled_at', UtcDateTime, nullable=True),
    sa.Column('cancelled_day', sa.Date(), nullable=True),
    sa.Column('shipped_at', UtcDateTime, nullable=True),
    sa.Column('delivered_at', UtcDateTime, nullable=True),
    sa.Column('completed_at', UtcDateTime, nullable=True),
    sa.PrimaryKeyConstraint('order_id')
    )
    op.create_index('ix_order_facts_buyer_paid_day', 'order_facts', ['buyer_id', 'paid_day'], unique=False)
    op.create_index('ix_order_facts_shop_paid_day', 'order_facts', ['shop_id', 'paid_day'], unique=False)
    op.create_table('refund_facts',
    sa.Column('refund_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.Column('at', UtcDateTime, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('refund_id')
    )
    op.create_index(op.f('ix_refund_facts_order_id'), 'refund_facts', ['order_id'], unique=False)
    op.create_index('ix_refund_facts_shop_day', 'refund_facts', ['shop_id', 'day'], unique=False)
    op.create_table('shipment_facts',
    sa.Column('shipment_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.Column('carrier', sa.String(length=32), nullable=True),
    sa.Column('created_at', UtcDateTime, nullable=True),
    sa.Column('dispatched_at', UtcDateTime, nullable=True),
    sa.Column('dispatched_day', sa.Date(), nullable=True),
    sa.Column('delivered_at', UtcDateTime, nullable=True),
    sa.Column('delivered_day', sa.Date(), nullable=True),
    sa.Column('stalled_at', UtcDateTime, nullable=True),
    sa.Column('stalled_day', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('shipment_id')
    )
    op.create_index(op.f('ix_shipment_facts_order_id'), 'shipment_facts', ['order_id'], unique=False)
    op.create_table('shop_day',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('paid_orders', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('placed_orders', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cancelled_orders', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refund_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refunds', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('dispatched', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('delivered', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('stalled', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cases_opened', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('complaints_escalated', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'day')
    )
    op.create_table('sku_day',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sku_code', sa.String(length=64), nullable=False),
    sa.Column('category_id', sa.String(length=64), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('units', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('lines', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'day', 'sku_code', 'category_id')
    )
    op.create_index('ix_sku_day_shop_day', 'sku_day', ['shop_id', 'day'], unique=False)
    op.create_table('visitor_day',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('visitor_id', sa.String(length=64), nullable=False),
    sa.Column('views', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'day', 'visitor_id')
    )
    op.create_table('visits',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('visitor_id', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=True),
    sa.Column('page', sa.String(length=64), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=True),
    sa.Column('at', UtcDateTime, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('received_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_visits_shop_day', 'visits', ['shop_id', 'day'], unique=False)


def downgrade() -> None:
    for table in (
        "visitor_day",
        "buyer_day",
        "sku_day",
        "shop_day",
        "visits",
        "case_facts",
        "shipment_facts",
        "refund_facts",
        "line_facts",
        "order_facts",
    ):
        op.drop_table(table)
    drop_common_tables(op)
