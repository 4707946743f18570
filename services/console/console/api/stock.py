"""库存: stock per SKU and warehouse with low-stock flags, and the warehouse's adjustments."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .base import act, blp, get_or_none

KINDS = ("inbound", "damage", "loss", "count_correction")


@blp.get("/stock")
def stock():
    params: dict = {"limit": 200}
    if request.args.get("sku_code", "").strip():
        params["sku_code"] = request.args["sku_code"].strip()
    if request.args.get("low") == "1":
        params["low"] = "true"
    answer = get_or_none("inventory", "/api/v1/stock", **params)
    return render_template(
        "stock.html",
        items=answer["items"] if answer else [],
        loaded=answer is not None,
        sku_code=params.get("sku_code", ""),
        low=request.args.get("low") == "1",
        kinds=KINDS,
    )


@blp.post("/stock/<sku_code>/adjust")
def stock_adjust(sku_code: str):
    kind = request.form.get("kind", "inbound")
    raw = request.form.get("quantity", "").strip()
    if kind not in KINDS or not raw.isdigit():
        flash(_("Give a kind and a whole number."), "error")
        return redirect(url_for("console.stock"))
    body = {
        "kind": kind,
        ("counted" if kind == "count_correction" else "quantity"): int(raw),
        "reason": request.form.get("reason") or _("Adjusted in the console"),
        "warehouse_code": request.form.get("warehouse_code") or "WH1",
    }
    act("inventory", f"/api/v1/stock/{sku_code}/adjustments", body, _("Stock of %(sku)s adjusted.", sku=sku_code))
    return redirect(url_for("console.stock"))
