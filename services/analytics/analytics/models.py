"""analytics tables (SQLAlchemy). The shared outbox/inbox tables come from ecom_common.db.

Facts (one row per thing, written from events) and rollups (sums per shop x day and SKU x day,
kept by `rollups.py` with INSERT ... ON CONFLICT DO UPDATE and recomputable from the facts). Keep in
step with migrations/versions/.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ecom_common.tables import UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


def _zero() -> Mapped[int]:
    return mapped_column(sa.BigInteger, nullable=False, default=0, server_default="0")


# Facts -------------------------------------------------------------------------------------------
class OrderFact(Base):
    __tablename__ = "order_facts"
    __table_args__ = (
        sa.Index("ix_order_facts_shop_paid_day", "shop_id", "paid_day"),
        sa.Index("ix_order_facts_buyer_paid_day", "buyer_id", "paid_day"),
    )

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    goods_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    discount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    shipping_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    payable_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    placed_day: Mapped[date] = mapped_column(sa.Date, nullable=False)
    paid_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paid_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    payment_method: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    refunded_fen: Mapped[int] = _zero()
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancelled_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LineFact(Base):
    __tablename__ = "line_facts"
    __table_args__ = (sa.Index("ix_line_facts_shop_paid_day", "shop_id", "paid_day"),)

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    line_no: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    category_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    gross_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)  # gross less its discount share
    paid_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)


class RefundFact(Base):
    __tablename__ = "refund_facts"
    __table_args__ = (sa.Index("ix_refund_facts_shop_day", "shop_id", "day"),)

    refund_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    kind: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    day: Mapped[date] = mapped_column(sa.Date, nullable=False)


class ShipmentFact(Base):
    __tablename__ = "shipment_facts"

    shipment_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)  # an exchange's replacement
    carrier: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    dispatched_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    stalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    stalled_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    # Fulfilment, decided once when the milestone is set (README "Fulfilment"): the deadline from
    # ShipmentCreated, payment -> dispatch in seconds, on time or not (None: not known).
    dispatch_by: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paid_to_dispatch_s: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    dispatched_on_time: Mapped[bool | None] = mapped_column(sa.Boolean, nullable=True)
    delivered_on_time: Mapped[bool | None] = mapped_column(sa.Boolean, nullable=True)


class CaseFact(Base):
    """An after-sales case (kind "case": its type, refund approved, outcome) or a complaint known
    from its escalations (kind "complaint": tier, first escalation, count)."""

    __tablename__ = "case_facts"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    order_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    case_type: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    tier: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    opened_day: Mapped[date] = mapped_column(sa.Date, nullable=False)
    refund_approved_fen: Mapped[int] = _zero()
    escalations: Mapped[int] = _zero()
    outcome: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # A complaint's day of filing (ComplaintFiled) and of its first escalation (ComplaintEscalated).
    filed_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    escalated_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)


class ReviewFact(Base):
    """A buyer's review (aftersales.OrderReviewed): stars and the 0-10 would-recommend score only."""

    __tablename__ = "review_facts"
    __table_args__ = (sa.Index("ix_review_facts_shop_day", "shop_id", "day"),)

    review_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    stars: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    nps: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    day: Mapped[date] = mapped_column(sa.Date, nullable=False)


class BreachFact(Base):
    """A service clock that ran out (aftersales.ServiceClockBreached): once per (kind, ref, milestone)."""

    __tablename__ = "breach_facts"

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    ref_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    milestone: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    day: Mapped[date] = mapped_column(sa.Date, nullable=False)


class DiscountFact(Base):
    """What one promotion or coupon source took off one order (OrderPlaced's discounts, summed over
    the lines), and once the order is paid the order's paid amount and day (campaign ROI)."""

    __tablename__ = "discount_facts"

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    ref: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "" for a coupon source (domain.campaign_key)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    funded_by: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    order_paid_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    paid_day: Mapped[date | None] = mapped_column(sa.Date, nullable=True)


