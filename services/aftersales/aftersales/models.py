"""aftersales tables (SQLAlchemy). The shared outbox/inbox tables come from ecom_common.db.

Keep in step with migrations/versions/ (0001_initial.py, 0002_notifications.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        sa.Index("ix_cases_shop_created", "shop_id", "created_at"),
        sa.Index("ix_cases_buyer_created", "buyer_id", "created_at"),
        sa.Index("ix_cases_sla_due", "sla_due_at"),
        sa.CheckConstraint("amount_fen >= 0", name="ck_cases_amount_nonneg"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    case_type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    evidence: Mapped[dict] = mapped_column(sa.JSON, nullable=False, default=dict)
    before_shipment: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    shipping_paid_by: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    return_address: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    return_carrier: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    return_tracking_no: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resellable: Mapped[bool | None] = mapped_column(sa.Boolean, nullable=True)
    inspection_note: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    refund_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    refund_failed: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    last_refund_error: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    refund_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    reship_shipment_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    reship_tracking_no: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    sla_kind: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    sla_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # multi-level review (approvals.py): awaiting_second_approval after the first of two approvals
    approval_stage: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    first_approved_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    first_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    second_approved_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)

    lines: Mapped[list[CaseLine]] = relationship(order_by="CaseLine.id", lazy="selectin")
    timeline: Mapped[list[CaseEvent]] = relationship(order_by="CaseEvent.id", lazy="selectin")


class CaseLine(Base):
    __tablename__ = "case_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    amount_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    new_sku_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class CaseEvent(Base):
    """The case timeline: one row per transition or notable fact (who, when, why)."""

    __tablename__ = "case_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)


class Claim(Base):
    """Units and money of one order's SKU already claimed by cases that are not rejected.

    Claiming is one conditional UPDATE (`... WHERE claimed_qty + :q <= bought_qty AND claimed_fen +
    :f <= cap_fen`), so two concurrent cases can never claim the same unit or fen twice. The row
    with sku_code ORDER_ROW caps the money of the whole order at what was paid for it.
    """

    __tablename__ = "claims"
    __table_args__ = (
        sa.CheckConstraint("claimed_qty <= bought_qty", name="ck_claims_qty"),
        sa.CheckConstraint("claimed_fen <= cap_fen", name="ck_claims_fen"),
        sa.CheckConstraint("claimed_qty >= 0 AND claimed_fen >= 0", name="ck_claims_nonneg"),
    )

    ORDER_ROW = "*"

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    sku_code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    bought_qty: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    cap_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    claimed_qty: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    claimed_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (
        sa.Index("ix_complaints_shop_created", "shop_id", "created_at"),
        sa.Index("ix_complaints_open_due", "status", "due_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False, index=True)
    tier: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    milestone: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    met_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    response: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    resolution: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # A serious/crisis solution's refund (through a refund-only case) and compensation coupon (0006).
    refund_case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    refund_fen: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    coupon_fen: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    timeline: Mapped[list[ComplaintEvent]] = relationship(order_by="ComplaintEvent.id", lazy="selectin")
    escalations: Mapped[list[Escalation]] = relationship(order_by="Escalation.at", lazy="selectin")


class ComplaintEvent(Base):
    __tablename__ = "complaint_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(sa.ForeignKey("complaints.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class Escalation(Base):
    """One row per escalation of a complaint; the key makes "once per breach" a database fact."""

    __tablename__ = "complaint_escalations"

    complaint_id: Mapped[str] = mapped_column(sa.ForeignKey("complaints.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(48), primary_key=True)  # "crisis" | "breach:<milestone>"
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(500), nullable=False)


class Feedback(Base):
    __tablename__ = "feedback"

    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    score: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    comment: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


# Buyer notifications ---------------------------------------------------------------------------
class Message(Base):
    """One notification to a buyer, from the event (or the use case) that asked for it to its
    outcome. `dedupe_key` is unique: the same fact (a shipment, a refund, an answer) never becomes a
    second message, however often its event arrives. The phone is never stored, only its masked
    form once a channel took the message."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_due", "status", "not_before"),
        sa.Index("ix_messages_buyer_created", "buyer_id", "created_at"),
        sa.Index("ix_messages_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    buyer_id: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    shop_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    order_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    template: Mapped[str] = mapped_column(sa.String(48), nullable=False)
    category: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # service | marketing
    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    variables: Mapped[dict] = mapped_column(sa.JSON, nullable=False, default=dict)
    body: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # pending | sent | parked | suppressed
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    source: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    event_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    timeline: Mapped[list[MessageEvent]] = relationship(order_by="MessageEvent.id", lazy="selectin")


class MessageEvent(Base):
    """A message's timeline: queued, each attempt (sent or its error), held for quiet hours,
    suppressed, parked."""

    __tablename__ = "message_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(sa.ForeignKey("messages.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)


