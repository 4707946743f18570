"""orders handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction); it loads, calls the domain through operations.py, records events. It never commits.

Events that arrive for an order that has moved on (a payment for a cancelled order, a shortage for
an order already cancelled) change nothing but leave a timeline entry, so that ops can see them; a
transition that loses a race raises ConcurrentChange and the message is retried against the new
status.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.errors import IllegalTransition
from ecom_common.events import Envelope, make_event
from ecom_common.jobs import Job

from . import domain, operations
from .models import Order

log = logging.getLogger("orders.handlers")
A = domain.Action


class NotYet(RuntimeError):
    """The event overtook the one it answers (inventory's answer to an OrderPaid reached us while the
    order is still pending_payment here, e.g. a redelivered PaymentSucceeded waits in a retry tier):
    raising sends it through the consumer's retries, and the retry finds the order paid."""


def _answer_to_order_paid(order: Order, event: Envelope) -> None:
    # StockReserved / StockShortage are inventory's answers to OrderPaid, which this service emits
    # in the same transaction as pending_payment -> paid: an order still pending_payment means the
    # payment is still on its way, never that the answer is stale.
    if order.status == domain.PENDING_PAYMENT:
        raise NotYet(f"{event.routing_key} for order {order.id} arrived before its payment was applied")


def _load(uow: UnitOfWork, event: Envelope) -> Order | None:
    order = operations.load_order(uow.session, event.payload["order_id"])
    if order is None:
        # Nothing to act on and nothing a retry could fix: every event orders consumes is about an
        # order it created, so this is another namespace's or a hand-made event.
        log.warning("%s for unknown order %s ignored", event.routing_key, event.payload["order_id"])
    return order


def _by(event: Envelope) -> str:
    return event.producer


def on_payment_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    """pending_payment -> paid, OrderPaid. A late success (order cancelled meanwhile) is only noted:
    billing refunds it itself."""
    p = event.payload
    order = _load(uow, event)
    if order is None:
        return
    now = uow.db.config.clock.now()
    if order.payment_id == p["payment_id"]:
        return  # the same payment reported again under another event id
    if order.status != domain.PENDING_PAYMENT:
        operations.note(
            uow.session,
            order,
            "payment_ignored",
            _by(event),
            f"payment {p['payment_id']} of {p['amount_fen']} fen arrived while {order.status}; billing refunds it",
            now,
        )
        return
    if p["amount_fen"] != order.payable_fen:
        operations.note(
            uow.session,
            order,
            "payment_mismatch",
            _by(event),
            f"payment {p['payment_id']} of {p['amount_fen']} fen does not match payable "
            f"{order.payable_fen} fen; not applied",
            now,
        )
        return
    operations.move(
        uow.session,
        order,
        A.PAY,
        _by(event),
        f"payment {p['payment_id']} ({p.get('method') or '?'})",
        now,
        paid_at=now,
        payment_id=p["payment_id"],
    )
    uow.record(
        make_event(
            "orders.OrderPaid",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "buyer_id": order.buyer_id,
                "payable_fen": order.payable_fen,
                "paid_at": iso(now),
                "lines": operations.lines_payload(order),
                "presale": order.presale,
                "payment_id": p["payment_id"],
            },
        )
    )