class Visit(Base):
    """One page view from the storefront beacon, keyed by the client's event id (a resent batch
    counts once)."""

    __tablename__ = "visits"
    __table_args__ = (sa.Index("ix_visits_shop_day", "shop_id", "day"),)

    event_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    product_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    page: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    variant: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    day: Mapped[date] = mapped_column(sa.Date, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class KpiAlertSent(Base):
    """One row per alert raised: the key makes "once per shop, day and KPI" a database fact (two
    workers running the job raise it once)."""

    __tablename__ = "kpi_alerts"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    kpi: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[float] = mapped_column(sa.Float, nullable=False)
    bound: Mapped[float] = mapped_column(sa.Float, nullable=False)
    direction: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Experiment(Base):
    """An A/B experiment of a shop: what is varied, the variants with their weights (the first is
    the control), the metric (conversion) and its days."""

    __tablename__ = "experiments"
    __table_args__ = (sa.Index("ix_experiments_shop_created", "shop_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    target: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    variants: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    metric: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    starts_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    ends_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


# Rollups -----------------------------------------------------------------------------------------
class ShopDay(Base):
    """Sums per shop and day. Every column is a count or an amount that only adds up."""

    __tablename__ = "shop_day"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    paid_fen: Mapped[int] = _zero()
    paid_orders: Mapped[int] = _zero()
    placed_orders: Mapped[int] = _zero()
    cancelled_orders: Mapped[int] = _zero()
    refund_fen: Mapped[int] = _zero()
    refunds: Mapped[int] = _zero()
    dispatched: Mapped[int] = _zero()
    delivered: Mapped[int] = _zero()
    stalled: Mapped[int] = _zero()
    cases_opened: Mapped[int] = _zero()
    complaints_escalated: Mapped[int] = _zero()
    # fulfilment (the order's own parcels): dispatched with a known deadline / by it; with a known
    # payment time and the seconds from payment; delivered with a known dispatch / within the promise
    dispatch_due: Mapped[int] = _zero()
    dispatched_on_time: Mapped[int] = _zero()
    dispatch_timed: Mapped[int] = _zero()
    dispatch_seconds: Mapped[int] = _zero()
    delivered_timed: Mapped[int] = _zero()
    delivered_on_time: Mapped[int] = _zero()
    # after-sales and reviews
    complaints_filed: Mapped[int] = _zero()
    sla_breaches: Mapped[int] = _zero()
    reviews: Mapped[int] = _zero()
    stars_sum: Mapped[int] = _zero()
    nps_scores: Mapped[int] = _zero()
    promoters: Mapped[int] = _zero()
    detractors: Mapped[int] = _zero()


class SkuDay(Base):
    __tablename__ = "sku_day"
    __table_args__ = (sa.Index("ix_sku_day_shop_day", "shop_id", "day"),)

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    sku_code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    category_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "" when unknown
    paid_fen: Mapped[int] = _zero()
    units: Mapped[int] = _zero()
    lines: Mapped[int] = _zero()


class BuyerDay(Base):
    """The buyers who paid in a shop on a day: distinct counts (paying buyers over any range, old
    buyers in the 365 days before it) are counts of these rows, which cannot be summed per day."""

    __tablename__ = "buyer_day"
    __table_args__ = (sa.Index("ix_buyer_day_shop_buyer", "shop_id", "buyer_id"),)

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    orders: Mapped[int] = _zero()


class VisitorDay(Base):
    """The visitors of a shop on a day with their page views (UV = distinct visitors, PV = views)."""

    __tablename__ = "visitor_day"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    visitor_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    views: Mapped[int] = _zero()


class BreakdownDay(Base):
    """Counts per shop, day and label of one breakdown (`metric`): cases by type, complaints by tier,
    SLA breaches by kind, parcels by carrier (queries.BREAKDOWNS)."""

    __tablename__ = "breakdown_day"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "" when unknown
    count: Mapped[int] = _zero()


class CampaignDay(Base):
    """Per shop, paid day and promotion or coupon source: the paid orders that used it, their paid
    amount (attributed) and what it took off them (spend)."""

    __tablename__ = "campaign_day"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    ref: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    orders: Mapped[int] = _zero()
    attributed_fen: Mapped[int] = _zero()
    spend_fen: Mapped[int] = _zero()


ROLLUPS = (ShopDay, SkuDay, BuyerDay, VisitorDay, BreakdownDay, CampaignDay)