class BuyerPreference(Base):
    """A buyer's choice about marketing messages (service messages always go out)."""

    __tablename__ = "buyer_preferences"

    buyer_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    marketing_opt_out: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class SandboxSms(Base):
    """The sandbox SMS provider's own books: every message it was handed and what it answered."""

    __tablename__ = "sandbox_sms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    phone_masked: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    accepted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    error: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class SandboxSwitch(Base):
    """Told to fail: one row (name "sms") set by an admin; without it the setting decides."""

    __tablename__ = "sandbox_switches"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    fail: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    error: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


# Service clocks and ownership (首问负责制) ---------------------------------------------------------
class ServiceTicket(Base):
    """The service side of a case or a complaint (`kind`, `ref_id`): its owner (the first agent who
    answered, or the one assigned) and the three clocks every request runs: first response,
    initial solution, resolution (each met at the stamped time)."""

    __tablename__ = "service_tickets"
    __table_args__ = (sa.Index("ix_service_tickets_open", "resolved_at", "opened_at"),)

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # case | complaint
    ref_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    owner: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    owner_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    solution_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class FollowUp(Base):
    """The follow-up record of a case or complaint: notes, contacts with the buyer (channel),
    proposed solutions, assignments."""

    __tablename__ = "follow_ups"
    __table_args__ = (sa.Index("ix_follow_ups_ref", "kind", "ref_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    ref_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    entry: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # note | contact | solution | assign
    channel: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    text: Mapped[str] = mapped_column(sa.String(2000), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class ServiceEscalation(Base):
    """One row per breached service clock; the key makes "escalated once" a database fact."""

    __tablename__ = "service_escalations"

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    ref_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    milestone: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Review(Base):
    """A buyer's review of a delivered or completed order: stars, text, NPS; the shop's reply."""

    __tablename__ = "reviews"
    __table_args__ = (sa.Index("ix_reviews_shop_created", "shop_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False, index=True)
    stars: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    text: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    nps: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    images: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    risk_keywords: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    # Catalog's banned words the text uses (0007): such a review is held `pending` (not public) until
    # the shop publishes or rejects it (`rejected`: never public); others are `published`.
    banned_words: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="published")
    reply: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    replied_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    timeline: Mapped[list[ReviewEvent]] = relationship(order_by="ReviewEvent.id", lazy="selectin")


class ReviewEvent(Base):
    """A review's timeline (0011): written, then published or rejected by the shop (who, when, why)."""

    __tablename__ = "review_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    review_id: Mapped[str] = mapped_column(sa.ForeignKey("reviews.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)


class Dispute(Base):
    """A buyer's one appeal of a rejected case and the platform's arbitration (争议处理记录)."""

    __tablename__ = "disputes"
    __table_args__ = (sa.Index("ix_disputes_shop_created", "shop_id", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id"), nullable=False, unique=True)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(sa.String(2000), nullable=False)
    evidence: Mapped[dict] = mapped_column(sa.JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # open | upheld | overturned
    decided_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    timeline: Mapped[list[DisputeEvent]] = relationship(order_by="DisputeEvent.id", lazy="selectin")


class DisputeEvent(Base):
    __tablename__ = "dispute_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dispute_id: Mapped[str] = mapped_column(sa.ForeignKey("disputes.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)


class PromotionPeriod(Base):
    """marketing's promotion periods, copied from its events (PromotionPeriodDeclared / Cancelled):
    a return received in one has 48 h, not 24 h, to be refunded. `version`: the highest seen (an
    older event delivered late changes nothing); a cancelled period no longer counts."""

    __tablename__ = "promotion_periods"

    period_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    cancelled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class CompletedOrder(Base):
    """An order orders reported completed (orders.OrderCompleted): a buyer with none in a shop, other
    than the case's order, is a new customer there (approvals.automatic_reason)."""

    __tablename__ = "completed_orders"
    __table_args__ = (sa.Index("ix_completed_orders_shop_buyer", "shop_id", "buyer_id"),)

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    buyer_id: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    completed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
