"""发货: shipments to dispatch with their deadlines, bulk dispatch (logistics' bulk endpoint, answered
per shipment), batch waybill printing (logistics records each first printing), change of carrier
after a failed pickup, and the exception queue with notes, a new arrival estimate and resolution."""

from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .base import act, api, blp, get_or_none, refusal

MAX_BATCH = 200  # logistics' bulk dispatch and print take 1..200 shipments
STATUSES = ("pending", "dispatched", "in_transit", "delivered", "exception", "cancelled")


def _shipments(status: str) -> tuple[list[dict], bool]:
    answer = get_or_none("logistics", "/api/v1/shipments", status=status, limit=200)
    items = sorted(answer["items"], key=lambda s: s.get("dispatch_due_at") or "") if answer else []
    return items, answer is not None


@blp.get("/shipping")
def shipping():
    status = request.args.get("status", "pending")
    if status not in STATUSES:
        status = "pending"
    items, loaded = _shipments(status)
    return render_template("shipping.html", items=items, status=status, loaded=loaded, results=None)


def _tracking_no(shipment_id: str, typed: str) -> str:
    # A tracking number typed in; else one the console makes up for the sandbox carrier (a real
    # carrier's electronic waybill would assign it).
    return typed.strip() or f"CN{shipment_id[-8:].upper()}{secrets.token_hex(3).upper()}"


def _post(path: str, body: dict) -> dict | None:
    """A bulk POST to logistics: its answer, or None with the refusal flashed."""
    try:
        answer = api("logistics", "POST", path, json=body)
    except Problem as exc:
        flash(_("The service is unavailable: %(detail)s", detail=exc.detail), "error")
        return None
    if not answer.ok:
        flash(refusal(answer), "error")
        return None
    return answer.body


@blp.post("/shipping/dispatch")
def shipping_dispatch():
    """The ticked shipments dispatched in one call to logistics' bulk dispatch; each one answered on
    its own (done, or refused with the reason), shown above the list."""
    ids = list(dict.fromkeys(request.form.getlist("shipment_id")))[:MAX_BATCH]
    if not ids:
        flash(_("Select at least one shipment."), "error")
        return redirect(url_for("console.shipping"))
    items = [
        {"shipment_id": sid, "tracking_no": _tracking_no(sid, request.form.get(f"tracking_{sid}", ""))} for sid in ids
    ]
    answer = _post("/api/v1/shipments/bulk/dispatch", {"items": items})
    if answer is None:
        return redirect(url_for("console.shipping"))
    results = answer.get("results") or []
    done = sum(1 for r in results if r.get("outcome") == "done")
    if done:
        flash(_("%(n)d of %(total)d shipments dispatched.", n=done, total=len(ids)), "success")
    if done < len(results):
        flash(_("%(n)d shipments refused: see each one's reason below.", n=len(results) - done), "error")
    status = "dispatched" if done == len(ids) else "pending"
    listed, loaded = _shipments(status)
    return render_template("shipping.html", items=listed, status=status, loaded=loaded, results=results)


@blp.post("/shipping/waybills")
def shipping_waybills():
    """One printable page with the waybill of each ticked shipment (logistics' `/waybills/print`,
    which records each first printing: its time is shown on the waybill, a reprint says so)."""
    ids = list(dict.fromkeys(request.form.getlist("shipment_id")))[:MAX_BATCH]
    if not ids:
        flash(_("Select at least one shipment."), "error")
        return redirect(url_for("console.shipping"))
    answer = _post("/api/v1/waybills/print", {"shipment_ids": ids})
    if answer is None:
        return render_template("waybills.html", printed=[], refused=[])
    results = answer.get("results") or []
    printed = [r for r in results if r.get("outcome") == "done"]
    refused = [r for r in results if r.get("outcome") != "done"]
    return render_template("waybills.html", printed=printed, refused=refused)


@blp.get("/shipping/<shipment_id>")
def shipment_detail(shipment_id: str):
    answer = api("logistics", "GET", f"/api/v1/shipments/{shipment_id}")
    if not answer.ok:
        flash(refusal(answer), "error")
        return redirect(url_for("console.shipping"))
    carriers = get_or_none("logistics", "/api/v1/carriers", limit=100)
    return render_template(
        "shipment_detail.html",
        s=answer.body,
        carriers=[c for c in (carriers or {}).get("items", []) if c.get("active", True)],
    )


@blp.post("/shipping/<shipment_id>/change-carrier")
def shipment_change_carrier(shipment_id: str):
    body = {
        "carrier": request.form.get("carrier", ""),
        "tracking_no": request.form.get("tracking_no", "").strip(),
        "reason": request.form.get("reason", "").strip(),
    }
    act("logistics", f"/api/v1/shipments/{shipment_id}/change-carrier", body, _("Carrier changed."))
    return redirect(url_for("console.shipment_detail", shipment_id=shipment_id))


@blp.get("/shipping/exceptions")
def shipping_exceptions():
    """The exception queue (carrier exceptions and stalled parcels), longest waiting first."""
    kind = request.args.get("kind", "")
    params = {"kind": kind} if kind in ("carrier", "stalled") else {}
    queue = get_or_none("logistics", "/api/v1/shipments/exceptions", limit=200, **params)
    return render_template(
        "shipping_exceptions.html", items=(queue or {}).get("items", []), kind=kind, loaded=queue is not None
    )


@blp.post("/shipping/<shipment_id>/exception")
def shipment_exception_action(shipment_id: str):
    """A note on the open exception, a new arrival estimate, or its resolution."""
    action = request.form.get("action", "")
    if request.form.get("back") == "detail":
        back = redirect(url_for("console.shipment_detail", shipment_id=shipment_id))
    else:
        back = redirect(url_for("console.shipping_exceptions"))
    if action == "note":
        act(
            "logistics",
            f"/api/v1/shipments/{shipment_id}/exception/notes",
            {"text": request.form.get("text", "").strip()},
            _("Note added."),
        )
    elif action == "estimate":
        when = request.form.get("estimated_arrival_at", "").strip()
        if len(when) == 16:  # datetime-local: the shop's calendar is China's
            when += ":00+08:00"
        body = {"estimated_arrival_at": when, "reason": request.form.get("reason", "").strip() or None}
        act(
            "logistics", f"/api/v1/shipments/{shipment_id}/estimate", body, _("New arrival estimate sent to the buyer.")
        )
    elif action == "resolve":
        act(
            "logistics",
            f"/api/v1/shipments/{shipment_id}/exception/resolve",
            {"reason": request.form.get("reason", "").strip()},
            _("Exception resolved."),
        )
    else:
        flash(_("Unknown action."), "error")
    return back
