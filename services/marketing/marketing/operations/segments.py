"""Segments and outreach: buyers with one paid order more than MARKETING_REPURCHASE_AFTER_DAYS
ago, no repeat and no refund, get a re-purchase coupon once (CouponIssued with `reason:
repurchase`, which buyer notifications can act on). The member's `repurchase_issued_at` is set by
conditional UPDATE, so the job on two replicas and the endpoint never issue it twice."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ecom_common.events import make_event
from ecom_common.http import MAX_INT
from ecom_common.ids import new_id

from .. import domain
from ..models import CouponClaim, CouponTemplate, Member
from .common import MCtx
from .coupons import coupon_payload

REPURCHASE = "回购券"
SYSTEM = "system"


def _segment(ctx: MCtx):
    cutoff = ctx.now - timedelta(days=ctx.settings.repurchase_after_days)
    return sa.and_(
        Member.paid_orders == 1,
        Member.refunds == 0,
        Member.last_paid_at < cutoff,
        Member.repurchase_issued_at.is_(None),
    )


def repurchase_segment(ctx: MCtx, shop_id: str | None = None, limit: int = 100) -> list[tuple[str, str]]:
    """(shop, buyer) of the members due a re-purchase coupon, oldest order first."""
    stmt = sa.select(Member.shop_id, Member.buyer_id).where(_segment(ctx))
    if shop_id is not None:
        stmt = stmt.where(Member.shop_id == shop_id)
    rows = ctx.session.execute(stmt.order_by(Member.last_paid_at).limit(limit)).all()
    return [(shop, buyer) for shop, buyer in rows]


def issue_repurchase(ctx: MCtx, shop_id: str, buyer_id: str) -> CouponClaim | None:
    """The member's re-purchase coupon, or None when they are no longer in the segment (issued
    meanwhile, ordered again, refunded)."""
    won = ctx.session.execute(
        sa.update(Member)
        .where(Member.shop_id == shop_id, Member.buyer_id == buyer_id, _segment(ctx))
        .values(repurchase_issued_at=ctx.now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return None
    template = _repurchase_template(ctx, shop_id)
    template.claimed_quantity += 1
    claim = CouponClaim(
        claim_id=new_id("CC", ctx.now),
        template_id=template.template_id,
        buyer_id=buyer_id,
        shop_id=shop_id,
        funded_by=domain.SHOP,
        status="available",
        valid_from=ctx.now,
        valid_until=ctx.now + timedelta(days=ctx.settings.repurchase_valid_days),
        claimed_at=ctx.now,
    )
    ctx.session.add(claim)
    ctx.record(make_event("marketing.CouponIssued", coupon_payload(claim, reason="repurchase")))
    return claim


def _repurchase_template(ctx: MCtx, shop_id: str) -> CouponTemplate:
    """The shop's re-purchase template (made by the first issue; no threshold, no quantity limit)."""
    found = ctx.session.scalars(
        sa.select(CouponTemplate)
        .where(
            CouponTemplate.shop_id == shop_id,
            CouponTemplate.name == REPURCHASE,
            CouponTemplate.created_by == SYSTEM,
            CouponTemplate.reduction_fen == ctx.settings.repurchase_coupon_fen,
        )
        .with_for_update()
    ).first()
    if found is not None:
        return found
    template = CouponTemplate(
        template_id=new_id("CT", ctx.now),
        shop_id=shop_id,
        funded_by=domain.SHOP,
        name=REPURCHASE,
        status="stopped",  # issued by marketing, never claimed by buyers
        threshold_fen=0,
        reduction_fen=ctx.settings.repurchase_coupon_fen,
        valid_days=ctx.settings.repurchase_valid_days,
        total_quantity=MAX_INT,
        claimed_quantity=0,
        per_buyer_limit=1,
        sku_codes=[],
        category_ids=[],
        created_at=ctx.now,
        created_by=SYSTEM,
    )
    ctx.session.add(template)
    ctx.session.flush()
    return template
