"""What the peers' events do to an order (the producing service is the actor): payments, stock
shortages, the parcel's dispatch and delivery, an after-sales cancel request."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.events import make_event
from ecom_common.usecase import Actor

from .. import domain
from ..models import Order
from .transitions import A, OrdersCtx, cancel, lines_payload, move, note


def apply_payment(ctx: OrdersCtx, order: Order, *, payment_id: str, amount_fen: int, method: str | None) -> None:
    """pending_payment -> paid, OrderPaid. A late success (order cancelled meanwhile) is only noted:
    billing refunds it itself. A payment of another amount is noted and not applied."""
    if order.payment_id == payment_id:
        return  # the same payment reported again under another event id
    if order.status != domain.PENDING_PAYMENT:
        note(
            ctx,
            order,
            "payment_ignored",
            f"payment {payment_id} of {amount_fen} fen arrived while {order.status}; billing refunds it",
        )
        return
    if amount_fen != order.payable_fen:
        note(
            ctx,
            order,
            "payment_mismatch",
            f"payment {payment_id} of {amount_fen} fen does not match payable {order.payable_fen} fen; not applied",
        )
        return
    now = ctx.now
    # A presale SKU's promise runs from payment: paid time + the most presale days over the lines.
    promised: dict = {}
    if order.presale_ship_days is not None:
        ship_by, promise = domain.presale_promise(now, order.presale_ship_days)
        promised = {"promised_ship_by": ship_by, "promise": promise}
    move(ctx, order, A.PAY, f"payment {payment_id} ({method or '?'})", paid_at=now, payment_id=payment_id, **promised)
    ctx.record(
        make_event(
            "orders.OrderPaid",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "buyer_id": order.buyer_id,
                "payable_fen": order.payable_fen,
                "paid_at": iso(now),
                "lines": lines_payload(order),
                "presale": order.presale,
                "payment_id": payment_id,
                # The province only (never the address): inventory serves the order from the nearest warehouse.
                "receiver_province": (order.address or {}).get("province"),
            },
        )
    )
    if promised:
        ctx.record(presale_promised_event(order, "sku_presale", order.presale_ship_days))


def apply_shortage(ctx: OrdersCtx, order: Order, *, policy: str, short: str) -> None:
    """policy wait -> awaiting_stock (presale, promised ship-by date); policy cancel -> cancelled and
    refunded in full (OrderCancelled{was_paid: true}). `short` says what is missing, for the timeline."""
    if policy == "cancel":
        if not domain.can(order.status, A.CANCEL):
            note(ctx, order, "shortage_ignored", f"shortage while {order.status}")
            return
        cancel(ctx, order, f"out of stock: {short}")
        return
    if order.status == domain.AWAITING_STOCK:
        return  # still waiting; the promise stands
    if not domain.can(order.status, A.WAIT_FOR_STOCK):
        note(ctx, order, "shortage_ignored", f"shortage while {order.status}")
        return
    days = ctx.settings.presale_ship_days
    ship_by, promise = domain.presale_promise(ctx.now, days)
    if order.promised_ship_by is not None and aware(order.promised_ship_by) > ship_by:
        # a presale SKU's later promise stands
        ship_by, promise, days = aware(order.promised_ship_by), order.promise, order.presale_ship_days or days
    move(
        ctx,
        order,
        A.WAIT_FOR_STOCK,
        f"waiting for stock ({short}); {promise}",
        presale=True,
        promised_ship_by=ship_by,
        promise=promise,
    )
    # No PresalePromised here: a shortage may be overtaken by the reservation that follows it (the
    # two can arrive in either order), so the buyer is told only of a SKU's presale, known at placing.


def presale_promised_event(order: Order, reason: str, days: int):
    """The buyer is told when the order ships (预计N天内发货): aftersales' notifications send it."""
    return make_event(
        "orders.PresalePromised",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "buyer_id": order.buyer_id,
            "promised_ship_by": iso(aware(order.promised_ship_by)),
            "promise": order.promise,
            "ship_days": days,
            "reason": reason,
        },
    )


@dataclass(frozen=True)
class Parcel:
    """A shipment as logistics reports it."""

    shipment_id: str
    carrier: str | None = None
    tracking_no: str | None = None
    delivered_at: str | None = None  # the carrier's time, as reported


def ship(ctx: OrdersCtx, order: Order, parcel: Parcel) -> None:
    """awaiting_shipment -> shipped with carrier and tracking number, OrderShipped. A re-dispatch
    after a failed pickup (the order already shipped) updates them."""
    now = ctx.now
    if order.status in (domain.SHIPPED, domain.DELIVERED, domain.COMPLETED):
        if (order.carrier, order.tracking_no) != (
            parcel.carrier,
            parcel.tracking_no,
        ) and order.status == domain.SHIPPED:
            ctx.session.execute(
                sa.update(Order)
                .where(Order.id == order.id, Order.status == domain.SHIPPED)
                .values(carrier=parcel.carrier, tracking_no=parcel.tracking_no, updated_at=now)
            )
            note(
                ctx,
                order,
                "tracking_changed",
                f"now {parcel.carrier} {parcel.tracking_no} (was {order.carrier} {order.tracking_no})",
            )
        return
    # Anything else before shipment raises IllegalTransition: retried, then dead-lettered for ops
    # (a dispatched parcel for a cancelled order needs a human).
    move(
        ctx,
        order,
        A.SHIP,
        f"dispatched with {parcel.carrier} {parcel.tracking_no}",
        shipped_at=now,
        carrier=parcel.carrier,
        tracking_no=parcel.tracking_no,
        shipment_id=parcel.shipment_id,
    )
    ctx.record(
        make_event(
            "orders.OrderShipped",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "carrier": parcel.carrier,
                "tracking_no": parcel.tracking_no,
                "shipment_id": parcel.shipment_id,
                "shipped_at": iso(now),
            },
        )
    )


def deliver(ctx: OrdersCtx, order: Order, parcel: Parcel) -> None:
    """shipped -> delivered, OrderDelivered; a second report changes nothing."""
    if order.status in (domain.DELIVERED, domain.COMPLETED):
        return
    now = ctx.now
    # Before `shipped` this raises IllegalTransition: the Dispatched event is still on its way (e.g.
    # in a retry tier), so the retry finds the order shipped.
    move(ctx, order, A.DELIVER, "delivered", delivered_at=now)
    ctx.record(
        make_event(
            "orders.OrderDelivered",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "delivered_at": iso(now),
                "carrier_delivered_at": parcel.delivered_at,
                "shipment_id": parcel.shipment_id,
            },
        )
    )


def cancel_for_case(ctx: OrdersCtx, order: Order, *, case_id: str, reason: str | None) -> None:
    """A refund-only case before shipment: cancel, carrying the case id so billing's refund closes it.
    After shipment the request is refused on the timeline only."""
    if not domain.can(order.status, A.CANCEL):
        note(
            ctx,
            order,
            "cancel_request_refused",
            f"case {case_id} asked to cancel, but the order is {order.status}",
        )
        return
    case_ctx = ctx.acting_as(Actor(f"aftersales:{case_id}"))
    cancel(case_ctx, order, reason or f"after-sales case {case_id}", case_id=case_id)
