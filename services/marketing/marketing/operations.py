"""marketing's use cases, `verb(ctx, thing, ...)`: shared by the API views, the event handlers and
the jobs. Operations never commit; whoever opened the unit of work does.

Concurrency is safe by construction, in the SQL condition of the UPDATE that moves a counter or a
status (never read-then-write):
- a template's quantity: `claimed_quantity + 1 WHERE claimed_quantity < total_quantity`;
- a buyer's limit: `claimed + 1 WHERE claimed < per_buyer_limit` on (template, buyer);
- a claim's lock: `status = 'locked' WHERE status = 'available'`, so of many orders racing for one
  claim exactly one matches; the losers read who holds it and answer 422 `locked`;
- points: `points - n WHERE points >= n`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.db import insert_ignore
from ecom_common.errors import ConcurrentChange, LostRace, NotFound, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from . import domain
from .models import BuyerClaimCount, CouponClaim, CouponTemplate, Gift, Member, MemberOrder, OrderQuote, Promotion
from .settings import Settings

MCtx = Ctx[Settings]
TIMEOUT = "timeout"  # the reason of a release by the lock timeout (release-stale-locks)


# Promotions ---------------------------------------------------------------------------------
def create_promotion(ctx: MCtx, shop_id: str, body: dict[str, Any]) -> Promotion:
    if body["ends_at"] <= body["starts_at"]:
        raise RuleViolation("a promotion ends after it starts", {"ends_at": ["must be after starts_at"]})
    promotion = Promotion(
        promotion_id=new_id("PR", ctx.now),
        shop_id=shop_id,
        kind=body["kind"],
        name=body["name"],
        status="active",
        starts_at=body["starts_at"],
        ends_at=body["ends_at"],
        terms=body["terms"],
        gift_limit=body["terms"].get("gift_limit") if body["kind"] == "first_n_gift" else None,
        gifts_granted=0,
        created_at=ctx.now,
        created_by=ctx.actor.id,
    )
    ctx.session.add(promotion)
    ctx.session.flush()
    return promotion


def get_promotion(ctx: MCtx, promotion_id: str) -> Promotion:
    promotion = ctx.session.get(Promotion, promotion_id)
    if promotion is None:
        raise NotFound("promotion not found")
    ctx.require_visible(promotion.shop_id, what="promotion")
    return promotion


def end_promotion(ctx: MCtx, promotion_id: str) -> Promotion:
    """Stop a promotion now: quotes from now on do not apply it (idempotent)."""
    promotion = get_promotion(ctx, promotion_id)
    promotion.status = "ended"
    return promotion


def active_rules(ctx: MCtx, shop_id: str) -> dict[str, tuple[Any, ...]]:
    rows = ctx.session.scalars(
        sa.select(Promotion).where(
            Promotion.shop_id == shop_id,
            Promotion.status == "active",
            Promotion.starts_at <= ctx.now,
            Promotion.ends_at > ctx.now,
        )
    ).all()
    timed, reductions, first = [], [], []
    for p in rows:
        t = p.terms
        if p.kind == "timed_discount":
            window = (t["window_start"], t["window_end"]) if t.get("window_start") is not None else None
            timed.append(
                domain.TimedDiscount(
                    p.promotion_id, tuple(t["sku_codes"]), t["rate_bps"], aware(p.starts_at), aware(p.ends_at), window
                )
            )
        elif p.kind == "full_reduction":
            tiers = tuple(domain.Tier(x["threshold_fen"], x["reduction_fen"]) for x in t["tiers"])
            reductions.append(domain.FullReduction(p.promotion_id, tiers, t.get("per_every", False), t.get("cap_fen")))
        elif p.kind == "first_order":
            first.append(domain.FirstOrderDiscount(p.promotion_id, t["reduction_fen"], t.get("threshold_fen", 0)))
    return {"timed": tuple(timed), "reductions": tuple(reductions), "first_order_offers": tuple(first)}


# Coupon templates and claims -----------------------------------------------------------------
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


# Quotes -------------------------------------------------------------------------------------
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
    priced = domain.price_order(
        domain.PricingIn(
            lines=tuple(domain.LineIn(**line) for line in body["lines"]),
            at=ctx.now,
            local_minute=local.hour * 60 + local.minute,
            is_member=member is not None and member.paid_orders > 0,
            first_order=member is None or member.paid_orders == 0,
            shop_coupon=terms.get(domain.SHOP),
            platform_coupon=terms.get(domain.PLATFORM),
            points=points,
            points_cap_percent=ctx.settings.points_max_percent,
            **active_rules(ctx, shop_id),
        )
    )
    out = quote_body(priced, shop_id=shop_id, buyer_id=buyer_id, order_id=order_id)
    if order_id is not None:
        _lock(ctx, out, claims)
    return out


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


def _lock(ctx: MCtx, out: dict[str, Any], claims: list[CouponClaim]) -> None:
    """Lock the claims and points for the order, or nothing at all (the caller rolls back)."""
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
def apply_payment(ctx: MCtx, order_id: str, *, shop_id: str, buyer_id: str | None, paid_fen: int) -> None:
    """orders.OrderPaid: the order's locked coupons are used; the member counts the paid order; the
    shop's first-N gift promotions grant it a gift while they have gifts left."""
    order_paid(ctx, order_id)
    if buyer_id:
        record_paid(ctx, order_id, shop_id=shop_id, buyer_id=buyer_id, paid_fen=paid_fen)
        grant_gifts(ctx, order_id, shop_id=shop_id, buyer_id=buyer_id, paid_fen=paid_fen)


