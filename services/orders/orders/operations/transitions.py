"""What every use case stands on: the context type, reading an order (as the caller may see it), the
guarded transition with its timeline entry, and the transitions several use cases share (cancel,
complete) with the events they emit.

Every transition is one conditional UPDATE (`... WHERE id = :id AND status = :expected`): if another
request, handler or job moved the order first, nothing is written and ConcurrentChange is raised
(409 over HTTP; a retried message in a handler, which then sees the new status)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ecom_common.clock import aware, iso
from ecom_common.errors import ConcurrentChange, NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from .. import domain
from ..models import Order, TimelineEntry
from ..settings import Settings

A = domain.Action
OrdersCtx = Ctx[Settings]


# Reading -------------------------------------------------------------------------------------------------
def load_order(session, order_id: str) -> Order | None:
    """One order with its lines, in one query (handlers and views act on both; the timeline is
    loaded only when read)."""
    return session.get(Order, order_id, options=[joinedload(Order.lines)])


def find(ctx: OrdersCtx, order_id: str) -> Order | None:
    """The order, or None if there is none (for handlers and jobs, which see every order)."""
    return load_order(ctx.session, order_id)


def get(ctx: OrdersCtx, order_id: str) -> Order:
    """The order as the caller may see it: another tenant's order is 404, like a missing one."""
    order = load_order(ctx.session, order_id)
    if order is None:
        raise NotFound("order not found")
    ctx.require_visible(order.shop_id, order.buyer_id, "order")
    return order


# Transitions: the guarded update and the timeline ------------------------------------------------------------
def note(ctx: OrdersCtx, order: Order, action: str, reason: str) -> None:
    """A timeline entry that changes no status (a failed payment, a refund, an ignored late event)."""
    ctx.session.add(
        TimelineEntry(
            order_id=order.id,
            status=order.status,
            from_status=order.status,
            action=action,
            at=ctx.now,
            by=ctx.actor.id,
            reason=(reason or "")[:500],
        )
    )


def move(ctx: OrdersCtx, order: Order, action: str, reason: str | None, **changes: Any) -> str:
    """Apply `action` with a conditional update; write the timeline entry. Returns the new status."""
    expected = order.status
    target = domain.next_status(expected, action)
    result = ctx.session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.status == expected)
        .values(status=target, updated_at=ctx.now, **changes)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        lost = ConcurrentChange(f"order {order.id} changed while this request ran (it was {expected}); retry")
        lost.errors = {"status": ["Changed concurrently."]}  # the problem names what changed
        raise lost
    ctx.session.add(
        TimelineEntry(
            order_id=order.id,
            status=target,
            from_status=expected,
            action=action,
            at=ctx.now,
            by=ctx.actor.id,
            reason=(reason or "")[:500] or None,
        )
    )
    return target


def lines_payload(order: Order) -> list[dict]:
    return [
        {
            "sku_code": line.sku_code,
            "quantity": line.quantity,
            "unit_price_fen": line.unit_price_fen,
            "list_price_fen": line.list_price_fen,
            "discount_fen": line.discount_fen,
            "paid_fen": line.paid_fen,
            "category_id": line.category_id,
        }
        for line in order.lines
    ]


def discounts_payload(order: Order) -> list[dict]:
    """One row per (line, source) of marketing's quote, with who funds it (shop | platform)."""
    return [
        {
            "line": d.line_no,
            "sku_code": d.sku_code,
            "source": d.source,
            "ref": d.ref,
            "amount_fen": d.amount_fen,
            "funded_by": d.funded_by,
        }
        for d in order.discounts
    ]


def cancel(ctx: OrdersCtx, order: Order, reason: str, *, action: str = A.CANCEL, case_id: str | None = None) -> None:
    """Cancel and tell inventory (release) and billing (refund what was paid) through OrderCancelled."""
    was_paid = order.paid_at is not None
    move(
        ctx,
        order,
        action,
        reason,
        cancelled_at=ctx.now,
        cancel_reason=reason[:300],
        case_id=case_id or order.case_id,
    )
    ctx.record(
        make_event(
            "orders.OrderCancelled",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "reason": reason,
                "was_paid": was_paid,
                "lines": lines_payload(order),
                "case_id": case_id,
                "payable_fen": order.payable_fen,
                "buyer_id": order.buyer_id,
            },
        )
    )


def complete(ctx: OrdersCtx, order: Order, reason: str) -> None:
    now = ctx.now
    move(ctx, order, A.COMPLETE, reason, completed_at=now)
    ctx.record(
        make_event(
            "orders.OrderCompleted",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "completed_at": iso(now),
                "payable_fen": order.payable_fen,
                "lines": lines_payload(order),
                "buyer_id": order.buyer_id,
                "paid_at": iso(aware(order.paid_at)),
                "delivered_at": iso(aware(order.delivered_at)),
            },
        )
    )


def pick_lines_payload(order: Order) -> list[dict]:
    """The lines as logistics' pick list reads them: the priced lines plus the line's snapshot at
    placing: catalog's product title, SKU spec and handling marks ("fragile", "liquid"), each sent
    only when the line has it (services/orders/README.md, "Events")."""
    rows = lines_payload(order)
    for row, line in zip(rows, order.lines, strict=True):
        if line.title:
            row["title"] = line.title
        if line.spec:
            row["spec"] = line.spec
        if line.handling:
            row["handling"] = list(line.handling)
    return rows


def ready_to_ship_event(order: Order):
    return make_event(
        "orders.OrderReadyToShip",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "lines": pick_lines_payload(order),
            "paid_at": iso(aware(order.paid_at)),
            "priority": bool(order.priority),
            "address": order.address_masked,
            "weight_g": sum(line.weight_g * line.quantity for line in order.lines),
            "promised_ship_by": iso(aware(order.promised_ship_by)),
        },
    )
