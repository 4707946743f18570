"""订单: tabs with counts, filters and search, the detail with its timeline, the manual review queue
(approve one or many), and the CSV export of the current filter."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .. import domain
from .base import act, api, blp, can, get_or_none, refusal, settings
from .saved_filters import my_filters

FILTERS = domain.ORDER_FILTERS
EXPORT_COLUMNS = ("order_id", "status", "buyer_id", "shop_id", "payable_yuan", "created_at", "receiver", "note")


def _filters() -> dict[str, str]:
    return {k: request.args[k].strip() for k in FILTERS if request.args.get(k, "").strip()}


def _query(filters: dict[str, str]) -> dict[str, str]:
    """The filters as the orders API takes them (dates as whole-day UTC bounds)."""
    params = dict(filters)
    for key, suffix in (("created_from", "T00:00:00+00:00"), ("created_to", "T23:59:59+00:00")):
        if key in params and len(params[key]) == 10:
            params[key] += suffix
    return params


def _search(q: str) -> list[dict] | None:
    """An order number typed in the search box: that order, or nothing."""
    found = get_or_none("orders", f"/api/v1/orders/{q}")
    return [found] if found else []


@blp.get("/orders")
def orders():
    filters = _filters()
    q = request.args.get("q", "").strip()
    counts = get_or_none("orders", "/api/v1/orders/counts")
    error = None
    next_cursor = None
    if q:
        items = _search(q)
    else:
        params = {**_query(filters), "limit": settings().page_size}
        if request.args.get("cursor"):
            params["cursor"] = request.args["cursor"]
        try:
            answer = api("orders", "GET", "/api/v1/orders", params=params)
        except Problem as exc:
            answer, error = None, exc.detail
        if answer is not None and answer.ok:
            items, next_cursor = answer.body["items"], answer.body.get("next_cursor")
        else:
            items = []
            error = error or (refusal(answer) if answer is not None else None)
    if request.headers.get("HX-Request"):
        template, saved = "orders_table.html", []
    else:
        template, saved = "orders.html", my_filters("orders")
    return render_template(
        template, items=items, counts=counts, filters=filters, q=q, next_cursor=next_cursor, error=error, saved=saved
    )


@blp.get("/orders/export.csv")
def orders_export():
    """The current filter as CSV: UTF-8 with a BOM (Excel reads Chinese), formula cells neutralised."""
    if not can("order.export"):
        abort(403)
    params = {**_query(_filters()), "limit": 200}
    rows: list[dict] = []
    limit = settings().export_max_rows
    while len(rows) < limit:
        answer = api("orders", "GET", "/api/v1/orders", params=params)
        if not answer.ok:
            flash(refusal(answer), "error")
            return redirect(url_for("console.orders", **_filters()))
        rows.extend(answer.body["items"])
        if not answer.body.get("next_cursor"):
            break
        params["cursor"] = answer.body["next_cursor"]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for o in rows[:limit]:
        address = o.get("address") or {}
        writer.writerow(
            [
                domain.csv_cell(v)
                for v in (
                    o["order_id"],
                    o["status"],
                    o["buyer_id"],
                    o["shop_id"],
                    domain.yuan(o["payable_fen"]),
                    o["created_at"],
                    address.get("name"),
                    o.get("note"),
                )
            ]
        )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Response(
        out.getvalue().encode("utf-8"),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="orders-{stamp}.csv"'},
    )


@blp.get("/orders/<order_id>")
def order_detail(order_id: str):
    answer = api("orders", "GET", f"/api/v1/orders/{order_id}")
    if not answer.ok:
        flash(refusal(answer), "error")
        return redirect(url_for("console.orders"))
    return render_template("order_detail.html", order=answer.body)


@blp.post("/orders/<order_id>/review")
def order_review_post(order_id: str):
    decision = request.form.get("decision", "approve")
    body = {"decision": decision, "reason": request.form.get("reason") or None}
    done = (
        _("Order %(id)s approved.", id=order_id) if decision == "approve" else _("Order %(id)s rejected.", id=order_id)
    )
    act("orders", f"/api/v1/orders/{order_id}/review", body, done)
    if request.form.get("back") == "queue":
        return redirect(url_for("console.order_review"))
    return redirect(url_for("console.order_detail", order_id=order_id))


@blp.post("/orders/<order_id>/cancel")
def order_cancel(order_id: str):
    act("orders", f"/api/v1/orders/{order_id}/cancel", {"reason": request.form.get("reason") or None}, _("Cancelled."))
    return redirect(url_for("console.order_detail", order_id=order_id))


@blp.get("/order-review")
def order_review():
    """Orders held by the audit, oldest first, with the time left of their 30-minute target."""
    answer = get_or_none("orders", "/api/v1/orders", status="on_hold", limit=200)
    items = sorted(answer["items"], key=lambda o: o.get("held_at") or "") if answer else []
    return render_template("order_review.html", items=items)


@blp.post("/order-review/approve")
def order_review_bulk():
    ids = request.form.getlist("order_id")
    if not ids:
        flash(_("Select at least one order."), "error")
        return redirect(url_for("console.order_review"))
    approved = sum(
        act("orders", f"/api/v1/orders/{oid}/review", {"decision": "approve", "reason": None}) for oid in ids
    )
    if approved:
        flash(_("%(n)d of %(total)d orders approved.", n=approved, total=len(ids)), "success")
    return redirect(url_for("console.order_review"))
