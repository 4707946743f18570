"""投诉: open complaints by tier (general 2 h, serious 4 h, crisis 24 h) with their deadlines, most
urgent first (aftersales' complaints dashboard); respond or resolve (cs)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import domain
from .base import act, blp, get_or_none

ACTIONS = ("respond", "resolve")  # a response stops a general or crisis clock; a serious one needs the resolution


@blp.get("/complaints")
def complaints():
    tier = request.args.get("tier", "")
    tiers = [t for t, _sla in domain.COMPLAINT_TIERS]
    board = get_or_none("aftersales", "/api/v1/complaints/dashboard")
    buckets = (board or {}).get("tiers", {})
    shown = [tier] if tier in tiers else tiers
    items = [dict(i, tier=t) for t in shown for i in buckets.get(t, {}).get("items", [])]
    items.sort(key=lambda i: (i.get("seconds_left") is None, i.get("seconds_left") or 0))
    return render_template(
        "complaints.html",
        items=items,
        tier=tier if tier in tiers else "",
        tiers=domain.COMPLAINT_TIERS,
        buckets=buckets,
        loaded=board is not None,
    )


@blp.post("/complaints/<complaint_id>/<action>")
def complaint_act(complaint_id: str, action: str):
    text = request.form.get("text", "").strip()
    back = url_for("console.complaints", tier=request.form.get("tier") or None)
    if action not in ACTIONS:
        return redirect(back)
    if not text:
        flash(_("Write the answer to the buyer."), "error")
        return redirect(back)
    done = _("Complaint %(id)s answered.", id=complaint_id)
    if action == "resolve":
        done = _("Complaint %(id)s resolved.", id=complaint_id)
    act("aftersales", f"/api/v1/complaints/{complaint_id}/{action}", {"text": text}, done)
    return redirect(back)
