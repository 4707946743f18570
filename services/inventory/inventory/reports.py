"""Days of cover, read from inventory's own ledger: the safety-stock job (inventory.SafetyStockLow),
the pre-promotion cover report and the slow-mover / overstock report. The rules are in cover.py.

Sales = units deducted for orders (`deduct` movements with cause `order:*`, i.e. shipped) between
`now - window_days` and now, by the service clock; stock = on hand and available summed over the
SKU's sellable stock rows (every warehouse).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import insert_ignore
from ecom_common.errors import NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from . import cover
from .domain import Movement
from .models import PromotionPeriod, SafetyStockAlert, StockItem, StockMovement
from .settings import Settings

alerts = SafetyStockAlert.__table__
SALE = sa.and_(StockMovement.kind == Movement.DEDUCT, StockMovement.cause.like("order:%"))


def _sold(ctx: Ctx[Settings], since: datetime, shop_id: str | None = None) -> dict[tuple[str, str], int]:
    stmt = (
        sa.select(StockMovement.shop_id, StockMovement.sku_code, -sa.func.sum(StockMovement.on_hand_delta))
        .where(SALE, StockMovement.created_at >= since, StockMovement.created_at <= ctx.now)
        .group_by(StockMovement.shop_id, StockMovement.sku_code)
    )
    if shop_id is not None:
        stmt = stmt.where(StockMovement.shop_id == shop_id)
    return {(r[0], r[1]): int(r[2] or 0) for r in ctx.session.execute(stmt)}


def _stock(ctx: Ctx[Settings], shop_id: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """(on_hand, available) per (shop, SKU), over its sellable rows."""
    stmt = (
        sa.select(
            StockItem.shop_id,
            StockItem.sku_code,
            sa.func.sum(StockItem.on_hand),
            sa.func.sum(StockItem.on_hand - StockItem.reserved),
        )
        .where(StockItem.sellable.is_(True))
        .group_by(StockItem.shop_id, StockItem.sku_code)
    )
    if shop_id is not None:
        stmt = stmt.where(StockItem.shop_id == shop_id)
    return {(r[0], r[1]): (int(r[2] or 0), int(r[3] or 0)) for r in ctx.session.execute(stmt)}


# The safety-stock job ----------------------------------------------------------------------------
def check_safety_stock(ctx: Ctx[Settings]) -> int:
    """inventory.SafetyStockLow for every SKU whose available stock fell to average daily sales x
    INVENTORY_REPLENISH_COVER_DAYS (3) over INVENTORY_REPLENISH_WINDOW_DAYS (30), once per crossing:
    the alert row is claimed by an insert that a second runner cannot repeat, and deleted once the
    SKU is above again. Returns the alerts raised."""
    window, cover_days = ctx.settings.replenish_window_days, ctx.settings.replenish_cover_days
    sold = _sold(ctx, ctx.now - timedelta(days=window))
    stock = _stock(ctx)
    out = {(r.shop_id, r.sku_code) for r in ctx.session.execute(sa.select(alerts.c.shop_id, alerts.c.sku_code))}
    raised = 0
    for key in sorted(set(stock) | out):
        available = stock.get(key, (0, 0))[1]
        average = cover.average_daily_sales(sold.get(key, 0), window)
        signal = cover.safety_signal(key in out, cover.below_safety_stock(available, average, cover_days))
        if signal == "rearm":
            ctx.session.execute(alerts.delete().where(alerts.c.shop_id == key[0], alerts.c.sku_code == key[1]))
        elif signal == "alert":
            row = dict(shop_id=key[0], sku_code=key[1], available=available, alerted_at=ctx.now)
            if insert_ignore(ctx.session, alerts, row):
                ctx.record(make_event("inventory.SafetyStockLow", _alert(key, available, average, ctx.settings)))
                raised += 1
    return raised


def _alert(key: tuple[str, str], available: int, average: float, settings: Settings) -> dict[str, Any]:
    return {
        "shop_id": key[0],
        "sku_code": key[1],
        "available": available,
        "average_daily_sales": round(average, 3),
        "safety_stock": round(average * settings.replenish_cover_days, 3),
        "days_of_cover": round(available / average, 1) if average else None,
        "window_days": settings.replenish_window_days,
        "cover_days": settings.replenish_cover_days,
    }


# Pre-promotion cover ---------------------------------------------------------------------------
def _period(ctx: Ctx[Settings], period_id: str | None) -> PromotionPeriod | None:
    """The period asked for (404 when unknown or cancelled), or without one the next period not yet
    over (None when marketing declared none)."""
    stmt = sa.select(PromotionPeriod).where(PromotionPeriod.cancelled.is_(False))
    if period_id is not None:
        found = ctx.session.execute(stmt.where(PromotionPeriod.period_id == period_id)).scalar_one_or_none()
        if found is None:
            raise NotFound("promotion period not found")
        return found
    return ctx.session.execute(
        stmt.where(PromotionPeriod.ends_at > ctx.now).order_by(PromotionPeriod.starts_at).limit(1)
    ).scalar_one_or_none()


def promotion_cover(ctx: Ctx[Settings], shop_id: str, *, period_id: str | None, cover_days: int | None) -> dict:
    """SKUs of the shop with fewer than `cover_days` (INVENTORY_PROMOTION_COVER_DAYS, 15) days of cover
    at today's sales, ahead of a declared promotion period (marketing's, copied from its events);
    fewest days first, with the units missing to reach them."""
    period = _period(ctx, period_id)
    days = ctx.settings.promotion_cover_days if cover_days is None else cover_days
    window = ctx.settings.replenish_window_days
    answer: dict[str, Any] = {
        "shop_id": shop_id,
        "as_of": iso(ctx.now),
        "cover_days": days,
        "window_days": window,
        "period": None,
        "items": [],
    }
    if period is None:
        return answer
    starts_at = aware(period.starts_at)
    answer["period"] = {
        "period_id": period.period_id,
        "name": period.name,
        "starts_at": iso(starts_at),
        "ends_at": iso(aware(period.ends_at)),
        "days_to_start": round(cover.days_until(starts_at, ctx.now), 1),
    }
    sold = _sold(ctx, ctx.now - timedelta(days=window), shop_id)
    lines = []
    for (_, sku_code), (_, available) in sorted(_stock(ctx, shop_id).items()):
        line = cover.short_cover(
            sku_code, available, sold.get((shop_id, sku_code), 0), window_days=window, cover_days=days
        )
        if line is not None:
            lines.append(line)
    lines.sort(key=lambda c: (c.days_of_cover, c.sku_code))
    answer["items"] = [c.to_dict() for c in lines]
    return answer


# Slow movers and overstock ---------------------------------------------------------------------
def slow_movers(ctx: Ctx[Settings], shop_id: str, *, no_sales_days: int | None, overstock_days: int | None) -> dict:
    """SKUs with units on hand and no sale in `no_sales_days` (INVENTORY_SLOW_MOVER_DAYS, 60), and
    SKUs that sell but whose available stock covers more than `overstock_days`
    (INVENTORY_OVERSTOCK_DAYS, 90) days at the average of the sales window."""
    no_sales = ctx.settings.slow_mover_days if no_sales_days is None else no_sales_days
    over = ctx.settings.overstock_days if overstock_days is None else overstock_days
    window = ctx.settings.replenish_window_days
    sold = _sold(ctx, ctx.now - timedelta(days=window), shop_id)
    last = dict(
        ctx.session.execute(
            sa.select(StockMovement.sku_code, sa.func.max(StockMovement.created_at))
            .where(SALE, StockMovement.shop_id == shop_id, StockMovement.created_at <= ctx.now)
            .group_by(StockMovement.sku_code)
        ).all()
    )
    found: dict[str, list[dict[str, Any]]] = {"slow_mover": [], "overstock": []}
    for (_, sku_code), (on_hand, available) in sorted(_stock(ctx, shop_id).items()):
        item = cover.Movement(sku_code, on_hand, available, sold.get((shop_id, sku_code), 0), aware(last.get(sku_code)))
        hit = cover.slow_or_over(item, ctx.now, window_days=window, no_sales_days=no_sales, overstock_days=over)
        if hit is not None:
            found[hit[0]].append(hit[1])
    return {
        "shop_id": shop_id,
        "as_of": iso(ctx.now),
        "window_days": window,
        "no_sales_days": no_sales,
        "overstock_days": over,
        "slow_movers": found["slow_mover"],
        "overstock": found["overstock"],
    }
