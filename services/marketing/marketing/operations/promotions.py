"""Promotions: a shop's 满减, time-bound discounts, first-order discounts and gifts (first N payers,
buy N get a gift, gift over an amount)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.db import insert_ignore
from ecom_common.errors import NotFound, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id

from .. import domain
from ..models import Campaign, Gift, Promotion
from .common import MCtx, PaidOrder


def create_promotion(ctx: MCtx, shop_id: str, body: dict[str, Any]) -> Promotion:
    if body["ends_at"] <= body["starts_at"]:
        raise RuleViolation("a promotion ends after it starts", {"ends_at": ["must be after starts_at"]})
    campaign_id = body.get("campaign_id")
    if campaign_id is not None:
        campaign = ctx.session.get(Campaign, campaign_id)
        if campaign is None or campaign.shop_id != shop_id:
            raise RuleViolation("no such campaign in this shop", {"campaign_id": ["unknown"]})
    promotion = Promotion(
        promotion_id=new_id("PR", ctx.now),
        shop_id=shop_id,
        kind=body["kind"],
        name=body["name"],
        status="active",
        starts_at=body["starts_at"],
        ends_at=body["ends_at"],
        terms=body["terms"],
        campaign_id=campaign_id,
        gift_limit=body["terms"].get("gift_limit") if body["kind"] in domain.GIFT_KINDS else None,
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


def active_promotions(ctx: MCtx, shop_id: str, spent: frozenset[str] = frozenset()) -> list[Promotion]:
    """The shop's promotions applying now, but for those of the campaigns in `spent`."""
    stmt = sa.select(Promotion).where(
        Promotion.shop_id == shop_id,
        Promotion.status == "active",
        Promotion.starts_at <= ctx.now,
        Promotion.ends_at > ctx.now,
    )
    if spent:
        stmt = stmt.where(sa.or_(Promotion.campaign_id.is_(None), Promotion.campaign_id.not_in(spent)))
    return list(ctx.session.scalars(stmt).all())


def active_rules(rows: list[Promotion]) -> dict[str, tuple[Any, ...]]:
    """The engine's rules of these promotions (domain.PricingIn's fields)."""
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


def grant_gifts(ctx: MCtx, order: PaidOrder) -> list[str]:
    """The shop's gift promotions grant a paid order its gifts (GiftGranted, for the pick list): how
    many by the promotion's rule (domain.gifts_earned), the gifts left counted by conditional UPDATE
    (`gifts_granted + n WHERE gifts_granted + n <= gift_limit`; no limit: counted, never refused), so
    300 concurrent payers of a first-100 gift get exactly 100. An order earning more gifts than are
    left gets what is left. One grant per order and promotion (a repeated payment grants nothing)."""
    offers = ctx.session.scalars(
        sa.select(Promotion).where(
            Promotion.shop_id == order.shop_id,
            Promotion.kind.in_(domain.GIFT_KINDS),
            Promotion.status == "active",
            Promotion.starts_at <= ctx.now,
            Promotion.ends_at > ctx.now,
        )
    ).all()
    granted = []
    for offer in offers:
        earned = domain.gifts_earned(gift_terms(offer), order.paid_fen, order.lines)
        if order.buyer_id is None or earned < 1:
            continue
        row = {
            "order_id": order.order_id,
            "promotion_id": offer.promotion_id,
            "shop_id": order.shop_id,
            "buyer_id": order.buyer_id,
            "gift_sku_code": offer.terms["gift_sku_code"],
            "granted_at": ctx.now,
        }
        if not insert_ignore(ctx.session, Gift.__table__, row):
            continue
        quantity = take_gifts(ctx, offer, earned)
        if quantity == 0:  # all given: no gift for this order
            ctx.session.execute(
                sa.delete(Gift).where(Gift.order_id == order.order_id, Gift.promotion_id == offer.promotion_id)
            )
            continue
        payload = {k: row[k] for k in ("order_id", "shop_id", "buyer_id", "promotion_id", "gift_sku_code")}
        ctx.record(make_event("marketing.GiftGranted", {**payload, "quantity": quantity}))
        granted.append(offer.promotion_id)
    return granted


def gift_terms(offer: Promotion) -> domain.GiftTerms:
    terms = offer.terms
    return domain.GiftTerms(
        kind=offer.kind,
        threshold_fen=int(terms.get("threshold_fen") or 0),
        buy_quantity=int(terms.get("buy_quantity") or 0),
        sku_codes=tuple(terms.get("sku_codes") or ()),
    )


def take_gifts(ctx: MCtx, offer: Promotion, wanted: int) -> int:
    """Count `wanted` gifts out of the promotion's limit by conditional UPDATE, or what is left if
    fewer (the second UPDATE is conditional too: a concurrent payer taking the rest leaves 0)."""
    for n in (wanted, None):
        if n is None:  # fewer left than wanted: take what a fresh read says is left, still guarded
            left = ctx.session.execute(
                sa.select(Promotion.gift_limit - Promotion.gifts_granted).where(
                    Promotion.promotion_id == offer.promotion_id
                )
            ).scalar_one()
            if left is None or left < 1:
                return 0
            n = min(wanted, int(left))
        won = ctx.session.execute(
            sa.update(Promotion)
            .where(
                Promotion.promotion_id == offer.promotion_id,
                sa.or_(Promotion.gift_limit.is_(None), Promotion.gifts_granted + n <= Promotion.gift_limit),
            )
            .values(gifts_granted=Promotion.gifts_granted + n)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1:
            return n
    return 0
