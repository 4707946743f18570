"""logistics tables. The shared outbox/inbox tables come from ecom_common.db.

Keep in step with migrations/versions/ (0001_initial.py and the later revisions).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class ShippingTemplate(Base):
    """A shop's own shipping template; a shop without a row uses the platform default."""

    __tablename__ = "shipping_templates"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    body: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class ShopSender(Base):
    """The sender printed on a shop's waybills (name, phone, address)."""

    __tablename__ = "shop_senders"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    body: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class Carrier(Base):
    __tablename__ = "carriers"

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    services: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)  # e.g. "next day"
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class CarrierRuleSet(Base):
    """A shop's own ordered carrier rules; a shop without a row uses the default rules."""

    __tablename__ = "carrier_rule_sets"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rules: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    default_carrier: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)


class PromotionPeriod(Base):
    """A declared big promotion (e.g. Double 11): orders paid in it have 48 h to be dispatched."""

    __tablename__ = "promotion_periods"
    __table_args__ = (sa.UniqueConstraint("period_id", name="uq_promotion_periods_period_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # A copy of marketing's period (marketing.PromotionPeriodDeclared / Cancelled): its id, the
    # highest version seen, and whether it was called off. NULL period_id: declared here (PUT).
    period_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    cancelled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (
        # A tracking number identifies one parcel of one carrier.
        sa.UniqueConstraint("carrier", "tracking_no", name="uq_shipment_carrier_tracking"),
        sa.Index("ix_shipments_shop_created", "shop_id", "created_at", "id"),
        sa.Index("ix_shipments_status_due", "status", "dispatch_due_at"),
        sa.Index("ix_shipments_carrier_dispatched", "carrier", "dispatched_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    # "order:<order_id>" for the order's shipment, "case:<case_id>" for an exchange's replacement:
    # unique, so a redelivered event can never create a second shipment.
    dedupe_key: Mapped[str] = mapped_column(sa.String(120), nullable=False, unique=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    order_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    case_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(24), nullable=False)
    carrier: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    carrier_reason: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    tracking_no: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lines: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    receiver: Mapped[dict] = mapped_column(sa.JSON, nullable=False)  # name and phone masked
    province: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    weight_g: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    priority: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    dispatch_due_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    promotion: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    dispatched_late: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_progress_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The exception queue: open while a carrier exception or a stall awaits ops.
    exception_open: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    exception_kind: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)  # carrier | stalled
    exception_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    exception_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    order_cancelled_after_dispatch: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # 0003: the carrier's pickup (揽收) is due LOGISTICS_PICKUP_HOURS after the dispatch notice (or a
    # carrier change); ops' new estimated arrival for a parcel in trouble; how an exception was resolved.
    pickup_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    picked_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    estimated_arrival_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    exception_resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    exception_resolution: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    # 0004: what the carrier actually charges for the parcel (recorded by staff or the carrier's webhook)
    carrier_cost_fen: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # 0005: the waybill's first printing (batch print); a reprint keeps it
    printed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # 0006: a presale order's promised ship date (orders.OrderReadyToShip.promised_ship_by): the deadline
    promised_ship_by: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # 0008: when the receiver held was the order's address (the OrderReadyToShip or AddressChanged
    # that set it): an older orders.AddressChanged, delivered late, never overwrites a newer address.
    receiver_as_of: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    # What marketing granted the order (marketing.GiftGranted), whenever it arrived: read with the
    # shipment, so a gift recorded before or after the shipment was created is on its pick list.
    gifts: Mapped[list[OrderGift]] = relationship(
        primaryjoin="Shipment.order_id == foreign(OrderGift.order_id)",
        viewonly=True,
        lazy="selectin",
        order_by="OrderGift.promotion_id",
    )


class ShipmentEvent(Base):
    """The shipment's timeline: every transition and carrier change, who, when, why."""

    __tablename__ = "shipment_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shipment_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("shipments.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    action: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(sa.String(24), nullable=True)
    to_status: Mapped[str | None] = mapped_column(sa.String(24), nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    data: Mapped[dict | None] = mapped_column(sa.JSON, nullable=True)


class TrackingEvent(Base):
    """One carrier report; (carrier, carrier_event_id) is unique so a resent webhook is a no-op."""

    __tablename__ = "tracking_events"
    __table_args__ = (sa.UniqueConstraint("carrier", "carrier_event_id", name="uq_tracking_carrier_event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shipment_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("shipments.id"), nullable=False, index=True)
    carrier: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    carrier_event_id: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    tracking_no: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(24), nullable=False)
    location: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    occurred_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class CancelledOrder(Base):
    """Orders known to be cancelled, so that an OrderReadyToShip handled late creates no shipment."""

    __tablename__ = "cancelled_orders"

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    cancelled_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


class OrderGift(Base):
    """A gift marketing granted a paid order (marketing.GiftGranted): one per order and promotion, so a
    second delivery of the event records nothing. Kept apart from the shipment, which may not exist yet
    (the gift is granted on payment, the shipment created once the order is ready to ship), and joined
    to the order's shipment when it is read: the two events may arrive in either order, even at once."""

    __tablename__ = "order_gifts"

    order_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    promotion_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
