"""billing: shared tables, order copies, payments, refunds, the merchant ledger, settlements and
payouts, commission rates, the audit trail, webhook receipts and the sandbox provider's records.

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
    op.create_table('billing_audit',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('at', UtcDateTime, nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('subject_type', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.String(length=60), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_status', sa.String(length=30), nullable=True),
    sa.Column('to_status', sa.String(length=30), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_billing_audit_subject_id'), 'billing_audit', ['subject_id'], unique=False)
    op.create_table('billing_order_lines',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku_code', sa.String(length=64), nullable=False),
    sa.Column('category_id', sa.String(length=64), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
    sa.Column('share_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= share_fen', name='ck_bline_refund_le_share'),
    sa.CheckConstraint('refunded_qty >= 0 AND refunded_qty <= quantity', name='ck_bline_qty_le_bought'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id', 'line_no', name='uq_bline_order_line')
    )
    op.create_index(op.f('ix_billing_order_lines_order_id'), 'billing_order_lines', ['order_id'], unique=False)
    op.create_table('billing_orders',
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=True),
    sa.Column('payable_fen', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_payment_id', sa.String(length=40), nullable=True),
    sa.Column('cancel_case_id', sa.String(length=40), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('placed_at', UtcDateTime, nullable=True),
    sa.Column('cancelled_at', UtcDateTime, nullable=True),
    sa.Column('completed_at', UtcDateTime, nullable=True),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('updated_at', UtcDateTime, nullable=False),
    sa.CheckConstraint('paid_fen >= 0', name='ck_border_paid_nonneg'),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= paid_fen', name='ck_border_refund_le_paid'),
    sa.PrimaryKeyConstraint('order_id')
    )
    op.create_index(op.f('ix_billing_orders_shop_id'), 'billing_orders', ['shop_id'], unique=False)
    op.create_table('commission_rates',
    sa.Column('category_id', sa.String(length=64), nullable=False),
    sa.Column('rate_bps', sa.Integer(), nullable=False),
    sa.Column('updated_at', UtcDateTime, nullable=False),
    sa.Column('updated_by', sa.String(length=120), nullable=False),
    sa.CheckConstraint('rate_bps >= 0 AND rate_bps <= 10000', name='ck_rate_bps_range'),
    sa.PrimaryKeyConstraint('category_id')
    )
    op.create_table('ledger_entries',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=True),
    sa.Column('ref_id', sa.String(length=60), nullable=False),
    sa.Column('memo', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'ref_id', name='uq_ledger_kind_ref')
    )
    op.create_index(op.f('ix_ledger_entries_order_id'), 'ledger_entries', ['order_id'], unique=False)
    op.create_index('ix_ledger_shop_id', 'ledger_entries', ['shop_id', 'id'], unique=False)
    op.create_table('payments',
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('buyer_id', sa.String(length=120), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('card_last4', sa.String(length=4), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('intent_id', sa.String(length=40), nullable=False),
    sa.Column('failure_code', sa.String(length=40), nullable=True),
    sa.Column('failure_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('updated_at', UtcDateTime, nullable=False),
    sa.Column('succeeded_at', UtcDateTime, nullable=True),
    sa.Column('failed_at', UtcDateTime, nullable=True),
    sa.PrimaryKeyConstraint('payment_id'),
    sa.UniqueConstraint('intent_id')
    )
    op.create_index(op.f('ix_payments_order_id'), 'payments', ['order_id'], unique=False)
    op.create_index(op.f('ix_payments_shop_id'), 'payments', ['shop_id'], unique=False)
    op.create_index('uq_payments_one_active', 'payments', ['order_id'], unique=True, postgresql_where=sa.text("status IN ('pending', 'succeeded')"), sqlite_where=sa.text("status IN ('pending', 'succeeded')"))
    op.create_table('payout_items',
    sa.Column('ledger_entry_id', BigId, nullable=False),
    sa.Column('payout_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('ledger_entry_id')
    )
    op.create_index(op.f('ix_payout_items_payout_id'), 'payout_items', ['payout_id'], unique=False)
    op.create_table('payouts',
    sa.Column('payout_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('payout_id')
    )
    op.create_index(op.f('ix_payouts_shop_id'), 'payouts', ['shop_id'], unique=False)
    op.create_table('refunds',
    sa.Column('refund_id', sa.String(length=40), nullable=False),
    sa.Column('refund_key', sa.String(length=120), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=True),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('requested_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('route', sa.String(length=40), nullable=True),
    sa.Column('provider_refund_id', sa.String(length=40), nullable=True),
    sa.Column('after_settlement', sa.Boolean(), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=True),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('refund_id')
    )
    op.create_index(op.f('ix_refunds_case_id'), 'refunds', ['case_id'], unique=False)
    op.create_index(op.f('ix_refunds_order_id'), 'refunds', ['order_id'], unique=False)
    op.create_index(op.f('ix_refunds_shop_id'), 'refunds', ['shop_id'], unique=False)
    op.create_index('uq_refunds_key_succeeded', 'refunds', ['refund_key'], unique=True, postgresql_where=sa.text("status = 'succeeded'"), sqlite_where=sa.text("status = 'succeeded'"))
    op.create_table('sandbox_events',
    sa.Column('event_id', sa.String(length=60), nullable=False),
    sa.Column('intent_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', UtcDateTime, nullable=True),
    sa.Column('delivered_at', UtcDateTime, nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('event_id'),
    sa.UniqueConstraint('intent_id')
    )
    op.create_table('sandbox_intents',
    sa.Column('intent_id', sa.String(length=40), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('card_last4', sa.String(length=4), nullable=True),
    sa.Column('planned_status', sa.String(length=20), nullable=False),
    sa.Column('failure_code', sa.String(length=40), nullable=True),
    sa.Column('auto_confirm', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.Column('confirmed_at', UtcDateTime, nullable=True),
    sa.Column('resolved_at', UtcDateTime, nullable=True),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= amount_fen', name='ck_intent_refund_le_amount'),
    sa.PrimaryKeyConstraint('intent_id'),
    sa.UniqueConstraint('reference')
    )
    op.create_table('sandbox_refunds',
    sa.Column('provider_refund_id', sa.String(length=40), nullable=False),
    sa.Column('intent_id', sa.String(length=40), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('provider_refund_id'),
    sa.UniqueConstraint('reference')
    )
    op.create_index(op.f('ix_sandbox_refunds_intent_id'), 'sandbox_refunds', ['intent_id'], unique=False)
    op.create_table('settlements',
    sa.Column('settlement_id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('completed_at', UtcDateTime, nullable=False),
    sa.Column('due_at', UtcDateTime, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=True),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=True),
    sa.Column('commission_fen', sa.BigInteger(), nullable=True),
    sa.Column('payout_id', sa.String(length=40), nullable=True),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('settled_at', UtcDateTime, nullable=True),
    sa.Column('created_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('settlement_id'),
    sa.UniqueConstraint('order_id')
    )
    op.create_index('ix_settlements_due', 'settlements', ['status', 'due_at'], unique=False)
    op.create_index(op.f('ix_settlements_shop_id'), 'settlements', ['shop_id'], unique=False)
    op.create_table('webhook_receipts',
    sa.Column('provider_event_id', sa.String(length=60), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('intent_id', sa.String(length=40), nullable=False),
    sa.Column('received_at', UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint('provider_event_id')
    )


def downgrade() -> None:
    op.drop_table('webhook_receipts')
    op.drop_table('settlements')
    op.drop_table('sandbox_refunds')
    op.drop_table('sandbox_intents')
    op.drop_table('sandbox_events')
    op.drop_table('refunds')
    op.drop_table('payouts')
    op.drop_table('payout_items')
    op.drop_table('payments')
    op.drop_table('ledger_entries')
    op.drop_table('commission_rates')
    op.drop_table('billing_orders')
    op.drop_table('billing_order_lines')
    op.drop_table('billing_audit')
    drop_common_tables(op)
