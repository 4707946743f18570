"""营销: the shop's promotions, coupon templates and campaigns with their ROI, as marketing's API
provides them (ops, admin); end a promotion, stop a coupon template's claims."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .base import act, blp, can, get_or_none

TABS = {
    "promotions": "/api/v1/promotions",
    "coupons": "/api/v1/coupon-templates",
    "campaigns": "/api/v1/campaigns",
}


@blp.get("/marketing")
def marketing():
    if not can("marketing.read"):
        abort(403)
    tab = request.args.get("tab", "promotions")
    if tab not in TABS:
        tab = "promotions"
    answer = get_or_none("marketing", TABS[tab], limit=100)
    return render_template(
        "marketing.html", tab=tab, tabs=tuple(TABS), items=answer["items"] if answer else [], loaded=answer is not None
    )


@blp.post("/marketing/promotions/<promotion_id>/end")
def promotion_end(promotion_id: str):
    act("marketing", f"/api/v1/promotions/{promotion_id}/end", {}, _("Promotion %(id)s ended.", id=promotion_id))
    return redirect(url_for("console.marketing", tab="promotions"))


@blp.post("/marketing/coupons/<template_id>/stop")
def coupon_stop(template_id: str):
    act("marketing", f"/api/v1/coupon-templates/{template_id}/stop", {}, _("Coupon %(id)s stopped.", id=template_id))
    return redirect(url_for("console.marketing", tab="coupons"))
