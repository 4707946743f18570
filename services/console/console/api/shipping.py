"""发货: shipments to dispatch with their deadlines, bulk dispatch, and batch waybill printing."""

from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .base import act, api, blp, get_or_none

MAX_BATCH = 100


@blp.get("/shipping")
def shipping():
    status = request.args.get("status", "pending")
    if status not in ("pending", "dispatched", "in_transit", "delivered", "exception", "cancelled"):
        status = "pending"
    answer = get_or_none("logistics", "/api/v1/shipments", status=status, limit=200)
    items = sorted(answer["items"], key=lambda s: s.get("dispatch_due_at") or "") if answer else []
    return render_template("shipping.html", items=items, status=status, loaded=answer is not None)


def _tracking_no(shipment_id: str, typed: str) -> str:
    # A tracking number typed in; else one the console makes up for the sandbox carrier (a real
    # carrier's electronic waybill would assign it).
    return typed.strip() or f"CN{shipment_id[-8:].upper()}{secrets.token_hex(3).upper()}"


@blp.post("/shipping/dispatch")
def shipping_dispatch():
    ids = request.form.getlist("shipment_id")[:MAX_BATCH]
    if not ids:
        flash(_("Select at least one shipment."), "error")
        return redirect(url_for("console.shipping"))
    done = 0
    for sid in ids:
        body = {"tracking_no": _tracking_no(sid, request.form.get(f"tracking_{sid}", ""))}
        done += act("logistics", f"/api/v1/shipments/{sid}/dispatch", body)
    if done:
        flash(_("%(n)d of %(total)d shipments dispatched.", n=done, total=len(ids)), "success")
    return redirect(url_for("console.shipping", status="dispatched" if done == len(ids) else "pending"))


@blp.get("/shipping/waybills")
def shipping_waybills():
    """One printable page with the waybill of each shipment named (`?shipment_id=...&shipment_id=...`)."""
    bills, errors = [], []
    for sid in (request.args.getlist("shipment_id") or request.args.getlist("id"))[:MAX_BATCH]:
        try:
            answer = api("logistics", "GET", f"/api/v1/shipments/{sid}/waybill", params={"format": "json"})
        except Problem as exc:
            errors.append(f"{sid}: {exc.detail}")
            continue
        if answer.ok:
            bills.append(answer.body)
        else:
            errors.append(f"{sid}: {answer.status} {answer.detail}")
    return render_template("waybills.html", bills=bills, errors=errors)
