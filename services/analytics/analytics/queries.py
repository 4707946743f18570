"""The KPI report: what the rollups hold for one shop (or every shop: `shop_id=None`, the platform
totals) over a date range, with the previous period, turned into KPIs by domain.kpis.

Everything is read from the rollups (sums per shop-day, buyers per shop-day, visitors per
shop-day, SKUs per shop-day): a report costs the same for a shop with ten orders a day or ten
thousand. Distinct counts over a range (paying buyers, UV, old buyers) count distinct keys of the
per-day rows, since they cannot be summed day by day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import domain
from .models import BuyerDay, ShopDay, SkuDay, VisitorDay

SUMS = (
    "paid_fen",
    "paid_orders",
    "refund_fen",
    "refunds",
    "placed_orders",
    "cancelled_orders",
    "dispatched",
    "delivered",
    "stalled",
    "cases_opened",
    "complaints_escalated",
)


def _in(model: Any, shop_id: str | None, start: date, end: date) -> list[Any]:
    cond = [model.day >= start, model.day <= end]
    if shop_id is not None:
        cond.append(model.shop_id == shop_id)
    return cond


def aggregates(session: Session, shop_id: str | None, start: date, end: date, old_buyer_days: int) -> domain.Aggregates:
    sums = session.execute(
        sa.select(*(sa.func.coalesce(sa.func.sum(getattr(ShopDay, c)), 0) for c in SUMS)).where(
            *_in(ShopDay, shop_id, start, end)
        )
    ).one()
    per_buyer = (
        sa.select(BuyerDay.buyer_id, sa.func.sum(BuyerDay.orders).label("orders"))
        .where(*_in(BuyerDay, shop_id, start, end))
        .group_by(BuyerDay.buyer_id)
        .subquery()
    )
    old = sa.select(BuyerDay.buyer_id).where(
        *_in(BuyerDay, shop_id, start - timedelta(days=old_buyer_days), start - timedelta(days=1))
    )
    buyers, repeat, new = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((per_buyer.c.orders >= 2, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((per_buyer.c.buyer_id.in_(old), 0), else_=1)), 0),
        ).select_from(per_buyer)
    ).one()
    uv, pv = session.execute(
        sa.select(
            sa.func.count(sa.distinct(VisitorDay.visitor_id)), sa.func.coalesce(sa.func.sum(VisitorDay.views), 0)
        ).where(*_in(VisitorDay, shop_id, start, end))
    ).one()
    return domain.Aggregates(
        **{c: int(v) for c, v in zip(SUMS, sums, strict=True)},
        paying_buyers=int(buyers),
        repeat_buyers=int(repeat),
        new_buyers=int(new),
        uv=int(uv),
        pv=int(pv),
    )


def series(session: Session, shop_id: str | None, start: date, end: date) -> list[dict[str, Any]]:
    """The daily KPIs that are defined for one day (a day's new buyers need a lookback per day and
    are left to the period's totals)."""
    sums = {
        row[0]: row[1:]
        for row in session.execute(
            sa.select(ShopDay.day, *(sa.func.sum(getattr(ShopDay, c)) for c in SUMS))
            .where(*_in(ShopDay, shop_id, start, end))
            .group_by(ShopDay.day)
        )
    }
    buyers = dict(
        session.execute(
            sa.select(BuyerDay.day, sa.func.count(sa.distinct(BuyerDay.buyer_id)))
            .where(*_in(BuyerDay, shop_id, start, end))
            .group_by(BuyerDay.day)
        ).all()
    )
    visits = {
        row[0]: row[1:]
        for row in session.execute(
            sa.select(VisitorDay.day, sa.func.count(sa.distinct(VisitorDay.visitor_id)), sa.func.sum(VisitorDay.views))
            .where(*_in(VisitorDay, shop_id, start, end))
            .group_by(VisitorDay.day)
        )
    }
    out = []
    for day in domain.days(start, end):
        values = sums.get(day) or (0,) * len(SUMS)
        uv, pv = visits.get(day) or (0, 0)
        a = domain.Aggregates(
            **{c: int(v or 0) for c, v in zip(SUMS, values, strict=True)},
            paying_buyers=int(buyers.get(day) or 0),
            uv=int(uv),
            pv=int(pv or 0),
        )
        k = domain.kpis(a)
        out.append({"day": day.isoformat(), **{name: k[name] for name in DAILY}})
    return out


DAILY = (
    "paid_fen",
    "paid_orders",
    "paying_buyers",
    "aov_fen",
    "uv",
    "pv",
    "conversion",
    "refund_fen",
    "refunds",
    "refund_rate",
    "placed_orders",
    "cancelled_orders",
    "dispatched",
    "delivered",
    "stalled",
    "cases_opened",
    "complaints_escalated",
)


def top(session: Session, shop_id: str | None, start: date, end: date, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Top SKUs and categories by paid amount (then units)."""
    paid, units = sa.func.sum(SkuDay.paid_fen), sa.func.sum(SkuDay.units)
    skus = session.execute(
        sa.select(SkuDay.sku_code, SkuDay.shop_id, paid, units)
        .where(*_in(SkuDay, shop_id, start, end))
        .group_by(SkuDay.sku_code, SkuDay.shop_id)
        .order_by(paid.desc(), units.desc(), SkuDay.sku_code)
        .limit(limit)
    ).all()
    categories = session.execute(
        sa.select(SkuDay.category_id, paid, units)
        .where(*_in(SkuDay, shop_id, start, end))
        .group_by(SkuDay.category_id)
        .order_by(paid.desc(), units.desc(), SkuDay.category_id)
        .limit(limit)
    ).all()
    return {
        "top_skus": [{"sku_code": r[0], "shop_id": r[1], "paid_fen": int(r[2]), "units": int(r[3])} for r in skus],
        "top_categories": [
            {"category_id": r[0] or None, "paid_fen": int(r[1]), "units": int(r[2])} for r in categories
        ],
    }
