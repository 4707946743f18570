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
from .models import BreakdownDay, BuyerDay, CampaignDay, ShopDay, SkuDay, VisitorDay

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
    "dispatch_due",
    "dispatched_on_time",
    "dispatch_timed",
    "dispatch_seconds",
    "delivered_timed",
    "delivered_on_time",
    "complaints_filed",
    "sla_breaches",
    "reviews",
    "stars_sum",
    "nps_scores",
    "promoters",
    "detractors",
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
    "dispatch_on_time_rate",
    "dispatch_hours",
    "carrier_on_time_rate",
    "cases_opened",
    "complaints_filed",
    "complaints_escalated",
    "sla_breaches",
    "reviews",
    "avg_stars",
    "nps",
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


# breakdown metric -> the report's block (counts by label)
BREAKDOWNS = {
    "case_type": "cases_by_type",
    "complaint_tier": "complaints_by_tier",
    "escalated_tier": "escalations_by_tier",
    "sla_breach": "sla_breaches_by_kind",
}
CARRIER = {
    "carrier_dispatched": "dispatched",
    "carrier_delivered_timed": "delivered_timed",
    "carrier_delivered_on_time": "delivered_on_time",
    "carrier_stalled": "stalled",
}


def breakdowns(session: Session, shop_id: str | None, start: date, end: date) -> dict[str, Any]:
    """Cases by type, complaints filed and escalated by tier, SLA breaches by kind (label -> count)
    and per carrier its parcels dispatched, delivered (with a known dispatch), on time and stalled."""
    out: dict[str, Any] = {block: {} for block in BREAKDOWNS.values()}
    carriers: dict[str, dict[str, int]] = {}
    total = sa.func.sum(BreakdownDay.count)
    for metric, label, n in session.execute(
        sa.select(BreakdownDay.metric, BreakdownDay.label, total)
        .where(*_in(BreakdownDay, shop_id, start, end))
        .group_by(BreakdownDay.metric, BreakdownDay.label)
        .order_by(BreakdownDay.metric, BreakdownDay.label)
    ):
        if metric in BREAKDOWNS:
            out[BREAKDOWNS[metric]][label or "unknown"] = int(n)
        elif metric in CARRIER:
            row = carriers.setdefault(label, dict.fromkeys(CARRIER.values(), 0))
            row[CARRIER[metric]] = int(n)
    out["carriers"] = [
        {"carrier": code or None, **row, "on_time_rate": domain.ratio(row["delivered_on_time"], row["delivered_timed"])}
        for code, row in sorted(carriers.items())
    ]
    return out


def campaigns(session: Session, shop_id: str | None, start: date, end: date) -> list[dict[str, Any]]:
    """Per promotion or coupon source (and shop): paid orders that used it, their paid amount, the
    discount it gave them, ROI = attributed / spend (README "Campaign ROI")."""
    orders, attributed, spend = (
        sa.func.sum(CampaignDay.orders),
        sa.func.sum(CampaignDay.attributed_fen),
        sa.func.sum(CampaignDay.spend_fen),
    )
    rows = session.execute(
        sa.select(CampaignDay.shop_id, CampaignDay.source, CampaignDay.ref, orders, attributed, spend)
        .where(*_in(CampaignDay, shop_id, start, end))
        .group_by(CampaignDay.shop_id, CampaignDay.source, CampaignDay.ref)
        .order_by(attributed.desc(), CampaignDay.shop_id, CampaignDay.source, CampaignDay.ref)
    ).all()
    out = []
    for shop, source, ref, n, paid, spent in rows:
        ratio = domain.roi(int(paid), int(spent))
        out.append(
            {
                "shop_id": shop,
                "source": source,
                "ref": ref or None,
                "orders": int(n),
                "attributed_fen": int(paid),
                "spend_fen": int(spent),
                "roi": ratio,
                "meets_target": ratio is not None and ratio >= domain.ROI_TARGET,
            }
        )
    return out
