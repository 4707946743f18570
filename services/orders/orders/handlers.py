"""orders handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction): it maps the payload, calls one use case in operations.py, and decides what to ignore
and what to retry later. It never commits.

Events that arrive for an order that has moved on (a payment for a cancelled order, a shortage for
an order already cancelled) change nothing but leave a timeline entry, so that ops can see them; a
transition that loses a race raises ConcurrentChange and the message is retried against the new
status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.errors import ConcurrentChange, IllegalTransition, RetryLater
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import for_event, for_job

from . import domain, operations
from .models import Order
from .settings import Settings

log = logging.getLogger("orders.handlers")


def _order(ctx: operations.OrdersCtx, event: Envelope) -> Order | None:
    order = operations.find(ctx, event.payload["order_id"])
    if order is None:
        # Nothing to act on and nothing a retry could fix: every event orders consumes is about an
        # order it created, so this is another namespace's or a hand-made event.
        log.warning("%s for unknown order %s ignored", event.routing_key, event.payload["order_id"])
    return order


def _not_before_payment(order: Order, event: Envelope) -> None:
    # StockReserved / StockShortage are inventory's answers to OrderPaid, which this service emits
    # in the same transaction as pending_payment -> paid: an order still pending_payment means the
    # payment is still on its way (e.g. a redelivered PaymentSucceeded waits in a retry tier), never
    # that the answer is stale. The retry finds the order paid.
    if order.status == domain.PENDING_PAYMENT:
        raise RetryLater(f"{event.routing_key} for order {order.id} arrived before its payment was applied")


def on_payment_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    """pending_payment -> paid, OrderPaid; a late or mismatched payment is only noted."""
    ctx = for_event(uow, event, Settings)
    p = event.payload
    if (order := _order(ctx, event)) is None:
        return
    operations.apply_payment(ctx, order, payment_id=p["payment_id"], amount_fen=p["amount_fen"], method=p.get("method"))


def on_payment_failed(uow: UnitOfWork, event: Envelope) -> None:
    """Noted on the timeline; the order waits for the unpaid timeout."""
    ctx = for_event(uow, event, Settings)
    p = event.payload
    if (order := _order(ctx, event)) is None:
        return
    operations.note(
        ctx, order, "payment_failed", f"payment {p['payment_id']} failed: {p.get('reason') or 'no reason given'}"
    )


def on_stock_reserved(uow: UnitOfWork, event: Envelope) -> None:
    """All lines reserved (at once, or later for an order that waited for stock): run the audit."""
    ctx = for_event(uow, event, Settings)
    if (order := _order(ctx, event)) is None:
        return
    _not_before_payment(order, event)
    operations.audit_reserved(ctx, order)


def on_stock_shortage(uow: UnitOfWork, event: Envelope) -> None:
    """policy wait -> awaiting_stock; policy cancel -> cancelled and refunded in full."""
    ctx = for_event(uow, event, Settings)
    p = event.payload
    if (order := _order(ctx, event)) is None:
        return
    _not_before_payment(order, event)
    short = ", ".join(f"{s.get('sku_code')} short {s.get('short', s.get('missing', '?'))}" for s in p["short"])
    operations.apply_shortage(ctx, order, policy=p["policy"], short=short)


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """awaiting_shipment -> shipped. An exchange's replacement (case_id set) is not the order's shipment."""
    p = event.payload
    if p.get("case_id"):
        return
    ctx = for_event(uow, event, Settings)
    if (order := _order(ctx, event)) is None:
        return
    parcel = operations.Parcel(shipment_id=p["shipment_id"], carrier=p["carrier"], tracking_no=p["tracking_no"])
    operations.ship(ctx, order, parcel)


def on_carrier_changed(uow: UnitOfWork, event: Envelope) -> None:
    """A failed pickup moved the parcel to another carrier: the order shows the buyer the new carrier
    and tracking number (timeline `tracking_changed`). Applied only over the number it replaces: an
    order not yet shipped (its ShipmentDispatched still on the way) or showing an older number (an
    earlier change still on the way) is retried; a delivered, completed or cancelled order is left."""
    p = event.payload
    if p.get("case_id"):
        return
    ctx = for_event(uow, event, Settings)
    if (order := _order(ctx, event)) is None:
        return
    shown, new = (order.carrier, order.tracking_no), (p["carrier"], p["tracking_no"])
    if shown == new:
        return
    if order.status == domain.AWAITING_SHIPMENT or (
        order.status == domain.SHIPPED and shown != (p.get("old_carrier"), p.get("old_tracking_no"))
    ):
        raise RetryLater(f"carrier change of order {order.id} arrived before the number it replaces")
    if order.status != domain.SHIPPED:
        log.info("carrier change of order %s ignored: the order is %s", order.id, order.status)
        return
    parcel = operations.Parcel(shipment_id=p["shipment_id"], carrier=p["carrier"], tracking_no=p["tracking_no"])
    operations.ship(ctx, order, parcel)


def on_shipment_delivered(uow: UnitOfWork, event: Envelope) -> None:
    """shipped -> delivered. An exchange's replacement (case_id set) is not the order's shipment."""
    p = event.payload
    if p.get("case_id"):
        return
    ctx = for_event(uow, event, Settings)
    if (order := _order(ctx, event)) is None:
        return
    operations.deliver(ctx, order, operations.Parcel(shipment_id=p["shipment_id"], delivered_at=p.get("delivered_at")))


def on_refund_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    """Noted on the timeline (refund id, amount, case)."""
    ctx = for_event(uow, event, Settings)
    p = event.payload
    if (order := _order(ctx, event)) is None:
        return
    case = f" for case {p['case_id']}" if p.get("case_id") else ""
    operations.note(ctx, order, "refund_succeeded", f"refund {p['refund_id']} of {p['amount_fen']} fen{case}")


def on_cancel_requested(uow: UnitOfWork, event: Envelope) -> None:
    """A refund-only case before shipment: cancel, carrying the case id so billing's refund closes it."""
    ctx = for_event(uow, event, Settings)
    p = event.payload
    if (order := _order(ctx, event)) is None:
        return
    operations.cancel_for_case(ctx, order, case_id=p["case_id"], reason=p.get("reason"))


