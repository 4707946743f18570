"""审核: the product review queue for platform reviewers (approve, or reject with a reason)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .base import act, blp, get_or_none


@blp.get("/product-review")
def product_review():
    queue = get_or_none("catalog", "/api/v1/review-queue", limit=200)
    return render_template("product_review.html", items=queue["items"] if queue else [], loaded=queue is not None)


@blp.post("/product-review/<product_id>/approve")
def product_approve(product_id: str):
    act("catalog", f"/api/v1/products/{product_id}/approve", {}, _("Product %(id)s approved.", id=product_id))
    return redirect(url_for("console.product_review"))


@blp.post("/product-review/<product_id>/reject")
def product_reject(product_id: str):
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash(_("Give the merchant a reason."), "error")
        return redirect(url_for("console.product_review"))
    act(
        "catalog",
        f"/api/v1/products/{product_id}/reject",
        {"reason": reason},
        _("Product %(id)s rejected.", id=product_id),
    )
    return redirect(url_for("console.product_review"))
