"""What inventory's views answer about one thing (a SKU's stock, a reservation, a shop's policy,
the replenishment report), read in the caller's context; lists are paged in the views themselves
(api/). Nothing here changes anything."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import iso
from ecom_common.errors import NotFound
from ecom_common.usecase import Ctx

from . import domain
from .domain import Movement
from .domain import ReservationStatus as RS
from .models import Reservation, ReservationLine, ReservationLog, StockItem, StockMovement, StockPolicy
from .settings import Settings


def policy_of(ctx: Ctx[Settings], shop_id: str) -> dict:
    """A shop's shortage policy as answered (the configured default for a shop that never set one)."""
    row = ctx.session.get(StockPolicy, shop_id, populate_existing=True)
    if row is None:
        return {
            "shop_id": shop_id,
            "shortage_policy": ctx.settings.default_shortage_policy,
            "is_default": True,
            "updated_by": None,
            "updated_at": None,
        }
    return {
        "shop_id": shop_id,
        "shortage_policy": row.shortage_policy,
        "is_default": False,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }


def sku_stock(ctx: Ctx[Settings], shop_id: str, sku_code: str) -> dict:
    """One SKU's stock, summed over warehouses, with the per-warehouse rows; 404 when the shop has none."""
    rows = (
        ctx.session.execute(
            sa.select(StockItem)
            .where(StockItem.shop_id == shop_id, StockItem.sku_code == sku_code)
            .order_by(StockItem.warehouse_code)
        )
        .scalars()
        .all()
    )
    if not rows:
        raise NotFound("stock item not found")
    return {
        "shop_id": shop_id,
        "sku_code": sku_code,
        "on_hand": sum(i.on_hand for i in rows),
        "reserved": sum(i.reserved for i in rows),
        "available": sum(i.available for i in rows),
        "warehouses": rows,
    }


def replenishment(
    ctx: Ctx[Settings],
    shop_id: str,
    *,
    window_days: int | None = None,
    cover_days: int | None = None,
    target_days: int | None = None,
) -> dict:
    """SKUs to reorder (domain.replenishment_line) by the service clock; unset figures from settings."""
    settings = domain.ReplenishmentSettings(
        window_days=window_days or ctx.settings.replenish_window_days,
        cover_days=ctx.settings.replenish_cover_days if cover_days is None else cover_days,
        target_days=ctx.settings.replenish_target_days if target_days is None else target_days,
    )
    now = ctx.now
    since = now - timedelta(days=settings.window_days)
    session = ctx.session
    available = dict(
        session.execute(
            sa.select(StockItem.sku_code, sa.func.sum(StockItem.on_hand - StockItem.reserved))
            .where(StockItem.shop_id == shop_id, StockItem.sellable.is_(True))
            .group_by(StockItem.sku_code)
        ).all()
    )
    sold = dict(
        session.execute(
            sa.select(StockMovement.sku_code, -sa.func.sum(StockMovement.on_hand_delta))
            .where(
                StockMovement.shop_id == shop_id,
                StockMovement.kind == Movement.DEDUCT,
                StockMovement.cause.like("order:%"),
                StockMovement.created_at >= since,
                StockMovement.created_at <= now,
            )
            .group_by(StockMovement.sku_code)
        ).all()
    )
    waiting = dict(
        session.execute(
            sa.select(ReservationLine.sku_code, sa.func.sum(ReservationLine.quantity))
            .join(Reservation, Reservation.order_id == ReservationLine.order_id)
            .where(Reservation.shop_id == shop_id, Reservation.status == RS.WAITING)
            .group_by(ReservationLine.sku_code)
        ).all()
    )
    lines = []
    for sku_code in sorted(available):
        line = domain.replenishment_line(
            sku_code, int(available[sku_code]), int(sold.get(sku_code) or 0), settings, int(waiting.get(sku_code) or 0)
        )
        if line is not None:
            lines.append(line)
    # Most urgent first: the fewest days of cover left.
    lines.sort(key=lambda r: (r.available / r.average_daily_sales if r.average_daily_sales else -1, r.sku_code))
    return {
        "shop_id": shop_id,
        "as_of": iso(now),
        "window_days": settings.window_days,
        "cover_days": settings.cover_days,
        "target_days": settings.target_days,
        "items": [r.to_dict() for r in lines],
    }


def reservation(ctx: Ctx[Settings], order_id: str) -> dict:
    """What an order holds or waits for, where, and every status change of it (404 for another
    tenant's, as for a missing one)."""
    session = ctx.session
    res = session.get(Reservation, order_id)
    if res is None:
        raise NotFound("reservation not found")
    ctx.require_visible(res.shop_id, what="reservation")
    lines = (
        session.execute(
            sa.select(ReservationLine).where(ReservationLine.order_id == order_id).order_by(ReservationLine.sku_code)
        )
        .scalars()
        .all()
    )
    log_rows = (
        session.execute(
            sa.select(ReservationLog).where(ReservationLog.order_id == order_id).order_by(ReservationLog.id)
        )
        .scalars()
        .all()
    )
    out: dict[str, Any] = {column.key: getattr(res, column.key) for column in Reservation.__table__.columns}
    out["lines"] = lines
    out["timeline"] = domain.reservation_timeline(log_rows)
    return out