HANDLERS = {
    "billing.PaymentSucceeded": on_payment_succeeded,
    "billing.PaymentFailed": on_payment_failed,
    "billing.RefundSucceeded": on_refund_succeeded,
    "inventory.StockReserved": on_stock_reserved,
    "inventory.StockShortage": on_stock_shortage,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "logistics.ShipmentDelivered": on_shipment_delivered,
    "logistics.CarrierChanged": on_carrier_changed,
    "aftersales.OrderCancelRequested": on_cancel_requested,
}

SUBSCRIPTIONS = [Subscription("orders.events", HANDLERS)]


# Jobs ------------------------------------------------------------------------------------------------------
def _each(
    db: Database, due: Callable[[operations.OrdersCtx], list[str]], act: Callable[[operations.OrdersCtx, Order], bool]
) -> int:
    """Act on each due order in its own transaction: one order that fails (or was moved meanwhile)
    does not hold up the rest, and a second run finds nothing left to do."""
    with for_job(db, Settings) as ctx:
        ids = due(ctx)
    done = 0
    for order_id in ids:
        try:
            with for_job(db, Settings) as ctx:
                order = operations.find(ctx, order_id)
                if order is None or not act(ctx, order):
                    continue
        except (IllegalTransition, ConcurrentChange):
            continue  # paid, cancelled or confirmed meanwhile
        done += 1
    return done


def close_unpaid_orders(db: Database) -> int:
    """Orders not paid within ORDERS_UNPAID_TIMEOUT_MINUTES (default 30) are cancelled."""
    return _each(db, operations.unpaid_due, operations.close_unpaid)


def auto_confirm_receipt(db: Database) -> int:
    """Delivered orders the buyer has not confirmed within ORDERS_AUTO_CONFIRM_DAYS (default 7) complete."""
    return _each(db, operations.confirm_due, operations.auto_confirm)


JOBS: list[Job] = [
    # Interval: config.job_interval (ECOM_JOB_INTERVAL, 30 s); tests run them with Platform.run_job.
    Job("close-unpaid-orders", close_unpaid_orders),
    Job("auto-confirm-receipt", auto_confirm_receipt),
]
