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
    sellable: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(Base):
    """The stock ledger: one immutable row per movement, with its cause."""

    __tablename__ = "stock_movements"

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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