def grant_gifts(ctx: MCtx, order_id: str, *, shop_id: str, buyer_id: str, paid_fen: int) -> list[str]:
    """First N payers get a gift (GiftGranted, for the pick list): N counted by conditional UPDATE
    (`gifts_granted + 1 WHERE gifts_granted < gift_limit`), so 300 concurrent payers of a first-100
    gift get exactly 100. One gift per order and promotion (a repeated payment grants nothing)."""
    offers = ctx.session.scalars(
        sa.select(Promotion).where(
            Promotion.shop_id == shop_id,
            Promotion.kind == "first_n_gift",
            Promotion.status == "active",
            Promotion.starts_at <= ctx.now,
            Promotion.ends_at > ctx.now,
        )
    ).all()
    granted = []
    for offer in offers:
        if paid_fen < offer.terms.get("threshold_fen", 0):
            continue
        row = {
            "order_id": order_id,
            "promotion_id": offer.promotion_id,
            "shop_id": shop_id,
            "buyer_id": buyer_id,
            "gift_sku_code": offer.terms["gift_sku_code"],
            "granted_at": ctx.now,
        }
        if not insert_ignore(ctx.session, Gift.__table__, row):
            continue
        won = ctx.session.execute(
            sa.update(Promotion)
            .where(Promotion.promotion_id == offer.promotion_id, Promotion.gifts_granted < Promotion.gift_limit)
            .values(gifts_granted=Promotion.gifts_granted + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:  # all given: no gift for this order
            ctx.session.execute(
                sa.delete(Gift).where(Gift.order_id == order_id, Gift.promotion_id == offer.promotion_id)
            )
            continue
        payload = {k: row[k] for k in ("order_id", "shop_id", "buyer_id", "promotion_id", "gift_sku_code")}
        ctx.record(make_event("marketing.GiftGranted", {**payload, "quantity": 1}))
        granted.append(offer.promotion_id)
    return granted


def order_placed(ctx: MCtx, order_id: str) -> bool:
    """The order appeared: its locks stay until it is paid or cancelled (no timeout)."""
    return _move_quote(ctx, order_id, ("locked",), "placed")


def order_paid(ctx: MCtx, order_id: str) -> list[str]:
    """Paid: the order's locked claims are used (one claim pays for one order only)."""
    _move_quote(ctx, order_id, ("locked", "placed"), "paid")
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
    released = []
    for claim in _locked_by(ctx, order_id):
        claim.status, claim.order_id, claim.locked_at = "available", None, None
        released.append(claim.claim_id)
        ctx.record(make_event("marketing.CouponReleased", coupon_payload(claim, order_id=order_id, reason=reason)))
    if quote_row.points:
        _add_points(ctx, quote_row.shop_id, quote_row.buyer_id, quote_row.points)
    return released


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


# Members and points -------------------------------------------------------------------------
def member(ctx: MCtx, shop_id: str, buyer_id: str) -> Member:
    """The buyer's membership of the shop (a buyer who never paid there holds nothing yet)."""
    ctx.require_visible(shop_id, buyer_id, what="member")
    row = ctx.session.get(Member, (shop_id, buyer_id))
    return row or Member(**_empty_member(shop_id, buyer_id))


def _member_row(ctx: MCtx, shop_id: str, buyer_id: str) -> Member:
    insert_ignore(ctx.session, Member.__table__, _empty_member(shop_id, buyer_id))
    row = ctx.session.get(Member, (shop_id, buyer_id), with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def _empty_member(shop_id: str, buyer_id: str) -> dict[str, Any]:
    zero = ("paid_orders", "total_paid_fen", "completed_orders", "refunds", "refunded_fen", "points")
    return {"shop_id": shop_id, "buyer_id": buyer_id, **dict.fromkeys(zero, 0)}


def record_paid(ctx: MCtx, order_id: str, *, shop_id: str, buyer_id: str, paid_fen: int) -> bool:
    """A paid order counts once for its member: first and last paid, paid orders, total paid."""
    row = {"order_id": order_id, "shop_id": shop_id, "buyer_id": buyer_id, "paid_fen": paid_fen}
    if not insert_ignore(ctx.session, MemberOrder.__table__, {**row, "refunded_fen": 0, **_zero_points()}):
        return False
    m = _member_row(ctx, shop_id, buyer_id)
    m.first_paid_at = m.first_paid_at or ctx.now
    m.last_paid_at = ctx.now
    m.paid_orders += 1
    m.total_paid_fen += paid_fen
    return True


def _zero_points() -> dict[str, int]:
    return {"points_earned": 0, "points_taken_back": 0}


def earn_points(ctx: MCtx, order_id: str, completed_at: datetime) -> int | None:
    """Completed: points for what the order paid less what was refunded (MARKETING_POINTS_PER_YUAN
    per whole yuan). None when the order's payment is not known yet (the caller retries)."""
    order = ctx.session.get(MemberOrder, order_id, with_for_update=True)
    if order is None:
        return None
    if order.completed_at is not None:
        return 0
    order.completed_at = completed_at.astimezone(UTC)
    points = max(order.paid_fen - order.refunded_fen, 0) // 100 * ctx.settings.points_per_yuan
    order.points_earned = points
    m = _member_row(ctx, order.shop_id, order.buyer_id)
    m.completed_orders += 1
    m.points += points
    if points:
        payload = {
            "shop_id": order.shop_id,
            "buyer_id": order.buyer_id,
            "order_id": order_id,
            "points": points,
            "balance": m.points,
        }
        ctx.record(make_event("marketing.PointsEarned", payload))
    return points


def take_back_points(ctx: MCtx, order_id: str, refunded_fen: int) -> int | None:
    """A refund takes back the points the refunded share earned (never more than were earned, and
    never below zero held: what was already spent stays spent). None: the order is unknown."""
    order = ctx.session.get(MemberOrder, order_id, with_for_update=True)
    if order is None:
        return None
    order.refunded_fen = min(order.refunded_fen + refunded_fen, order.paid_fen)
    m = _member_row(ctx, order.shop_id, order.buyer_id)
    m.refunds += 1
    m.refunded_fen += refunded_fen
    if order.completed_at is None or order.paid_fen == 0:
        return 0  # nothing earned yet: completion earns on what is left
    due = order.points_earned * order.refunded_fen // order.paid_fen - order.points_taken_back
    due = max(min(due, m.points), 0)
    order.points_taken_back += due
    m.points -= due
    return due


def _add_points(ctx: MCtx, shop_id: str, buyer_id: str, points: int) -> None:
    _member_row(ctx, shop_id, buyer_id).points += points
