"""inventory tables. The shared outbox/inbox tables come from ecom_common.db."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class StockItem(Base):
    __tablename__ = "stock_items"
    __table_args__ = (
        sa.UniqueConstraint("shop_id", "sku_code", "warehouse_code", name="uq_stock_shop_sku_warehouse"),
        # The last line of defence against overselling: the database refuses negative stock.
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_on_hand_nonneg"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved_nonneg"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_le_on_hand"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    warehouse_code: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    on_hand: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reserved: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    low_stock_threshold: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=10)
    # When catalog said so (the event's occurred_at): a listing or price change delivered late, after a
    # newer one, must not roll the threshold back.
    threshold_as_of: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sellable: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    # True once inventory.LowStock was emitted for the current dip below the threshold; cleared
    # when available rises above it again (one alert per crossing).
    low_alerted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(Base):
    """The stock ledger: one immutable row per movement, with its cause."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        sa.Index("ix_movements_shop_sku", "shop_id", "sku_code", "id"),
        sa.Index("ix_movements_kind_time", "shop_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    warehouse_code: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    # Signed changes of on_hand and of reserved made by this movement.
    on_hand_delta: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reserved_delta: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    cause: Mapped[str] = mapped_column(sa.String(200), nullable=False)  # e.g. "order:O123", "event:<id>"
    actor: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    # Why, in words (an adjustment's reason, "not resellable"), and what it refers to (a shipment,
    # an event id) so that a movement can be traced back and not applied twice.
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    reference: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Reservation(Base):
    """What a paid order holds (or waits for): one row per order, so reserving is idempotent per order
    and release/deduct know exactly what to undo."""

    __tablename__ = "reservations"
    __table_args__ = (sa.Index("ix_reservations_queue", "shop_id", "status", "paid_at"),)

    order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    policy: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    # Payment time from OrderPaid: waiting orders are served oldest payment first.
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The last shortage seen: [{sku_code, requested, available}].
    short: Mapped[list | None] = mapped_column(sa.JSON, nullable=True)
    # The receiver's province from OrderPaid (province only, never the address): the warehouse
    # nearest to it is chosen, also when a waiting order is served later.
    receiver_province: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ReservationLine(Base):
    """One SKU of a reservation; warehouse_code is where it was reserved (None while waiting)."""

    __tablename__ = "reservation_lines"
    __table_args__ = (sa.Index("ix_reservation_lines_sku", "shop_id", "sku_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("reservations.order_id"), nullable=False, index=True
    )
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    warehouse_code: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)


class ReservationLog(Base):
    """The timeline of a reservation: every status change, when, by whom (event or user) and why."""

    __tablename__ = "reservation_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


class StockPolicy(Base):
    """A shop's shortage policy (wait or cancel); a shop without a row uses the default (wait)."""

    __tablename__ = "stock_policies"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    shortage_policy: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class StockPolicyChange(Base):
    """Audit of policy changes (who switched a shop from wait to cancel, and when)."""

    __tablename__ = "stock_policy_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    old_policy: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    new_policy: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    changed_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Warehouse(Base):
    """A shop's warehouse: where it is (province) and what a parcel from it costs per destination
    (`costs`: {province | region | "*": fen}). Stock rows name their warehouse by `code`; a code that
    holds stock without a row here is served from too, as a warehouse of unknown place and cost."""

    __tablename__ = "warehouses"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    province: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    costs: Mapped[dict] = mapped_column(sa.JSON, nullable=False)
    updated_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class PromotionPeriod(Base):
    """marketing's promotion periods, copied from its events (PromotionPeriodDeclared / Cancelled):
    what the pre-promotion cover report is asked for. `version`: the highest seen (an older event
    delivered late changes nothing)."""

    __tablename__ = "promotion_periods"

    period_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    cancelled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class SafetyStockAlert(Base):
    """A SKU of a shop whose available stock is at or below its safety stock (average daily sales x
    3 days): the row exists from the inventory.SafetyStockLow it raised until available rises
    above again (one alert per crossing, also with several job runners: the insert is the claim)."""

    __tablename__ = "safety_stock_alerts"

    shop_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    sku_code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    available: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    alerted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
