"""售后: after-sales cases by status with their deadlines; approve or reject (cs), receive a return
(warehouse), retry a failed refund (cs). The refund itself is billing's: aftersales asks for it when
a refund_only is approved or a return is received."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .base import act, blp, get_or_none

STATUSES = ("requested", "approved", "awaiting_return", "received", "refunding", "reshipped", "rejected", "closed")


@blp.get("/cases")
def cases():
    status = request.args.get("status", "requested")
    if status not in STATUSES:
        status = "requested"
    answer = get_or_none("aftersales", "/api/v1/cases", status=status, limit=200)
    return render_template(
        "cases.html",
        items=answer["items"] if answer else [],
        status=status,
        statuses=STATUSES,
        loaded=answer is not None,
    )


@blp.post("/cases/<case_id>/approve")
def case_approve(case_id: str):
    act("aftersales", f"/api/v1/cases/{case_id}/approve", {"reason": None}, _("Case %(id)s approved.", id=case_id))
    return redirect(url_for("console.cases"))


@blp.post("/cases/<case_id>/reject")
def case_reject(case_id: str):
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash(_("Give the buyer a reason."), "error")
        return redirect(url_for("console.cases"))
    act("aftersales", f"/api/v1/cases/{case_id}/reject", {"reason": reason}, _("Case %(id)s rejected.", id=case_id))
    return redirect(url_for("console.cases"))


@blp.post("/cases/<case_id>/receive")
def case_receive(case_id: str):
    """The returned goods arrived: inspected resellable or not, with a note; a return goes on to
    its refund."""
    body = {"resellable": request.form.get("resellable") == "yes", "note": request.form.get("note", "").strip() or None}
    act("aftersales", f"/api/v1/cases/{case_id}/receive", body, _("Return of case %(id)s received.", id=case_id))
    return redirect(url_for("console.cases", status="awaiting_return"))


@blp.post("/cases/<case_id>/retry-refund")
def case_retry_refund(case_id: str):
    act("aftersales", f"/api/v1/cases/{case_id}/retry-refund", {}, _("Refund of case %(id)s asked again.", id=case_id))
    return redirect(url_for("console.cases", status="refunding"))
