"""Compensation coupons: aftersales' `CompensationCouponRequested` (a serious or crisis complaint's
solution) becomes one no-threshold coupon of the requested value for the buyer in that shop, funded
by the shop, valid MARKETING_COMPENSATION_VALID_DAYS. Once per complaint: the `compensation_coupons`
row (primary key complaint_id) is inserted first, so a redelivered or republished request, or a
second consumer, issues nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.db import insert_ignore

from ..models import CompensationCoupon, CouponClaim
from .common import MCtx
from .segments import issue_system_coupon, system_template

COMPENSATION = "补偿券"


@dataclass(frozen=True)
class CompensationRequest:
    complaint_id: str
    order_id: str
    shop_id: str
    buyer_id: str
    amount_fen: int


def issue_compensation(ctx: MCtx, request: CompensationRequest) -> CouponClaim | None:
    """The complaint's compensation coupon (`CouponIssued` with `reason: compensation` and the
    complaint id), or None when it was issued before."""
    row = {
        "complaint_id": request.complaint_id,
        "shop_id": request.shop_id,
        "buyer_id": request.buyer_id,
        "order_id": request.order_id,
        "amount_fen": request.amount_fen,
        "claim_id": None,
        "issued_at": ctx.now,
    }
    if not insert_ignore(ctx.session, CompensationCoupon.__table__, row):
        return None
    days = ctx.settings.compensation_valid_days
    template = system_template(ctx, request.shop_id, COMPENSATION, request.amount_fen, valid_days=days)
    claim = issue_system_coupon(
        ctx,
        template,
        request.buyer_id,
        "compensation",
        complaint_id=request.complaint_id,
        amount_fen=request.amount_fen,
    )
    ctx.session.flush()
    issued = ctx.session.get(CompensationCoupon, request.complaint_id)
    if issued is not None:
        issued.claim_id = claim.claim_id
    return claim
