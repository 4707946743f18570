"""Segments and outreach. Level coupons: on the 1st of each month, members of level 2 and up get
their level's coupon, once per month (a (shop, buyer, month) row guards it on several replicas).
Re-purchase: buyers with one paid order more than MARKETING_REPURCHASE_AFTER_DAYS
ago, no repeat and no refund, get a re-purchase coupon once (CouponIssued with `reason:
repurchase`, which buyer notifications can act on). The member's `repurchase_issued_at` is set by
conditional UPDATE, so the job on two replicas and the endpoint never issue it twice."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ecom_common.db import insert_ignore
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.schemas import MAX_INT

from .. import domain
from ..models import CouponClaim, CouponTemplate, LevelCouponIssue, Member
from .common import MCtx
from .coupons import coupon_payload
from .members import level_of

REPURCHASE = "回购券"
LEVEL = "等级券"
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
    template = system_template(ctx, shop_id, REPURCHASE, ctx.settings.repurchase_coupon_fen)
    return issue_system_coupon(ctx, template, buyer_id, "repurchase")


def level_coupon_due(ctx: MCtx, limit: int = 100) -> list[tuple[str, str]]:
    """On the 1st of the month (local time): the members of level 2 and up without this month's
    level coupon yet."""
    local = ctx.now + timedelta(minutes=ctx.settings.utc_offset_minutes)
    thresholds = [int(x) for x in ctx.settings.level_growth]
    if local.day != 1 or len(thresholds) < 2:
        return []
    issued = sa.select(LevelCouponIssue.buyer_id).where(
        LevelCouponIssue.shop_id == Member.shop_id,
        LevelCouponIssue.buyer_id == Member.buyer_id,
        LevelCouponIssue.month == local.strftime("%Y-%m"),
    )
    stmt = (
        sa.select(Member.shop_id, Member.buyer_id)
        .where(Member.total_paid_fen - Member.refunded_fen >= thresholds[1] * 100, ~issued.exists())
        .order_by(Member.shop_id, Member.buyer_id)
        .limit(limit)
    )
    return [(shop, buyer) for shop, buyer in ctx.session.execute(stmt).all()]


def issue_level_coupon(ctx: MCtx, shop_id: str, buyer_id: str) -> CouponClaim | None:
    """This month's level coupon (MARKETING_LEVEL_COUPON_FEN of the member's level), once per member
    and month: the (shop, buyer, month) row is inserted first, so a second replica running the same
    job inserts nothing and issues nothing."""
    m = ctx.session.get(Member, (shop_id, buyer_id))
    if m is None:
        return None
    level = level_of(ctx, m)
    amounts = [int(x) for x in ctx.settings.level_coupon_fen]
    fen = amounts[min(level, len(amounts)) - 1] if amounts else 0
    month = (ctx.now + timedelta(minutes=ctx.settings.utc_offset_minutes)).strftime("%Y-%m")
    row = {"shop_id": shop_id, "buyer_id": buyer_id, "month": month, "level": level, "issued_at": ctx.now}
    if not insert_ignore(ctx.session, LevelCouponIssue.__table__, row) or fen <= 0:
        return None  # issued already (another replica), or this level has no coupon
    return issue_system_coupon(ctx, system_template(ctx, shop_id, f"{LEVEL} L{level}", fen), buyer_id, "level")


def issue_system_coupon(
    ctx: MCtx, template: CouponTemplate, buyer_id: str, reason: str, **extra: str | int
) -> CouponClaim:
    """One coupon of a marketing-issued template to the buyer, valid the template's `valid_days`;
    `CouponIssued` with the reason (and `extra` fields, e.g. the complaint it compensates)."""
    template.claimed_quantity += 1
    claim = CouponClaim(
        claim_id=new_id("CC", ctx.now),
        template_id=template.template_id,
        buyer_id=buyer_id,
        shop_id=template.shop_id,
        funded_by=domain.SHOP,
        status="available",
        valid_from=ctx.now,
        valid_until=ctx.now + timedelta(days=template.valid_days or ctx.settings.repurchase_valid_days),
        claimed_at=ctx.now,
    )
    ctx.session.add(claim)
    ctx.record(make_event("marketing.CouponIssued", coupon_payload(claim, reason=reason, **extra)))
    return claim


def system_template(
    ctx: MCtx, shop_id: str, name: str, reduction_fen: int, valid_days: int | None = None
) -> CouponTemplate:
    """The shop's template of coupons marketing issues itself (made by the first issue; no
    threshold, no quantity limit, never claimed by buyers)."""
    found = ctx.session.scalars(
        sa.select(CouponTemplate)
        .where(
            CouponTemplate.shop_id == shop_id,
            CouponTemplate.name == name,
            CouponTemplate.created_by == SYSTEM,
            CouponTemplate.reduction_fen == reduction_fen,
            CouponTemplate.valid_days == (valid_days or ctx.settings.repurchase_valid_days),
        )
        .with_for_update()
    ).first()
    if found is not None:
        return found
    template = CouponTemplate(
        template_id=new_id("CT", ctx.now),
        shop_id=shop_id,
        funded_by=domain.SHOP,
        name=name,
        status="stopped",  # issued by marketing, never claimed by buyers
        threshold_fen=0,
        reduction_fen=reduction_fen,
        valid_days=valid_days or ctx.settings.repurchase_valid_days,
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
