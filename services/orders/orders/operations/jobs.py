"""The jobs' use cases (the service itself acts): which orders are due, and one order's step."""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.clock import aware

from .. import domain
from ..models import Order
from .transitions import A, OrdersCtx, cancel, complete


def unpaid_due(ctx: OrdersCtx) -> list[str]:
    """Ids of the orders not paid within ORDERS_UNPAID_TIMEOUT_MINUTES, oldest first, one batch."""
    return list(
        ctx.session.execute(
            sa.select(Order.id)
            .where(Order.status == domain.PENDING_PAYMENT, Order.created_at <= ctx.now - ctx.settings.unpaid_timeout)
            .order_by(Order.created_at)
            .limit(ctx.settings.job_batch)
        )
        .scalars()
        .all()
    )


def close_unpaid(ctx: OrdersCtx, order: Order) -> bool:
    """Cancel an order not paid in time (OrderCancelled{was_paid: false}); False if it was paid or
    is not due (yet)."""
    timeout = ctx.settings.unpaid_timeout
    if order.status != domain.PENDING_PAYMENT or aware(order.created_at) > ctx.now - timeout:
        return False
    minutes = int(timeout.total_seconds() // 60)
    cancel(ctx, order, f"not paid within {minutes} minutes", action=A.CLOSE_UNPAID)
    return True


def confirm_due(ctx: OrdersCtx) -> list[str]:
    """Ids of the delivered orders not confirmed within ORDERS_AUTO_CONFIRM_DAYS, one batch."""
    return list(
        ctx.session.execute(
            sa.select(Order.id)
            .where(Order.status == domain.DELIVERED, Order.delivered_at <= ctx.now - ctx.settings.auto_confirm_after)
            .order_by(Order.delivered_at)
            .limit(ctx.settings.job_batch)
        )
        .scalars()
        .all()
    )


def auto_confirm(ctx: OrdersCtx, order: Order) -> bool:
    """Complete a delivered order the buyer has not confirmed in time; False if it is not due."""
    after = ctx.settings.auto_confirm_after
    if order.status != domain.DELIVERED or aware(order.delivered_at) > ctx.now - after:
        return False
    complete(ctx, order, f"auto-confirmed {after.days} days after delivery")
    return True
