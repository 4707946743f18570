"""工作台: today's numbers and the 7/30-day charts from analytics, and the to-do counts with their
SLA (each from its own service's public API), only what the person's roles may read. The reads go
out together (`get_many`): the page waits for the slowest service, not for the sum of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import render_template

from .. import domain
from .base import blp, can, get_many, roles

# Today's figures, in the order the dashboard shows them: (analytics field, label, kind).
FIGURES = (
    ("paid_fen", "Paid amount", "yuan"),
    ("paid_orders", "Paid orders", "count"),
    ("paying_buyers", "Paying buyers", "count"),
    ("aov_fen", "Average order value", "yuan"),
    ("conversion", "Conversion", "ratio"),
)
CHART_DAYS = 30


def reads_for(held: set[str]) -> dict[str, tuple[str, str, dict]]:
    """What the dashboard asks, by the roles each service admits."""
    reads: dict[str, tuple[str, str, dict]] = {}
    if held & {"ops", "cs", "warehouse", "finance", "admin"}:
        reads["counts"] = ("orders", "/api/v1/orders/counts", {})
    if held & {"warehouse", "ops", "admin"}:
        reads["shipments"] = ("logistics", "/api/v1/shipments/stats", {})
    if held & {"warehouse", "ops", "admin", "cs"}:
        reads["stalled"] = ("logistics", "/api/v1/shipments/exceptions", {"kind": "stalled", "limit": 200})
    if held & {"reviewer", "admin"}:
        reads["review"] = ("catalog", "/api/v1/review-queue", {"limit": 200})
    if held & {"cs", "ops", "admin", "finance"}:
        reads["cases"] = ("aftersales", "/api/v1/cases", {"status": "requested", "limit": 200})
    if held & {"cs", "ops", "admin"}:
        reads["complaints"] = ("aftersales", "/api/v1/complaints/dashboard", {})
    # the deadline board: each service's running clocks (`GET /api/v1/sla`), for the roles it admits
    if held & {"ops", "cs", "warehouse", "admin"}:
        reads["sla_orders"] = ("orders", "/api/v1/sla", {"limit": 200})
        reads["sla_logistics"] = ("logistics", "/api/v1/sla", {"limit": 200})
    if held & {"cs", "ops", "admin"}:
        reads["sla_aftersales"] = ("aftersales", "/api/v1/sla", {})
    if can("kpis.read"):
        # from a day before the shop's calendar can be (UTC-12 .. UTC+14): analytics ends the range on
        # its own today, and the last CHART_DAYS rows are the chart
        start = (datetime.now(UTC) - timedelta(days=CHART_DAYS)).date()
        reads["kpis"] = ("analytics", "/api/v1/kpis", {"from": start.isoformat()})
    return reads


def todo_tiles(data: dict[str, Any], held: set[str]) -> list[dict]:
    """One tile per to-do the person's roles can see; a service that refuses or is away shows '—'.
    `left` is the time left on the most urgent running clock (negative: overdue)."""
    tiles: list[dict] = []
    if "counts" in data:
        counts = data["counts"]
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
    if "shipments" in data:
        stats = data["shipments"]
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
    if "stalled" in data:
        tiles.append(stalled_tile(data["stalled"]))
    if "review" in data:
        items = data["review"]["items"] if data["review"] else None
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
    if "cases" in data:
        items = data["cases"]["items"] if data["cases"] else None
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
    if "complaints" in data:
        tiles.extend(complaint_tiles(data["complaints"]))
    return tiles


def stalled_tile(queue: dict | None) -> dict:
    """Parcels without carrier progress for 48 h (logistics' exception queue, kind stalled): each one
    is a breach already; `waiting` is the longest time one has been in the queue."""
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


def complaint_tiles(board: dict | None) -> list[dict]:
    """Open complaints by tier (general 2 h, serious 4 h, crisis 24 h) with the overdue ones and the
    time left on the most urgent clock."""
    tiles = []
    for tier, sla in domain.COMPLAINT_TIERS:
        bucket = (board or {}).get("tiers", {}).get(tier)
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


def deadline_board(data: dict[str, Any]) -> dict | None:
    """The most urgent clocks of the services the person may read, breaches first (None: no such
    service for the roles); `away` names the services that refused or did not answer."""
    asked = [source for source in domain.SLA_SOURCES if f"sla_{source}" in data]
    if not asked:
        return None
    boards = {source: data[f"sla_{source}"] for source in asked}
    items, breached = domain.deadlines(boards)
    return {"items": items, "breached": breached, "away": [s for s in asked if boards[s] is None]}


def figures(report: dict | None) -> dict:
    """Today's KPIs (the last day of analytics' daily series, with the change against the day before)
    and the 7- and 30-day charts of the paid amount."""
    series = (report or {}).get("series") or []
    if not series:
        return {"loaded": False}
    series = series[-CHART_DAYS:]
    today, before = series[-1], (series[-2] if len(series) > 1 else {})
    points = [(row["day"], int(row.get("paid_fen") or 0)) for row in series]
    return {
        "loaded": True,
        "day": today["day"],
        "kpis": today,
        "change": {field: domain.change(today.get(field), before.get(field)) for field, _l, _k in FIGURES},
        "week": domain.bar_chart(points[-7:]),
        "month": domain.bar_chart(points),
    }


@blp.get("/")
def dashboard():
    held = set(roles())
    data = get_many(reads_for(held))
    numbers = figures(data["kpis"]) if "kpis" in data else None
    return render_template(
        "dashboard.html", tiles=todo_tiles(data, held), numbers=numbers, figures=FIGURES, board=deadline_board(data)
    )
