"""订单: tabs with counts, filters and a search box that finds an order by number, receiver phone
(full or last four), receiver name, buyer or SKU; the detail with its timeline, merchant notes and
contact log; the manual review queue (decided in bulk by orders, answered per order); and the CSV
export of the current filter, streamed from orders' own export."""

from __future__ import annotations

from datetime import datetime

from flask import Response, abort, flash, g, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .. import domain
from ..gateways import services
from .base import act, api, blp, can, get_or_none, refusal, settings
from .saved_filters import my_filters

FILTERS = domain.ORDER_FILTERS
MAX_BULK = 200  # orders' bulk review takes 1..200 orders
CONTACT_CHANNELS = ("phone", "sms", "im", "email")
CONTACT_OUTCOMES = ("reached", "verified", "no_answer", "wrong_number", "refused", "callback_requested")


def _filters() -> dict[str, str]:
    return {k: request.args[k].strip() for k in FILTERS if request.args.get(k, "").strip()}


def _search() -> tuple[str, str, tuple[str, str] | None]:
    """The search box (`q`), what it is searched as (`by`) and the filter it stands for."""
    q, by = request.args.get("q", "").strip(), request.args.get("by", "auto")
    if by not in domain.SEARCH_BY:
        by = "auto"
    return q, by, domain.search_filter(q, by)


def _query(filters: dict[str, str], found: tuple[str, str] | None = None) -> dict[str, str]:
    """The filters as the orders API takes them (dates as whole-day UTC bounds), with the search's."""
    params = dict(filters)
    for key, suffix in (("created_from", "T00:00:00+00:00"), ("created_to", "T23:59:59+00:00")):
        if key in params and len(params[key]) == 10:
            params[key] += suffix
    if found is not None and found[0] != "order_id":
        params[found[0]] = found[1]
    return params


def _one_order(order_id: str) -> list[dict]:
    """An order number typed in the search box: that order, or nothing."""
    found = get_or_none("orders", f"/api/v1/orders/{order_id}")
    return [found] if found else []


def _search_args(q: str, by: str) -> dict[str, str]:
    """The search as query parameters of the page's links (export, next page)."""
    return {"q": q, "by": by} if q else {}


@blp.get("/orders")
def orders():
    filters = _filters()
    q, by, found = _search()
    counts = get_or_none("orders", "/api/v1/orders/counts")
    error = None
    next_cursor = None
    if q and found is None:
        items, error = (
            [],
            _("Search by an order number, a phone (full or its last four digits), a receiver name, a buyer or a SKU."),
        )
    elif found is not None and found[0] == "order_id":
        items = _one_order(found[1])
    else:
        params = {**_query(filters, found), "limit": settings().page_size}
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
        template,
        items=items,
        counts=counts,
        filters=filters,
        q=q,
        by=by,
        search_by=domain.SEARCH_BY,
        link={**filters, **_search_args(q, by)},
        next_cursor=next_cursor,
        error=error,
        saved=saved,
    )


@blp.get("/orders/export.csv")
def orders_export():
    """The current filter as orders' own CSV (`GET /orders?format=csv`), passed on as it streams:
    UTF-8 with a BOM, formula cells neutralised and phones masked by role, all done by orders."""
    if not can("order.export"):
        abort(403)
    filters = _filters()
    q, by, found = _search()
    if q and found is None:  # a search that stands for no filter must not export the whole list
        flash(
            _("Search by an order number, a phone (full or its last four digits), a receiver name, a buyer or a SKU."),
            "error",
        )
        return redirect(url_for("console.orders", **filters, **_search_args(q, by)))
    if found is not None and found[0] == "order_id":
        flash(_("An order number is one order: open it instead of exporting."), "error")
        return redirect(url_for("console.orders", **filters, **_search_args(q, by)))
    params = {**_query(filters, found), "format": "csv"}
    try:
        answer, chunks = services().stream(g.token, "orders", "/api/v1/orders", params=params)
    except Problem as exc:
        flash(_("The service is unavailable: %(detail)s", detail=exc.detail), "error")
        return redirect(url_for("console.orders", **filters, **_search_args(q, by)))
    if not answer.ok:
        flash(refusal(answer), "error")
        return redirect(url_for("console.orders", **filters, **_search_args(q, by)))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="orders-{stamp}.csv"'},
    )


@blp.get("/orders/<order_id>")
def order_detail(order_id: str):
    answer = api("orders", "GET", f"/api/v1/orders/{order_id}")
    if not answer.ok:
        flash(refusal(answer), "error")
        return redirect(url_for("console.orders"))
    return render_template("order_detail.html", order=answer.body, channels=CONTACT_CHANNELS, outcomes=CONTACT_OUTCOMES)


@blp.post("/orders/<order_id>/notes")
def order_note(order_id: str):
    text = request.form.get("text", "").strip()
    if not text:
        flash(_("Write the note first."), "error")
    else:
        act("orders", f"/api/v1/orders/{order_id}/notes", {"text": text}, _("Note added."))
    return redirect(url_for("console.order_detail", order_id=order_id, _anchor="staff-notes"))


@blp.post("/orders/<order_id>/contacts")
def order_contact(order_id: str):
    body = {
        "channel": request.form.get("channel", ""),
        "outcome": request.form.get("outcome", ""),
        "note": request.form.get("note", "").strip() or None,
    }
    act("orders", f"/api/v1/orders/{order_id}/contacts", body, _("Contact logged."))
    return redirect(url_for("console.order_detail", order_id=order_id, _anchor="staff-notes"))


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


@blp.post("/order-review/decide")
def order_review_bulk():
    """Approve (or reject with a reason) the ticked orders in one call to orders' bulk review; each
    order is answered on its own: done, or refused with the reason."""
    ids = list(dict.fromkeys(request.form.getlist("order_id")))[:MAX_BULK]
    decision = "reject" if request.form.get("decision") == "reject" else "approve"
    reason = request.form.get("reason", "").strip() or None
    if not ids:
        flash(_("Select at least one order."), "error")
        return redirect(url_for("console.order_review"))
    if decision == "reject" and not reason:
        flash(_("Give the reason of the rejection."), "error")
        return redirect(url_for("console.order_review"))
    body = {"decision": decision, "reason": reason, "order_ids": ids}
    try:
        answer = api("orders", "POST", "/api/v1/orders/review/bulk", json=body)
    except Problem as exc:
        flash(_("The service is unavailable: %(detail)s", detail=exc.detail), "error")
        return redirect(url_for("console.order_review"))
    if not answer.ok:
        flash(refusal(answer), "error")
        return redirect(url_for("console.order_review"))
    results = answer.body.get("results") or []
    done = sum(1 for r in results if r.get("ok"))
    if done:
        message = (
            _("%(n)d of %(total)d orders approved.", n=done, total=len(ids))
            if decision == "approve"
            else _("%(n)d of %(total)d orders rejected.", n=done, total=len(ids))
        )
        flash(message, "success")
    if done < len(results):
        flash(_("%(n)d orders refused: see each order's reason below.", n=len(results) - done), "error")
    queue = get_or_none("orders", "/api/v1/orders", status="on_hold", limit=200)
    items = sorted(queue["items"], key=lambda o: o.get("held_at") or "") if queue else []
    return render_template("order_review.html", items=items, results=results, decision=decision)
