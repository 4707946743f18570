"""billing's copy of orders: kept from orders' events or from orders' answer to a payment, and
cancelled (with the refund a cancellation owes)."""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.db import insert_ignore
from ecom_common.usecase import Ctx

from .. import books, domain, shares
from ..books import BILLING, audit
from ..models import BillingOrder, OrderLine, Refund
from ..settings import Settings
from ..shares import RefundRequest
from .refunds import refund_in_full, refuse


def remember_order(ctx: Ctx[Settings], copy: domain.OrderCopy, *, source: str) -> BillingOrder:
    """Keep billing's own copy of an order, once; a copy made without lines takes them later.

    The copy is made by whichever comes first, the OrderPlaced handler or POST /payments, and both
    may make it at the same moment: the insert ignores a copy already there (INSERT ... ON CONFLICT
    DO NOTHING waits for the other transaction and then does nothing), and that copy is completed.
    A plain INSERT failed on the key instead, and the handler's message spent a retry."""
    session, now = ctx.session, ctx.now
    order = session.get(BillingOrder, copy.order_id)
    if order is None:
        insert_ignore(
            session,
            BillingOrder.__table__,
            dict(
                order_id=copy.order_id,
                shop_id=copy.shop_id,
                buyer_id=copy.buyer_id,
                payable_fen=int(copy.payable_fen or 0),
                status="open",
                paid_fen=0,
                refunded_fen=0,
                source=source,
                placed_at=copy.placed_at,
                created_at=now,
                updated_at=now,
            ),
        )
        order = session.get(BillingOrder, copy.order_id)
    if not order.buyer_id and copy.buyer_id:
        order.buyer_id = copy.buyer_id
    if not order.payable_fen and copy.payable_fen:
        order.payable_fen = int(copy.payable_fen)
    if order.placed_at is None and copy.placed_at is not None:
        # The copy was made from a later event (OrderCompleted/OrderCancelled overtook OrderPlaced).
        order.placed_at = copy.placed_at
    lines = copy.lines
    if lines and not books.has_lines(session, copy.order_id) and order.payable_fen:
        parts = shares.line_shares(order.payable_fen, lines)
        funded = shares.platform_funded(lines, copy.discounts)
        for no, (line, share, platform) in enumerate(zip(lines, parts, funded, strict=True), start=1):
            session.add(
                OrderLine(
                    order_id=copy.order_id,
                    line_no=no,
                    sku_code=line["sku_code"],
                    category_id=line.get("category_id"),
                    quantity=int(line["quantity"]),
                    unit_price_fen=int(line.get("unit_price_fen") or 0),
                    share_fen=share,
                    refunded_fen=0,
                    refunded_qty=0,
                    platform_fen=platform,
                )
            )
        session.flush()
    return order


def mark_cancelled(ctx: Ctx[Settings], order: BillingOrder, *, reason: str | None, case_id: str | None) -> bool:
    now = ctx.now
    moved = ctx.session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == order.order_id, BillingOrder.status != "cancelled")
        .values(
            status="cancelled",
            cancelled_at=now,
            cancel_reason=(reason or None) and reason[:200],
            cancel_case_id=case_id,
            updated_at=now,
        )
    ).rowcount
    if moved:
        audit(ctx, ("order", order.order_id), "cancelled", move=(order.status, "cancelled"), detail=reason)
        ctx.session.refresh(order)
    return bool(moved)


def cancel_order(
    ctx: Ctx[Settings], copy: domain.OrderCopy, *, reason: str | None, case_id: str | None, was_paid: bool
) -> Refund | None:
    """orders.OrderCancelled: refund what was paid, once per order, carrying the after-sales case id
    when there is one. A payment still pending is refunded when (if) its late success arrives."""
    remember_order(ctx, copy, source="event")
    order = books.lock_order(ctx, copy.order_id)
    mark_cancelled(ctx, order, reason=reason, case_id=case_id)
    request = RefundRequest.in_full(order.order_id, order.shop_id, "order_cancelled", case_id)
    if books.succeeded_payment(ctx, order.order_id) is None:
        if was_paid:
            refused = domain.RefundRefusedError(
                "no_payment_on_record", "orders reports the order paid but billing holds no succeeded payment for it"
            )
            return refuse(ctx.acting_as(BILLING), request, refused)
        return None
    return refund_in_full(ctx, order, request)


def payable_amount(ctx: Ctx[Settings], facts: domain.OrderFacts, *, amount_fen: int | None) -> int:
    """What a payment by the caller would charge, checked before anything is written: orders' answer
    is authoritative, and billing's own knowledge of a cancellation is respected too (events may be
    ahead of a stale read)."""
    local = ctx.session.get(BillingOrder, facts.order_id)
    knows_cancelled = local is not None and local.status == "cancelled"
    return domain.check_payable(facts, ctx.actor.id, amount_fen, knows_cancelled)
