"""orders tables (SQLAlchemy). The shared outbox/inbox tables come from ecom_common.db.

Keep in step with migrations/versions/ (0001 onwards).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_shop_status", "shop_id", "status"),
        sa.Index("ix_orders_created", "created_at", "id"),
        sa.Index("ix_orders_shop_phone_created", "shop_id", "receiver_phone", "created_at"),
        sa.Index("ix_orders_phone_last4", "receiver_phone_last4", "created_at"),
        sa.Index("ix_orders_phone_hash", "receiver_phone_hash"),
        sa.Index("ix_orders_receiver_name", "receiver_name"),
        sa.CheckConstraint("payable_fen >= 0", name="ck_orders_payable_nonneg"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    # Presale: a line's SKU is sold ahead of stock (catalog's presale_ship_days, the most over the
    # lines in presale_ship_days), or the stock ran short and the shop waits (StockShortage wait).
    presale: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    presale_ship_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    priority: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    note: Mapped[str] = mapped_column(sa.String(500), nullable=False, default="")
    # The full address (shown only to roles that ship or serve the order) and its masked form.
    address: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    address_masked: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    receiver_phone: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    # What phone search matches (never the masked copy, never a LIKE over phones): the last four
    # digits (尾号) and a keyed hash of the full number (domain.phone_digest, ORDERS_PHONE_SEARCH_KEY).
    receiver_phone_last4: Mapped[str] = mapped_column(sa.String(4), nullable=False, default="")
    receiver_phone_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="")
    receiver_name: Mapped[str] = mapped_column(sa.String(50), nullable=False, default="")
    goods_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    discount_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    shipping_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    payable_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    points_used: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    shipping_breakdown: Mapped[list | None] = mapped_column(sa.JSON, nullable=True)
    # Audit outcome: ",reason1,reason2," so that one reason can be filtered with LIKE on any database.
    held_reasons: Mapped[str] = mapped_column(sa.String(300), nullable=False, default="")
    held_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    promised_ship_by: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    promise: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    payment_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    shipment_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    carrier: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    tracking_no: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.line_no", lazy="selectin")
    # Read only by the detail view: loaded when accessed, not with every order a handler acts on.
    timeline: Mapped[list[TimelineEntry]] = relationship(order_by="TimelineEntry.id", lazy="select")
    discounts: Mapped[list[OrderDiscount]] = relationship(
        order_by="(OrderDiscount.line_no, OrderDiscount.id)", lazy="select"
    )
    staff_notes: Mapped[list[OrderNote]] = relationship(order_by="OrderNote.id", lazy="select")

    @property
    def held_reason_list(self) -> list[str]:
        return [r for r in self.held_reasons.split(",") if r]


def _undiscounted(context) -> int:
    """A line written without its paid amount paid its price: no order-level discount."""
    row = context.get_current_parameters()
    return row["unit_price_fen"] * row["quantity"] - (row.get("discount_fen") or 0)


class OrderLine(Base):
    """The order's own copy of what was bought and at what price (catalog may change later)."""

    __tablename__ = "order_lines"
    __table_args__ = (sa.UniqueConstraint("order_id", "line_no", name="uq_order_lines_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    category_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    list_price_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    weight_g: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    presale_ship_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)  # catalog's, when presale
    # The line's share of the order-level discounts (满减, coupons, points), apportioned by largest
    # remainder, and what the line paid: unit_price_fen x quantity - discount_fen. A refund of the
    # line reads paid_fen; the pricing engine is never run again for a refund.
    discount_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    paid_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=_undiscounted)
    # Catalog's special-goods flag at placing (custom-made, fresh): aftersales refuses a no_reason
    # return of the line (不支持七天无理由退货). Migration 0003.
    no_7day_return: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # Catalog's SKU spec (规格: {name: value} or text) and handling marks (["fragile", "liquid"]) at
    # placing, which logistics' pick list shows; null when the SKU has none. Migration 0007.
    spec: Mapped[dict | str | None] = mapped_column(sa.JSON, nullable=True)
    handling: Mapped[list[str] | None] = mapped_column(sa.JSON, nullable=True)

    @property
    def total_fen(self) -> int:
        return self.unit_price_fen * self.quantity


class OrderDiscount(Base):
    """One deduction of marketing's quote on one line: its source (promotion, coupon, points), the
    rule or claim it came from and who funds it (shop | platform)."""

    __tablename__ = "order_discounts"
    __table_args__ = (sa.UniqueConstraint("order_id", "line_no", "source", name="uq_order_discount_line_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True)
    line_no: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    source: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    ref: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    amount_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    funded_by: Mapped[str] = mapped_column(sa.String(16), nullable=False)


class TimelineEntry(Base):
    """Every transition (and every notable event that changed nothing) of an order: who, when, why."""

    __tablename__ = "order_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(32), nullable=False)  # the status after the entry
    from_status: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    action: Mapped[str] = mapped_column(sa.String(40), nullable=False)  # placed, pay, hold, payment_failed...
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


class OrderNote(Base):
    """The shop's own record on an order, never shown to the buyer: a merchant note (kind `note`), or
    a contact with the buyer (kind `contact`: channel, outcome, e.g. the address verified by phone)."""

    __tablename__ = "order_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # note | contact
    channel: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)  # contact: phone, sms, im...
    outcome: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)  # contact: reached, verified...
    text: Mapped[str] = mapped_column(sa.String(500), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class AuditRuleSet(Base):
    """A shop's audit rules (domain.AuditRules as JSON); a shop without a row uses the seed defaults."""

    __tablename__ = "audit_rules"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rules: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
