"""What the buyer and the shop's staff decide on an order: review, cancel, confirm receipt."""

from __future__ import annotations

from ..models import Order
from .transitions import A, OrdersCtx, cancel, complete, move, ready_to_ship_event


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
