"""billing tables (SQLAlchemy). The shared outbox/inbox tables come from ecom_common.db.

Keep in step with migrations/versions/0001_initial.py.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class BillingOrder(Base):
    """Billing's own copy of an order (from orders.OrderPlaced, or from orders' HTTP answer when a
    payment arrives first): what is owed, what was paid and refunded. Refund caps and commission
    are computed from it, never from another service's database."""

    __tablename__ = "billing_orders"
    __table_args__ = (
        sa.CheckConstraint("paid_fen >= 0", name="ck_border_paid_nonneg"),
        sa.CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="ck_border_refund_le_paid"),
    )

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    buyer_id: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    payable_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="open")  # open|cancelled|completed
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    paid_payment_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    cancel_case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    source: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="event")
    placed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class OrderLine(Base):
    __tablename__ = "billing_order_lines"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "line_no", name="uq_bline_order_line"),
        sa.CheckConstraint("refunded_fen >= 0 AND refunded_fen <= share_fen", name="ck_bline_refund_le_share"),
        sa.CheckConstraint("refunded_qty >= 0 AND refunded_qty <= quantity", name="ck_bline_qty_le_bought"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    category_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    share_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)  # its share of the payable amount
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    refunded_qty: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    platform_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        # At most one pending-or-succeeded payment per order, enforced by the database: two buyers'
        # tabs paying at once cannot both start a payment.
        sa.Index(
            "uq_payments_one_active",
            "order_id",
            unique=True,
            postgresql_where=sa.text("status IN ('pending', 'succeeded')"),
            sqlite_where=sa.text("status IN ('pending', 'succeeded')"),
        ),
    )

    payment_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    method: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    card_last4: Mapped[str | None] = mapped_column(sa.String(4), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    intent_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    failure_code: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    succeeded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        # One succeeded refund per key ("order:<id>:full", "case:<id>"): a redelivered or duplicated
        # request can never refund twice. Failed attempts are kept for the record and do not block.
        sa.Index(
            "uq_refunds_key_succeeded",
            "refund_key",
            unique=True,
            postgresql_where=sa.text("status = 'succeeded'"),
            sqlite_where=sa.text("status = 'succeeded'"),
        ),
    )

    refund_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    refund_key: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    payment_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # order_cancelled|late_payment|aftersales
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # succeeded|failed
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    requested_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    route: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)  # the original payment route
    provider_refund_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    after_settlement: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    lines: Mapped[list | None] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class LedgerEntry(Base):
    """The merchant ledger: immutable rows, never updated or deleted. Balance = sum(amount_fen)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        # One entry per (kind, thing): a payment, refund, settlement or payout is booked once.
        sa.UniqueConstraint("kind", "ref_id", name="uq_ledger_kind_ref"),
        sa.Index("ix_ledger_shop_id", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(24), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)  # signed
    order_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True, index=True)
    ref_id: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    memo: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    detail: Mapped[dict | None] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (sa.Index("ix_settlements_due", "status", "due_at"),)

    settlement_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    completed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # scheduled|settled
    gross_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    refunded_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    commission_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    payout_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Payout(Base):
    __tablename__ = "payouts"

    payout_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    entry_count: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class PayoutItem(Base):
    """Which ledger entries a payout paid. The primary key on the entry is the guard that no entry is
    ever paid out twice, whatever two settlement runs do at the same time."""

    __tablename__ = "payout_items"

    ledger_entry_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payout_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)


class CommissionRate(Base):
    __tablename__ = "commission_rates"
    __table_args__ = (sa.CheckConstraint("rate_bps >= 0 AND rate_bps <= 10000", name="ck_rate_bps_range"),)

    category_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rate_bps: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class AuditEntry(Base):
    """Who changed what, when and why: payment, refund and settlement transitions, rate changes."""

    __tablename__ = "billing_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    subject_type: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    subject_id: Mapped[str] = mapped_column(sa.String(60), nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(sa.String(30), nullable=True)
    to_status: Mapped[str | None] = mapped_column(sa.String(30), nullable=True)
    detail: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


class WebhookReceipt(Base):
    """Provider events already applied: a replayed webhook (same provider event id) changes nothing."""

    __tablename__ = "webhook_receipts"

    provider_event_id: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    event_type: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    intent_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


# The sandbox provider's own records (it lives inside billing, but keeps its books apart) ----------
class SandboxIntent(Base):
    __tablename__ = "sandbox_intents"
    __table_args__ = (
        sa.CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="ck_intent_refund_le_amount"),
    )

    intent_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)  # billing's payment id
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    method: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    card_last4: Mapped[str | None] = mapped_column(sa.String(4), nullable=True)
    planned_status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    failure_code: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    auto_confirm: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    status: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SandboxEvent(Base):
    """Webhook events the provider owes billing; resent until billing answers 2xx."""

    __tablename__ = "sandbox_events"

    event_id: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    intent_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"

    provider_refund_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    intent_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    reference: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)  # billing's refund id
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Invoice(Base):
    """A buyer's invoice request (发票) on an order, and finance's decision: requested -> issued |
    refused. The amount is fixed at issue time (paid less refunds, billing's books)."""

    __tablename__ = "invoices"
    __table_args__ = (
        # One open request or issued invoice per order, enforced by the database: two requests at
        # once cannot both be open; after a refusal the buyer may ask again.
        sa.Index(
            "uq_invoices_one_active",
            "order_id",
            unique=True,
            postgresql_where=sa.text("status IN ('requested', 'issued')"),
            sqlite_where=sa.text("status IN ('requested', 'issued')"),
        ),
        sa.Index("ix_invoices_shop_status", "shop_id", "status", "requested_at"),
    )

    invoice_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False, index=True)
    title_type: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # company|personal
    title: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    tax_number: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # requested|issued|refused
    invoice_no: Mapped[str | None] = mapped_column(sa.String(20), nullable=True, unique=True)
    amount_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    refused_reason: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)


class GoodsMovement(Base):
    """Goods as billing learns of them, for the three-way reconciliation (三流合一): a dispatched
    shipment (logistics.ShipmentDispatched, `direction` out) or a return received (aftersales.
    ReturnReceived, `direction` in), one row per SKU. `ref_id` is the shipment or the case."""

    __tablename__ = "goods_movements"
    __table_args__ = (sa.UniqueConstraint("direction", "ref_id", "sku_code", name="uq_goods_ref_sku"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(sa.String(4), nullable=False)  # out|in
    ref_id: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)  # a replacement, or the return's case
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)


class ThreeWayRun(Base):
    """The reconcile-three-way job's result for one UTC day (all shops): rerun, it is replaced."""

    __tablename__ = "three_way_runs"

    day: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    orders: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    mismatch_count: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    mismatches: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    ran_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
