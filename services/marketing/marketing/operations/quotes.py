"""Quotes: an order priced (domain.price_order) and its coupons and points locked for it; what
orders' events do to the lock (placed, paid: used, cancelled or timed out: released)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.db import insert_ignore
from ecom_common.errors import ConcurrentChange, LostRace, RuleViolation
from ecom_common.events import make_event

from .. import domain
from ..models import CouponClaim, CouponTemplate, Member, OrderQuote
from . import campaigns
from .common import TIMEOUT, MCtx, PaidOrder
from .coupons import coupon_payload
from .members import add_points, record_paid, take_back_points
from .promotions import active_promotions, active_rules, grant_gifts


def quote(ctx: MCtx, body: dict[str, Any]) -> dict[str, Any]:
    """Price an order (domain.price_order) and, when `order_id` is given, lock its coupons and
    points for that order. Asked again with the same order id, it answers the stored quote."""
    shop_id, buyer_id, order_id = body["shop_id"], body["buyer_id"], body.get("order_id")
    if order_id is not None:
        stored = ctx.session.get(OrderQuote, order_id)
        if stored is not None:
            return _stored(stored, shop_id, buyer_id)
    claims = _claims_for(ctx, body.get("coupon_claim_ids") or [], shop_id=shop_id, buyer_id=buyer_id)
    member = ctx.session.get(Member, (shop_id, buyer_id))
    points = body.get("points") or 0
    if points > (member.points if member else 0):
        raise domain.CouponRefusedError(
            "not_enough_points", f"the buyer holds {member.points if member else 0} points", "points"
        )
    terms = {c.funded_by: _terms(ctx, c) for c in claims}
    local = ctx.now + timedelta(minutes=ctx.settings.utc_offset_minutes)
    pricing = domain.PricingIn(
        lines=tuple(domain.LineIn(**line) for line in body["lines"]),
        at=ctx.now,
        local_minute=local.hour * 60 + local.minute,
        is_member=member is not None and member.paid_orders > 0,
        first_order=member is None or member.paid_orders == 0,
        shop_coupon=terms.get(domain.SHOP),
        platform_coupon=terms.get(domain.PLATFORM),
        points=points,
        points_cap_percent=ctx.settings.points_max_percent,
    )
    priced, needs = _within_budgets(ctx, pricing, shop_id=shop_id, lock=order_id is not None)
    out = quote_body(priced, shop_id=shop_id, buyer_id=buyer_id, order_id=order_id)
    if order_id is not None:
        _lock(ctx, out, claims, needs)
    return out


def _within_budgets(
    ctx: MCtx, pricing: domain.PricingIn, *, shop_id: str, lock: bool
) -> tuple[domain.Quote, dict[str, int]]:
    """Price with the shop's promotions; a campaign whose subsidy left cannot pay its promotions'
    discounts stops applying them, and the order is priced again without them. With `lock`, the
    subsidies are reserved (campaigns.reserve: never overspent)."""
    spent: frozenset[str] = frozenset()
    while True:
        rows = active_promotions(ctx, shop_id, spent)
        priced = domain.price_order(replace(pricing, **active_rules(rows)))
        needs = campaigns.subsidy_needs(priced, {p.promotion_id: p.campaign_id for p in rows if p.campaign_id})
        short = campaigns.reserve(ctx, needs) if lock else campaigns.short_of(ctx, needs)
        if not short:
            return priced, needs
        spent |= frozenset(short)


def _stored(stored: OrderQuote, shop_id: str, buyer_id: str) -> dict[str, Any]:
    if (stored.shop_id, stored.buyer_id) != (shop_id, buyer_id):
        raise RuleViolation("this order id was quoted for another buyer or shop", {"order_id": ["taken"]})
    return dict(stored.body)


def _claims_for(ctx: MCtx, claim_ids: list[str], *, shop_id: str, buyer_id: str) -> list[CouponClaim]:
    claims = []
    for claim_id in sorted(set(claim_ids)):
        claim = ctx.session.get(CouponClaim, claim_id)
        if claim is None:
            raise domain.CouponRefusedError("unknown", f"no coupon claim {claim_id}")
        view = domain.ClaimView(
            claim.claim_id,
            claim.buyer_id,
            claim.shop_id,
            claim.status,
            claim.order_id,
            aware(claim.valid_from),
            aware(claim.valid_until),
        )
        domain.coupon_refusal(view, buyer_id=buyer_id, shop_id=shop_id, order_id=None, at=ctx.now)
        claims.append(claim)
    if len({c.funded_by for c in claims}) != len(claims):
        raise domain.CouponRefusedError("one_per_kind", "at most one shop coupon and one platform coupon per order")
    return claims


def _terms(ctx: MCtx, claim: CouponClaim) -> domain.CouponTerms:
    t = ctx.session.get(CouponTemplate, claim.template_id)
    assert t is not None
    return domain.CouponTerms(
        claim.claim_id,
        claim.funded_by,
        t.reduction_fen,
        t.threshold_fen,
        tuple(t.sku_codes or ()),
        tuple(t.category_ids or ()),
    )


def quote_body(q: domain.Quote, *, shop_id: str, buyer_id: str, order_id: str | None) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "shop_id": shop_id,
        "buyer_id": buyer_id,
        "lines": [vars(line) for line in q.lines],
        "discounts": [vars(row) for row in q.discounts],
        "list_total_fen": q.list_total_fen,
        "discount_fen": q.discount_fen,
        "payable_fen": q.payable_fen,
        "points_used": q.points_used,
        "locked": order_id is not None,
    }


def _lock(ctx: MCtx, out: dict[str, Any], claims: list[CouponClaim], subsidy: dict[str, int]) -> None:
    """Lock the claims and points for the order (its campaigns' subsidy is reserved already), or
    nothing at all (the caller rolls back)."""
    order_id = out["order_id"]
    row = {
        "order_id": order_id,
        "shop_id": out["shop_id"],
        "buyer_id": out["buyer_id"],
        "status": "locked",
        "claim_ids": [c.claim_id for c in claims],
        "points": out["points_used"],
        "payable_fen": out["payable_fen"],
        "body": out,
        "subsidy": subsidy,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    if not insert_ignore(ctx.session, OrderQuote.__table__, row):
        raise ConcurrentChange("this order is being quoted by another request; ask again")
    for claim in claims:
        won = ctx.session.execute(
            sa.update(CouponClaim)
            .where(CouponClaim.claim_id == claim.claim_id, CouponClaim.status == "available")
            .values(status="locked", order_id=order_id, locked_at=ctx.now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            raise domain.CouponRefusedError("locked", "the coupon is held by another order")
    if out["points_used"]:
        spent = ctx.session.execute(
            sa.update(Member)
            .where(
                Member.shop_id == out["shop_id"],
                Member.buyer_id == out["buyer_id"],
                Member.points >= out["points_used"],
            )
            .values(points=Member.points - out["points_used"])
            .execution_options(synchronize_session=False)
        ).rowcount
        if spent != 1:
            raise domain.CouponRefusedError("not_enough_points", "the buyer no longer holds these points", "points")


# What orders' events do ----------------------------------------------------------------------
def apply_payment(ctx: MCtx, order: PaidOrder) -> None:
    """orders.OrderPaid: the order's locked coupons are used; the member counts the paid order; the
    shop's first-N gift promotions grant it a gift while they have gifts left."""
    order_paid(ctx, order.order_id, order.paid_fen)
    record_paid(ctx, order)
    grant_gifts(ctx, order)


def order_placed(ctx: MCtx, order_id: str) -> bool:
    """The order appeared: its locks stay until it is paid or cancelled (no timeout)."""
    return _move_quote(ctx, order_id, ("locked",), "placed")


def order_paid(ctx: MCtx, order_id: str, paid_fen: int = 0) -> list[str]:
    """Paid: the order's locked claims are used (one claim pays for one order only); its GMV counts
    for the campaigns whose promotions it used."""
    if _move_quote(ctx, order_id, ("locked", "placed"), "paid"):
        quote_row = ctx.session.get(OrderQuote, order_id)
        assert quote_row is not None
        campaigns.attribute(ctx, dict(quote_row.subsidy or {}), paid_fen)
    claims = _locked_by(ctx, order_id)
    for claim in claims:
        claim.status, claim.used_at = "used", ctx.now
        ctx.record(make_event("marketing.CouponUsed", coupon_payload(claim, order_id=order_id)))
    return [c.claim_id for c in claims]


def release_order(ctx: MCtx, order_id: str, reason: str) -> list[str]:
    """Cancelled (or, reason TIMEOUT, never placed within the timeout): the order's locked claims
    go back to their buyer, the points it redeemed back to the member (also after payment: the
    money is refunded, so are the points). A claim already used stays used."""
    quote_row = ctx.session.get(OrderQuote, order_id)
    if quote_row is None or quote_row.status in ("cancelled", "expired"):
        return []
    was = quote_row.status
    if reason == TIMEOUT and was != "locked":
        return []  # the order appeared meanwhile: its locks stay
    if not _move_quote(ctx, order_id, (was,), "expired" if reason == TIMEOUT else "cancelled"):
        raise LostRace(f"the quote of order {order_id} changed meanwhile")
    ctx.session.refresh(quote_row)  # the row is ours now: what a refund committed meanwhile returned
    released = []
    for claim in _locked_by(ctx, order_id):
        claim.status, claim.order_id, claim.locked_at = "available", None, None
        released.append(claim.claim_id)
        ctx.record(make_event("marketing.CouponReleased", coupon_payload(claim, order_id=order_id, reason=reason)))
    if quote_row.points:
        add_points(ctx, quote_row.shop_id, quote_row.buyer_id, quote_row.points)
    # the subsidy goes back to its budgets, but for what refunds of the paid order returned already
    reserved, returned = dict(quote_row.subsidy or {}), dict(quote_row.subsidy_returned or {})
    campaigns.release(ctx, {c: n - returned.get(c, 0) for c, n in reserved.items() if n > returned.get(c, 0)})
    if reserved:
        quote_row.subsidy_returned = reserved
    return released


def return_subsidy(ctx: MCtx, order_id: str, refunded_fen: int) -> dict[str, int] | None:
    """billing.RefundSucceeded of a paid order: its campaigns get back the refunded share of the
    subsidy its quote reserved (domain.subsidy_due: never more than reserved, whatever the refunds
    add up to, and not again what a cancellation returned). The quote moves by conditional UPDATE on
    what was read (status and refunded so far): a concurrent refund or cancellation -> LostRace,
    retried. None if the order was not paid through a quote (nothing reserved to return)."""
    quote_row = ctx.session.get(OrderQuote, order_id)
    if quote_row is None or quote_row.status != "paid":
        return None
    seen = quote_row.refunded_fen or 0
    total = min(seen + max(refunded_fen, 0), quote_row.payable_fen)
    reserved, returned = dict(quote_row.subsidy or {}), dict(quote_row.subsidy_returned or {})
    due = domain.subsidy_due(reserved, returned, total, quote_row.payable_fen)
    after = {c: returned.get(c, 0) + due.get(c, 0) for c in reserved}
    moved = ctx.session.execute(
        sa.update(OrderQuote)
        .where(OrderQuote.order_id == order_id, OrderQuote.status == "paid", OrderQuote.refunded_fen == seen)
        .values(refunded_fen=total, subsidy_returned=after or None, updated_at=ctx.now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise LostRace(f"the quote of order {order_id} changed meanwhile")
    campaigns.release(ctx, due)
    return due


def _move_quote(ctx: MCtx, order_id: str, from_statuses: tuple[str, ...], to: str) -> bool:
    return bool(
        ctx.session.execute(
            sa.update(OrderQuote)
            .where(OrderQuote.order_id == order_id, OrderQuote.status.in_(from_statuses))
            .values(status=to, updated_at=ctx.now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def _locked_by(ctx: MCtx, order_id: str) -> list[CouponClaim]:
    stmt = sa.select(CouponClaim).where(CouponClaim.order_id == order_id, CouponClaim.status == "locked")
    return list(ctx.session.scalars(stmt.order_by(CouponClaim.claim_id).with_for_update()).all())


def stale_quotes(ctx: MCtx, limit: int = 100) -> list[str]:
    """The quotes whose order never appeared within MARKETING_LOCK_TIMEOUT_MINUTES (order ids)."""
    cutoff = ctx.now - timedelta(minutes=ctx.settings.lock_timeout_minutes)
    stale = ctx.session.scalars(
        sa.select(OrderQuote.order_id)
        .where(OrderQuote.status == "locked", OrderQuote.created_at < cutoff)
        .order_by(OrderQuote.created_at)
        .limit(limit)
    ).all()
    return list(stale)


def apply_refund(ctx: MCtx, order_id: str, refunded_fen: int) -> int | None:
    """billing.RefundSucceeded: the points the refunded share earned are taken back, and the refunded
    share of the campaign subsidy the order reserved is returned. The points taken back, None if
    marketing never saw the order paid."""
    return_subsidy(ctx, order_id, refunded_fen)
    return take_back_points(ctx, order_id, refunded_fen)