def on_payment_failed(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    order = _load(uow, event)
    if order is None:
        return
    operations.note(
        uow.session,
        order,
        "payment_failed",
        _by(event),
        f"payment {p['payment_id']} failed: {p.get('reason') or 'no reason given'}",
        uow.db.config.clock.now(),
    )


def on_stock_reserved(uow: UnitOfWork, event: Envelope) -> None:
    """All lines reserved (at once, or later for an order that waited for stock): run the audit."""
    order = _load(uow, event)
    if order is None:
        return
    _answer_to_order_paid(order, event)
    now = uow.db.config.clock.now()
    if not domain.can(order.status, A.PASS_AUDIT):
        operations.note(
            uow.session,
            order,
            "reservation_ignored",
            _by(event),
            f"stock reserved while {order.status}; nothing to audit",
            now,
        )
        return
    operations.audit_and_route(uow, order, now)


def on_stock_shortage(uow: UnitOfWork, event: Envelope) -> None:
    """policy wait -> awaiting_stock (presale, promised ship-by date); policy cancel -> cancelled and
    refunded in full (OrderCancelled{was_paid: true})."""
    p = event.payload
    order = _load(uow, event)
    if order is None:
        return
    _answer_to_order_paid(order, event)
    now = uow.db.config.clock.now()
    short = ", ".join(f"{s.get('sku_code')} short {s.get('short', s.get('missing', '?'))}" for s in p["short"])
    if p["policy"] == "cancel":
        if not domain.can(order.status, A.CANCEL):
            operations.note(uow.session, order, "shortage_ignored", _by(event), f"shortage while {order.status}", now)
            return
        operations.cancel(uow, order, _by(event), f"out of stock: {short}", now)
        return
    if order.status == domain.AWAITING_STOCK:
        return  # still waiting; the promise stands
    if not domain.can(order.status, A.WAIT_FOR_STOCK):
        operations.note(uow.session, order, "shortage_ignored", _by(event), f"shortage while {order.status}", now)
        return
    ship_by, promise = domain.presale_promise(now, operations.presale_ship_days(uow.db.config))
    operations.move(
        uow.session,
        order,
        A.WAIT_FOR_STOCK,
        _by(event),
        f"waiting for stock ({short}); {promise}",
        now,
        presale=True,
        promised_ship_by=ship_by,
        promise=promise,
    )


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """awaiting_shipment -> shipped with carrier and tracking number. An exchange's replacement
    (case_id set) is not the order's shipment. A re-dispatch after a failed pickup updates them."""
    p = event.payload
    if p.get("case_id"):
        return
    order = _load(uow, event)
    if order is None:
        return
    now = uow.db.config.clock.now()
    if order.status in (domain.SHIPPED, domain.DELIVERED, domain.COMPLETED):
        if (order.carrier, order.tracking_no) != (p["carrier"], p["tracking_no"]) and order.status == domain.SHIPPED:
            uow.session.execute(
                sa.update(Order)
                .where(Order.id == order.id, Order.status == domain.SHIPPED)
                .values(carrier=p["carrier"], tracking_no=p["tracking_no"], updated_at=now)
            )
            operations.note(
                uow.session,
                order,
                "tracking_changed",
                _by(event),
                f"now {p['carrier']} {p['tracking_no']} (was {order.carrier} {order.tracking_no})",
                now,
            )
        return
    # Anything else before shipment raises IllegalTransition: retried, then dead-lettered for ops
    # (a dispatched parcel for a cancelled order needs a human).
    operations.move(
        uow.session,
        order,
        A.SHIP,
        _by(event),
        f"dispatched with {p['carrier']} {p['tracking_no']}",
        now,
        shipped_at=now,
        carrier=p["carrier"],
        tracking_no=p["tracking_no"],
        shipment_id=p["shipment_id"],
    )
    uow.record(
        make_event(
            "orders.OrderShipped",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "carrier": p["carrier"],
                "tracking_no": p["tracking_no"],
                "shipment_id": p["shipment_id"],
                "shipped_at": iso(now),
            },
        )
    )


def on_shipment_delivered(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    if p.get("case_id"):
        return
    order = _load(uow, event)
    if order is None:
        return
    if order.status in (domain.DELIVERED, domain.COMPLETED):
        return
    now = uow.db.config.clock.now()
    # Before `shipped` this raises IllegalTransition: the Dispatched event is still on its way (e.g.
    # in a retry tier), so the retry finds the order shipped.
    operations.move(uow.session, order, A.DELIVER, _by(event), "delivered", now, delivered_at=now)
    uow.record(
        make_event(
            "orders.OrderDelivered",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "delivered_at": iso(now),
                "carrier_delivered_at": p.get("delivered_at"),
                "shipment_id": p["shipment_id"],
            },
        )
    )


def on_refund_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    order = _load(uow, event)
    if order is None:
        return
    case = f" for case {p['case_id']}" if p.get("case_id") else ""
    operations.note(
        uow.session,
        order,
        "refund_succeeded",
        _by(event),
        f"refund {p['refund_id']} of {p['amount_fen']} fen{case}",
        uow.db.config.clock.now(),
    )


