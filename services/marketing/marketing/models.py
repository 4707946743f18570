"""marketing tables. The shared outbox/inbox tables come from ecom_common.db.

Keep in step with migrations/versions/0001_initial.py. The counters that concurrency must never
overrun are guarded by the database as well as by the conditional UPDATEs that move them
(operations.py): a template's `claimed_quantity <= total_quantity`, a buyer's `claimed <= limit`,
a member's `points >= 0`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ecom_common.db import UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Promotion(Base):
    """A shop's promotion: `kind` full_reduction | timed_discount | first_order | first_n_gift, its
    terms as JSON (tiers / SKUs and rate and daily window / reduction / gift SKU), applying between
    starts_at and ends_at while active. A first-N gift counts the gifts it granted in
    `gifts_granted`, never past `gift_limit`."""

    __tablename__ = "promotions"
    __table_args__ = (
        sa.CheckConstraint("gift_limit IS NULL OR gifts_granted <= gift_limit", name="ck_promotion_gifts"),
    )

    promotion_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="active")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    terms: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    campaign_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    gift_limit: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    gifts_granted: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class Campaign(Base):
    """A shop's campaign: targets, phases (warm-up, burst, return), a budget and its split. Its
    subsidy budget pays the discounts of its linked promotions: `subsidy_spent_fen` holds what quotes
    reserved (released on cancel) and never passes `subsidy_budget_fen`."""

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.CheckConstraint("subsidy_spent_fen >= 0 AND subsidy_spent_fen <= subsidy_budget_fen", name="ck_subsidy"),
    )

    campaign_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    targets: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    phases: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    budget_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    split: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    subsidy_budget_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    subsidy_spent_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    attributed_gmv_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class Gift(Base):
    """A gift granted to a paid order by a first-N promotion (one per order and promotion)."""

    __tablename__ = "gifts"

    order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    gift_sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class CouponTemplate(Base):
    """A coupon offer: shop-funded (shop_id set) or platform-funded (shop_id NULL); 满X减Y
    (threshold_fen 0: no threshold); valid between fixed dates or for valid_days after the claim."""

    __tablename__ = "coupon_templates"
    __table_args__ = (
        sa.CheckConstraint("claimed_quantity >= 0 AND claimed_quantity <= total_quantity", name="ck_template_quantity"),
    )

    template_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, index=True)
    funded_by: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="active")
    threshold_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reduction_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    valid_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    total_quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    claimed_quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    per_buyer_limit: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    sku_codes: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    category_ids: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class BuyerClaimCount(Base):
    """How many claims of a template a buyer holds: the per-buyer limit's counter."""

    __tablename__ = "coupon_buyer_counts"
    __table_args__ = (sa.CheckConstraint("claimed >= 0", name="ck_buyer_count"),)

    template_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    claimed: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class CouponClaim(Base):
    """One coupon a buyer holds: available -> locked (by one order) -> used; a lock released goes
    back to available."""

    __tablename__ = "coupon_claims"
    __table_args__ = (sa.Index("ix_claims_buyer", "buyer_id", "claimed_at"), sa.Index("ix_claims_order", "order_id"))

    claim_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    shop_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, index=True)
    funded_by: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="available")
    order_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OrderQuote(Base):
    """The quote that locked a coupon or points for an order (one per order id): locked, then
    placed (orders.OrderPlaced seen), paid, cancelled or expired (released by the timeout job)."""

    __tablename__ = "order_quotes"

    order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="locked")
    claim_ids: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    points: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    payable_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    body: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    # campaign id -> subsidy reserved for this order (returned when it is cancelled)
    subsidy: Mapped[dict] = mapped_column(sa.JSON, nullable=False, default=dict)
    # what refunds of the paid order took back (capped at payable_fen), and campaign id -> the subsidy
    # returned for them or by the cancellation (never more than `subsidy` reserved); migration 0002
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    subsidy_returned: Mapped[dict | None] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Member(Base):
    """A buyer's membership of a shop, built from orders' and billing's events, with the points
    they hold there."""

    __tablename__ = "members"
    __table_args__ = (sa.CheckConstraint("points >= 0", name="ck_member_points"),)

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    first_paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paid_orders: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    total_paid_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    completed_orders: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    refunds: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    refunded_fen: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    points: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    tier: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="new")
    # when the re-purchase coupon was issued to this member (once: operations.segments)
    repurchase_issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LevelCouponIssue(Base):
    """A member's level coupon of one month (local time): inserted before the coupon is issued."""

    __tablename__ = "level_coupon_issues"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    level: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class MemberOrder(Base):
    """What an order paid, had refunded and earned in points: refunds take back points in
    proportion, never more than were earned."""

    __tablename__ = "member_orders"

    order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    paid_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    refunded_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    points_earned: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    points_taken_back: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PromotionPeriod(Base):
    """A declared big promotion period of the whole platform (双11, 618): marketing is its one source;
    logistics, aftersales and inventory keep a copy from the events (PromotionPeriodDeclared /
    PromotionPeriodCancelled). `status` active | cancelled; `version` grows with every change, so
    that a copy never takes an older state over a newer one."""

    __tablename__ = "promotion_periods"

    period_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class CompensationCoupon(Base):
    """A compensation coupon aftersales asked for (CompensationCouponRequested): inserted before the
    coupon is issued, so a complaint gets one coupon however often its request is delivered."""

    __tablename__ = "compensation_coupons"

    complaint_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    order_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    claim_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
