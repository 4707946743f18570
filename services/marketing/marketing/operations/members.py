"""Members and points: built from orders' and billing's events; points earned on completion,
taken back by refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ecom_common.db import insert_ignore
from ecom_common.events import make_event

from .. import domain
from ..models import Member, MemberOrder
from .common import MCtx, PaidOrder


def member(ctx: MCtx, shop_id: str, buyer_id: str) -> dict[str, Any]:
    """The buyer's membership of the shop with its level (a buyer who never paid there holds
    nothing yet)."""
    ctx.require_visible(shop_id, buyer_id, what="member")
    row = ctx.session.get(Member, (shop_id, buyer_id)) or Member(**_empty_member(shop_id, buyer_id))
    out = {c.key: getattr(row, c.key) for c in Member.__table__.columns}
    return {**out, "level": level_of(ctx, row), "growth": max(row.total_paid_fen - row.refunded_fen, 0) // 100}


def _member_row(ctx: MCtx, shop_id: str, buyer_id: str) -> Member:
    insert_ignore(ctx.session, Member.__table__, _empty_member(shop_id, buyer_id))
    row = ctx.session.get(Member, (shop_id, buyer_id), with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def _empty_member(shop_id: str, buyer_id: str) -> dict[str, Any]:
    zero = ("paid_orders", "total_paid_fen", "completed_orders", "refunds", "refunded_fen", "points")
    return {"shop_id": shop_id, "buyer_id": buyer_id, "tier": domain.NEW, **dict.fromkeys(zero, 0)}


def record_paid(ctx: MCtx, order: PaidOrder) -> bool:
    """A paid order counts once for its member: first and last paid, paid orders, total paid."""
    if order.buyer_id is None:
        return False
    row = {"order_id": order.order_id, "shop_id": order.shop_id, "buyer_id": order.buyer_id, "paid_fen": order.paid_fen}
    if not insert_ignore(ctx.session, MemberOrder.__table__, {**row, "refunded_fen": 0, **_zero_points()}):
        return False
    m = _member_row(ctx, order.shop_id, order.buyer_id)
    m.first_paid_at = m.first_paid_at or ctx.now
    m.last_paid_at = ctx.now
    m.paid_orders += 1
    m.total_paid_fen += order.paid_fen
    retier(ctx, m)
    return True


def complete_order(ctx: MCtx, order: PaidOrder, completed_at: datetime) -> int | None:
    """orders.OrderCompleted: points for what was paid. An order whose payment marketing never saw
    (paid before marketing ran) counts as paid now when its buyer is known; None when it is not
    (the caller retries: the payment may be on its way)."""
    record_paid(ctx, order)
    return earn_points(ctx, order.order_id, completed_at)


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
    retier(ctx, m)
    if order.completed_at is None or order.paid_fen == 0:
        return 0  # nothing earned yet: completion earns on what is left
    due = order.points_earned * order.refunded_fen // order.paid_fen - order.points_taken_back
    due = max(min(due, m.points), 0)
    order.points_taken_back += due
    m.points -= due
    return due


def add_points(ctx: MCtx, shop_id: str, buyer_id: str, points: int) -> None:
    _member_row(ctx, shop_id, buyer_id).points += points


def retier(ctx: MCtx, m: Member) -> None:
    """The member's tier from their paid orders and net paid (MemberTierChanged when it moves)."""
    rules = domain.TierRules(ctx.settings.tier_active_orders, ctx.settings.tier_high_value_fen)
    tier = domain.member_tier(m.paid_orders, m.total_paid_fen - m.refunded_fen, rules)
    if tier != m.tier:
        payload = {"shop_id": m.shop_id, "buyer_id": m.buyer_id, "from_tier": m.tier, "tier": tier}
        m.tier = tier
        ctx.record(make_event("marketing.MemberTierChanged", payload))


def level_of(ctx: MCtx, m: Member) -> int:
    """The member's level by growth value: whole yuan paid net of refunds."""
    growth = max(m.total_paid_fen - m.refunded_fen, 0) // 100
    return domain.member_level(growth, tuple(int(x) for x in ctx.settings.level_growth))
