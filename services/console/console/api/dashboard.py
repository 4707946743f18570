"""工作台: today's numbers and the 7/30-day charts from analytics, and the to-do counts with their
SLA (each from its own service's public API), only what the person's roles may read."""

from __future__ import annotations

from datetime import date, timedelta

from flask import render_template

from .. import domain
from .base import blp, can, get_or_none, roles

# Today's figures, in the order the dashboard shows them: (analytics field, label, kind).
FIGURES = (
    ("paid_fen", "Paid amount", "yuan"),
    ("paid_orders", "Paid orders", "count"),
    ("paying_buyers", "Paying buyers", "count"),
    ("aov_fen", "Average order value", "yuan"),
    ("conversion", "Conversion", "ratio"),
)


def todo_counts() -> list[dict]:
    """One tile per to-do the person's roles can see; a service that refuses or is away shows '—'.
    `left` is the time left on the most urgent running clock (negative: overdue)."""
    held = set(roles())
    tiles: list[dict] = []
    if held & {"ops", "cs", "warehouse", "finance", "admin"}:
        counts = get_or_none("orders", "/api/v1/orders/counts")
        tiles.append(
            {
                "key": "on_hold",
                "label": "Orders on hold",
                "count": counts["by_status"].get("on_hold") if counts else None,
                "overdue": counts.get("on_hold_overdue") if counts else None,
                "sla": "30 min",
                "endpoint": "console.order_review",
            }
        )
    if held & {"warehouse", "ops", "admin"}:
        stats = get_or_none("logistics", "/api/v1/shipments/stats")
        tiles.append(
            {
                "key": "to_dispatch",
                "label": "Shipments to dispatch",
                "count": stats["by_status"].get("pending") if stats else None,
                "overdue": stats.get("overdue") if stats else None,
                "sla": "24/48 h",
                "endpoint": "console.shipping",
            }
        )
    if held & {"warehouse", "ops", "admin", "cs"}:
        tiles.append(stalled_tile())
    if held & {"reviewer", "admin"}:
        queue = get_or_none("catalog", "/api/v1/review-queue", limit=200)
        items = queue["items"] if queue else None
        tiles.append(
            {
                "key": "to_review",
                "label": "Products to review",
                "count": len(items) if items is not None else None,
                "overdue": sum(1 for i in items if i.get("overdue")) if items is not None else None,
                "sla": "24 h",
                "endpoint": "console.product_review",
            }
        )
    if held & {"cs", "ops", "admin", "finance"}:
        cases = get_or_none("aftersales", "/api/v1/cases", status="requested", limit=200)
        items = cases["items"] if cases else None
        tiles.append(
            {
                "key": "cases",
                "label": "After-sales cases",
                "count": len(items) if items is not None else None,
                "overdue": sum(1 for c in items if (c.get("sla") or {}).get("overdue")) if items is not None else None,
                "left": domain.most_urgent((c.get("sla") or {}).get("seconds_left") for c in items or []),
                "sla": "24 h",
                "endpoint": "console.cases",
            }
        )
    if held & {"cs", "ops", "admin"}:
        tiles.extend(complaint_tiles())
    return tiles


def stalled_tile() -> dict:
    """Parcels without carrier progress for 48 h (logistics' exception queue, kind stalled): each one
    is a breach already; `waiting` is the longest time one has been in the queue."""
    queue = get_or_none("logistics", "/api/v1/shipments/exceptions", kind="stalled", limit=200)
    items = queue["items"] if queue else None
    return {
        "key": "stalled",
        "label": "Stalled parcels",
        "count": len(items) if items is not None else None,
        "overdue": len(items) if items is not None else None,
        "waiting": max((i.get("time_in_exception_s") or 0 for i in items), default=None) if items else None,
        "sla": "48 h",
        "endpoint": "console.shipping",
    }


def complaint_tiles() -> list[dict]:
    """Open complaints by tier (general 2 h, serious 4 h, crisis 24 h) with the overdue ones and the
    time left on the most urgent clock."""
    board = get_or_none("aftersales", "/api/v1/complaints/dashboard")
    tiles = []
    for tier, sla in domain.COMPLAINT_TIERS:
        bucket = (board or {}).get("tiers", {}).get(tier) if board else None
        items = bucket.get("items", []) if bucket else []
        tiles.append(
            {
                "key": f"complaints_{tier}",
                "label": "Complaints",
                "tier": tier,
                "count": bucket.get("open") if bucket else None,
                "overdue": bucket.get("overdue") if bucket else None,
                "left": domain.most_urgent(i.get("seconds_left") for i in items if not i.get("milestone_met")),
                "sla": sla,
                "endpoint": "console.complaints",
            }
        )
    return tiles


def figures() -> dict | None:
    """Today's KPIs (with the change against yesterday) and the last 30 days' series, from analytics'
    report for the person's shop (admin: the platform). None when the role may not read them."""
    if not can("kpis.read"):
        return None
    today = get_or_none("analytics", "/api/v1/kpis")
    if today is None:
        return {"loaded": False}
    end = date.fromisoformat(today["to"])
    month = get_or_none(
        "analytics", "/api/v1/kpis", **{"from": (end - timedelta(days=29)).isoformat(), "to": end.isoformat()}
    )
    series = (month or {}).get("series") or []
    points = [(row["day"], int(row.get("paid_fen") or 0)) for row in series]
    return {
        "loaded": True,
        "day": today["to"],
        "kpis": today["kpis"],
        "change": today.get("change") or {},
        "week": domain.bar_chart(points[-7:]) if points else None,
        "month": domain.bar_chart(points) if points else None,
    }


@blp.get("/")
def dashboard():
    return render_template("dashboard.html", tiles=todo_counts(), numbers=figures(), figures=FIGURES)
