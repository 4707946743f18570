"""Coupon templates and claims: a template's quantity and a buyer's limit by conditional UPDATE."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.db import insert_ignore
from ecom_common.errors import NotFound, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id

from .. import domain
from ..models import BuyerClaimCount, CouponClaim, CouponTemplate
from .common import MCtx


def create_template(ctx: MCtx, shop_id: str | None, body: dict[str, Any]) -> CouponTemplate:
    """A shop's coupon (shop-funded) or, with shop_id None, a platform coupon (platform-funded)."""
    if body.get("valid_days") is None and (body.get("valid_from") is None or body.get("valid_until") is None):
        raise RuleViolation("give valid_from and valid_until, or valid_days", {"valid_days": ["or fixed dates"]})
    fixed = body.get("valid_until") is not None and body.get("valid_from") is not None
    if fixed and body["valid_until"] <= body["valid_from"]:
        raise RuleViolation("valid_until must be after valid_from", {"valid_until": ["before valid_from"]})
    template = CouponTemplate(
        template_id=new_id("CT", ctx.now),
        shop_id=shop_id,
        funded_by=domain.SHOP if shop_id else domain.PLATFORM,
        name=body["name"],
        status="active",
        threshold_fen=body["threshold_fen"],
        reduction_fen=body["reduction_fen"],
        valid_from=body.get("valid_from"),
        valid_until=body.get("valid_until"),
        valid_days=body.get("valid_days"),
        total_quantity=body["total_quantity"],
        claimed_quantity=0,
        per_buyer_limit=body["per_buyer_limit"],
        sku_codes=list(body.get("sku_codes") or []),
        category_ids=list(body.get("category_ids") or []),
        created_at=ctx.now,
        created_by=ctx.actor.id,
    )
    ctx.session.add(template)
    ctx.session.flush()
    return template


def get_template(ctx: MCtx, template_id: str) -> CouponTemplate:
    """A template as staff see it: their shop's, or a platform one to platform roles."""
    template = ctx.session.get(CouponTemplate, template_id)
    if template is None:
        raise NotFound("coupon template not found")
    if template.shop_id is None:
        if ctx.scope is not None and not ctx.scope.all_shops:
            raise NotFound("coupon template not found")
    else:
        ctx.require_visible(template.shop_id, what="coupon template")
    return template


def stop_template(ctx: MCtx, template_id: str) -> CouponTemplate:
    """No more claims of it (claims already made stay usable)."""
    template = get_template(ctx, template_id)
    template.status = "stopped"
    return template


def claim_coupon(ctx: MCtx, template_id: str, buyer_id: str) -> CouponClaim:
    """A buyer claims one coupon of a template: within its total quantity and the buyer's limit,
    both by conditional UPDATE (1,000 buyers racing for 100 coupons: exactly 100 claims)."""
    template = ctx.session.get(CouponTemplate, template_id)
    if template is None or template.status != "active":
        raise NotFound("coupon template not found")
    if template.valid_until is not None and ctx.now >= aware(template.valid_until):
        raise RuleViolation("the coupon offer has expired", {"template_id": ["expired"]})
    taken = ctx.session.execute(
        sa.update(CouponTemplate)
        .where(
            CouponTemplate.template_id == template_id,
            CouponTemplate.status == "active",
            CouponTemplate.claimed_quantity < CouponTemplate.total_quantity,
        )
        .values(claimed_quantity=CouponTemplate.claimed_quantity + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise RuleViolation("every coupon of this offer has been claimed", {"template_id": ["sold_out"]})
    insert_ignore(
        ctx.session, BuyerClaimCount.__table__, {"template_id": template_id, "buyer_id": buyer_id, "claimed": 0}
    )
    mine = ctx.session.execute(
        sa.update(BuyerClaimCount)
        .where(
            BuyerClaimCount.template_id == template_id,
            BuyerClaimCount.buyer_id == buyer_id,
            BuyerClaimCount.claimed < template.per_buyer_limit,
        )
        .values(claimed=BuyerClaimCount.claimed + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if mine != 1:
        # the transaction is rolled back by the caller: the template's count goes back with it
        raise RuleViolation(
            f"at most {template.per_buyer_limit} of this coupon per buyer", {"template_id": ["limit_reached"]}
        )
    if template.valid_days is not None:  # N days after the claim
        valid_from, valid_until = ctx.now, ctx.now + timedelta(days=template.valid_days)
    else:
        assert template.valid_from is not None and template.valid_until is not None
        valid_from, valid_until = template.valid_from, template.valid_until
    claim = CouponClaim(
        claim_id=new_id("CC", ctx.now),
        template_id=template_id,
        buyer_id=buyer_id,
        shop_id=template.shop_id,
        funded_by=template.funded_by,
        status="available",
        valid_from=valid_from,
        valid_until=valid_until,
        claimed_at=ctx.now,
    )
    ctx.session.add(claim)
    ctx.record(make_event("marketing.CouponIssued", coupon_payload(claim)))
    return claim


def get_claim(ctx: MCtx, claim_id: str) -> CouponClaim:
    claim = ctx.session.get(CouponClaim, claim_id)
    if claim is None:
        raise NotFound("coupon claim not found")
    ctx.require_visible(claim.shop_id, claim.buyer_id, what="coupon claim")
    return claim


def coupon_payload(claim: CouponClaim, **extra: Any) -> dict[str, Any]:
    return {
        "claim_id": claim.claim_id,
        "template_id": claim.template_id,
        "buyer_id": claim.buyer_id,
        "shop_id": claim.shop_id,
        "funded_by": claim.funded_by,
        **extra,
    }
