"""orders' open clocks for the console's SLA board (GET /sla, CONTRACTS.md): unpaid orders against
the close timer (ORDERS_UNPAID_TIMEOUT_MINUTES) and held orders against the manual-review SOP
(ORDERS_REVIEW_TARGET_MINUTES, 30 min). Each item: {kind, id, shop_id, due_at, seconds_left, breached}."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware

from .. import domain
from ..models import Order
from .transitions import OrdersCtx

PAYMENT = "order.payment"  # pending_payment: closed by the job when the timer runs out
REVIEW = "order.review"  # on_hold: a person reviews it within the SOP's 30 minutes


def open_clocks(ctx: OrdersCtx, where: sa.ColumnElement[bool], limit: int) -> list[dict[str, Any]]:
    """The running clocks of the orders `where` selects (the caller's scope), earliest deadline first;
    at most `limit` of each kind, the oldest."""
    unpaid = ctx.session.execute(
        sa.select(Order.id, Order.shop_id, Order.created_at)
        .where(where, Order.status == domain.PENDING_PAYMENT)
        .order_by(Order.created_at, Order.id)
        .limit(limit)
    ).all()
    held = ctx.session.execute(
        sa.select(Order.id, Order.shop_id, Order.held_at)
        .where(where, Order.status == domain.ON_HOLD, Order.held_at.is_not(None))
        .order_by(Order.held_at, Order.id)
        .limit(limit)
    ).all()
    items = [_item(PAYMENT, row, aware(row[2]) + ctx.settings.unpaid_timeout, ctx.now) for row in unpaid]
    review = timedelta(minutes=ctx.settings.review_target_minutes)
    items += [_item(REVIEW, row, aware(row[2]) + review, ctx.now) for row in held]
    items.sort(key=lambda i: (i["due_at"], i["id"]))
    return items


def _item(kind: str, row: Any, due: datetime, now: datetime) -> dict[str, Any]:
    left = int((due - now).total_seconds())
    return {"kind": kind, "id": row[0], "shop_id": row[1], "due_at": due, "seconds_left": left, "breached": left < 0}
