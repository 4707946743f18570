"""What the buyer and the shop's staff decide on an order: review, cancel, confirm receipt."""

from __future__ import annotations

import sqlalchemy as sa

from .. import domain
from ..models import Order, TimelineEntry
from .transitions import A, OrdersCtx, cancel, complete, get, move, ready_to_ship_event


def review(ctx: OrdersCtx, order: Order, *, decision: str, reason: str | None) -> Order:
    """Decide on a held order: approve -> awaiting_shipment (OrderReadyToShip); reject -> cancelled
    (OrderCancelled: inventory releases, billing refunds)."""
    reason = (reason or "").strip()
    if decision == "approve":
        move(ctx, order, A.APPROVE, "review approved" + (f": {reason}" if reason else ""))
        ctx.record(ready_to_ship_event(order))
    else:
        cancel(ctx, order, f"review rejected: {reason}", action=A.REJECT)
    return order


def review_one(ctx: OrdersCtx, order_id: str, *, decision: str, reason: str | None) -> tuple[Order, bool]:
    """One item of a bulk review: (the order, whether it had already been decided this way).

    Idempotent: an order already approved (or rejected) by a review answers done again without a
    second event; an order no longer held for another reason (cancelled by the buyer, the opposite
    decision) is IllegalTransition (409); another shop's or a missing order is 404."""
    order = get(ctx, order_id)
    if order.status != domain.ON_HOLD and _last_decision(ctx, order) == (
        A.APPROVE if decision == "approve" else A.REJECT
    ):
        return order, True
    return review(ctx, order, decision=decision, reason=reason), False


def _last_decision(ctx: OrdersCtx, order: Order) -> str | None:
    return ctx.session.execute(
        sa.select(TimelineEntry.action)
        .where(TimelineEntry.order_id == order.id, TimelineEntry.action.in_([A.APPROVE, A.REJECT]))
        .order_by(TimelineEntry.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def cancel_by_caller(ctx: OrdersCtx, order: Order, reason: str | None) -> Order:
    """The buyer (own orders) or ops/admin cancel before shipment; without a reason, who did says."""
    if not ctx.actor.has("ops", "admin"):
        # A buyer who can see the order owns it (visible); finance/cs/warehouse cannot get here.
        default = "cancelled by the buyer"
    else:
        default = f"cancelled by {'ops' if ctx.actor.has('ops') else 'admin'}"
    cancel(ctx, order, (reason or "").strip() or default)
    return order


def confirm_receipt(ctx: OrdersCtx, order: Order) -> Order:
    """The buyer confirms receipt of a delivered order: completed, OrderCompleted (settlement T+7)."""
    complete(ctx, order, "receipt confirmed by the buyer")
    return order
