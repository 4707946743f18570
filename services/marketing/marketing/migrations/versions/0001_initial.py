"""marketing: shared tables, promotions, coupon templates, claims and per-buyer counts, quotes,
members and their orders, gifts.

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
    op.create_table('coupon_buyer_counts',
    sa.Column('template_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('claimed', sa.Integer(), nullable=False),
    sa.CheckConstraint('claimed >= 0', name='ck_buyer_count'),
    sa.PrimaryKeyConstraint('template_id', 'buyer_id')
    )
    op.create_table('coupon_claims',
    sa.Column('claim_id', sa.String(length=40), nullable=False),
    sa.Column('template_id', sa.String(length=40), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=True),
    sa.Column('funded_by', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('valid_from', UtcDateTime, nullable=False),
    sa.Column('valid_until', UtcDateTime, nullable=False),
    sa.Column('claimed_at', UtcDateTime, nullable=False),
    sa.Column('locked_at', UtcDateTime, nullable=True),
    sa.Column('used_at', UtcDateTime, nullable=True),
    sa.PrimaryKeyConstraint('claim_id')
    )
    op.create_index('ix_claims_buyer', 'coupon_claims', ['buyer_id', 'claimed_at'], unique=False)
    op.create_index('ix_claims_order', 'coupon_claims', ['order_id'], unique=False)
    op.create_index(op.f('ix_coupon_claims_shop_id'), 'coupon_claims', ['shop_id'], unique=False)
    op.create_index(op.f('ix_coupon_claims_template_id'), 'coupon_claims', ['template_id'], unique=False)
    op.create_table('coupon_templates',
    sa.Column('template_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=True),
    sa.Column('funded_by', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('threshold_fen', sa.Integer(), nullable=False),
    sa.Column('reduction_fen', sa.Integer(), nullable=False),
    sa.Column('valid_from', UtcDateTime, nullable=True),
    sa.Column('valid_until', UtcDateTime, nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('total_quantity', sa.Integer(), nullable=False),
    sa.Column('claimed_quantity', sa.Integer(), nullable=False),
    sa.Column('per_buyer_limit', sa.Integer(), nullable=False),
    sa.Column('sku_codes', sa.JSON(), nullable=False),
    sa.Column('category_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.CheckConstraint('claimed_quantity >= 0 AND claimed_quantity <= total_quantity', name='ck_template_quantity'),
    sa.PrimaryKeyConstraint('template_id')
    )
    op.create_index(op.f('ix_coupon_templates_shop_id'), 'coupon_templates', ['shop_id'], unique=False)
    op.create_table('member_orders',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('paid_fen', sa.Integer(), nullable=False),
    sa.Column('refunded_fen', sa.Integer(), nullable=False),
    sa.Column('points_earned', sa.Integer(), nullable=False),
    sa.Column('points_taken_back', sa.Integer(), nullable=False),
    sa.Column('completed_at', UtcDateTime, nullable=True),
    sa.PrimaryKeyConstraint('order_id')
    )
    op.create_table('members',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('first_paid_at', UtcDateTime, nullable=True),
    sa.Column('last_paid_at', UtcDateTime, nullable=True),
    sa.Column('paid_orders', sa.Integer(), nullable=False),
    sa.Column('total_paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('completed_orders', sa.Integer(), nullable=False),
    sa.Column('refunds', sa.Integer(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('tier', sa.String(length=12), nullable=False),
    sa.Column('repurchase_issued_at', UtcDateTime, nullable=True),
    sa.CheckConstraint('points >= 0', name='ck_member_points'),
    sa.PrimaryKeyConstraint('shop_id', 'buyer_id')
    )
    op.create_table('order_quotes',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('claim_ids', sa.JSON(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('payable_fen', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('subsidy', sa.JSON(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('updated_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )
    op.create_table('promotions',
    sa.Column('promotion_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('starts_at', UtcDateTime, nullable=False),
    sa.Column('ends_at', UtcDateTime, nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=True),
    sa.Column('gift_limit', sa.Integer(), nullable=True),
    sa.Column('gifts_granted', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.CheckConstraint('gift_limit IS NULL OR gifts_granted <= gift_limit', name='ck_promotion_gifts'),
    sa.PrimaryKeyConstraint('promotion_id')
    )
    op.create_table('campaigns',
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('phases', sa.JSON(), nullable=False),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('split', sa.JSON(), nullable=False),
    sa.Column('subsidy_budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('subsidy_spent_fen', sa.BigInteger(), nullable=False),
    sa.Column('attributed_gmv_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.CheckConstraint('subsidy_spent_fen >= 0 AND subsidy_spent_fen <= subsidy_budget_fen', name='ck_subsidy'),
    sa.PrimaryKeyConstraint('campaign_id')
    )
    op.create_index(op.f('ix_campaigns_shop_id'), 'campaigns', ['shop_id'], unique=False)
    op.create_table('level_coupon_issues',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('issued_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'buyer_id', 'month')
    )
    op.create_table('gifts',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('promotion_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('gift_sku_code', sa.String(length=64), nullable=False),
    sa.Column('granted_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('order_id', 'promotion_id')
    )
    op.create_index(op.f('ix_promotions_shop_id'), 'promotions', ['shop_id'], unique=False)


def downgrade() -> None:
    for table in ('level_coupon_issues', 'campaigns', 'gifts', 'order_quotes', 'member_orders', 'members', 'coupon_claims', 'coupon_buyer_counts', 'coupon_templates', 'promotions'):
        op.drop_table(table)
    drop_common_tables(op)