def on_cancel_requested(uow: UnitOfWork, event: Envelope) -> None:
    """A refund-only case before shipment: cancel, carrying the case id so billing's refund closes it."""
    p = event.payload
    order = _load(uow, event)
    if order is None:
        return
    now = uow.db.config.clock.now()
    if not domain.can(order.status, A.CANCEL):
        operations.note(
            uow.session,
            order,
            "cancel_request_refused",
            _by(event),
            f"case {p['case_id']} asked to cancel, but the order is {order.status}",
            now,
        )
        return
    operations.cancel(
        uow,
        order,
        f"aftersales:{p['case_id']}",
        p.get("reason") or f"after-sales case {p['case_id']}",
        now,
        case_id=p["case_id"],
    )


HANDLERS = {
    "billing.PaymentSucceeded": on_payment_succeeded,
    "billing.PaymentFailed": on_payment_failed,
    "billing.RefundSucceeded": on_refund_succeeded,
    "inventory.StockReserved": on_stock_reserved,
    "inventory.StockShortage": on_stock_shortage,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "logistics.ShipmentDelivered": on_shipment_delivered,
    "aftersales.OrderCancelRequested": on_cancel_requested,
}

SUBSCRIPTIONS = [Subscription("orders.events", HANDLERS)]


# Jobs ------------------------------------------------------------------------------------------------------
def _each(db: Database, ids: list[str], act) -> int:
    """Act on each order in its own transaction: one order that fails (or was moved meanwhile) does
    not hold up the rest, and a second run finds nothing left to do."""
    done = 0
    for order_id in ids:
        with db.uow() as uow:
            order = operations.load_order(uow.session, order_id)
            try:
                if order is None or not act(uow, order):
                    continue
            except (IllegalTransition, operations.ConcurrentChange):
                continue  # paid, cancelled or confirmed meanwhile
            uow.commit()
            done += 1
    return done


def close_unpaid_orders(db: Database) -> int:
    """Orders not paid within ORDERS_UNPAID_TIMEOUT_MINUTES (default 30) are cancelled."""
    config = db.config
    now = config.clock.now()
    timeout = operations.unpaid_timeout(config)
    with db.Session() as session:
        ids = (
            session.execute(
                sa.select(Order.id)
                .where(Order.status == domain.PENDING_PAYMENT, Order.created_at <= now - timeout)
                .order_by(Order.created_at)
                .limit(operations.job_batch(config))
            )
            .scalars()
            .all()
        )
    minutes = int(timeout.total_seconds() // 60)

    def close(uow, order):
        if order.status != domain.PENDING_PAYMENT or aware(order.created_at) > now - timeout:
            return False
        operations.cancel(
            uow, order, operations.SYSTEM, f"not paid within {minutes} minutes", now, action=A.CLOSE_UNPAID
        )
        return True

    return _each(db, list(ids), close)


def auto_confirm_receipt(db: Database) -> int:
    """Delivered orders the buyer has not confirmed within ORDERS_AUTO_CONFIRM_DAYS (default 7) complete."""
    config = db.config
    now = config.clock.now()
    after = operations.auto_confirm_after(config)
    with db.Session() as session:
        ids = (
            session.execute(
                sa.select(Order.id)
                .where(Order.status == domain.DELIVERED, Order.delivered_at <= now - after)
                .order_by(Order.delivered_at)
                .limit(operations.job_batch(config))
            )
            .scalars()
            .all()
        )

    def confirm(uow, order):
        if order.status != domain.DELIVERED or aware(order.delivered_at) > now - after:
            return False
        operations.complete(uow, order, operations.SYSTEM, f"auto-confirmed {after.days} days after delivery", now)
        return True

    return _each(db, list(ids), confirm)


JOBS: list[Job] = [
    # Interval: config.job_interval (ECOM_JOB_INTERVAL, 30 s); tests run them with Platform.run_job.
    Job("close_unpaid_orders", close_unpaid_orders),
    Job("auto_confirm_receipt", auto_confirm_receipt),
]
