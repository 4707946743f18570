"""工作台: the to-do counts of the services the person may read (each from its own public API)."""

from __future__ import annotations

from flask import render_template

from .base import blp, get_or_none, roles


def todo_counts() -> list[dict]:
    """One tile per to-do the person's roles can see; a service that refuses or is away shows '—'."""
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
        overdue = get_or_none("aftersales", "/api/v1/cases", status="requested", overdue="true", limit=200)
        tiles.append(
            {
                "key": "cases",
                "label": "After-sales cases",
                "count": len(cases["items"]) if cases else None,
                "overdue": len(overdue["items"]) if overdue else None,
                "sla": "48 h",
                "endpoint": "console.cases",
            }
        )
    return tiles


@blp.get("/")
def dashboard():
    return render_template("dashboard.html", tiles=todo_counts())
