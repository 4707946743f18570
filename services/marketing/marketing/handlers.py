"""marketing handlers: one function per consumed event, and the scheduled jobs.

Each handler runs in the consumer's unit of work (inbox row + changes + outbox in one transaction),
maps the payload, calls one operation and decides: ignore (a log line) or retry later. A coupon's
life follows the order that locked it (operations.quote): placed -> kept past the lock timeout,
paid -> used, cancelled (or closed unpaid) -> released. Points follow the money: earned on
completion for what was paid, taken back in proportion by a refund.
"""

from __future__ import annotations

import logging

from ecom_common import clock
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.errors import LostRace, RetryLater
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import for_event, for_job

from . import operations
from .settings import Settings

log = logging.getLogger("marketing.handlers")


def on_order_placed(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderPlaced -> the quote's locks are kept until the order is paid or cancelled."""
    if not operations.order_placed(for_event(uow, event, Settings), event.payload["order_id"]):
        log.info("order %s was placed without a locking quote (or after it expired)", event.payload["order_id"])


def on_order_paid(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderPaid -> the claims locked by the order are used (CouponUsed); the member's paid
    orders and total paid count it once; first-N gifts (GiftGranted)."""
    operations.apply_payment(for_event(uow, event, Settings), paid_order(event.payload))


def paid_order(p: dict) -> operations.PaidOrder:
    lines = tuple((line["sku_code"], int(line["quantity"])) for line in p.get("lines") or ())
    return operations.PaidOrder(p["order_id"], p["shop_id"], p.get("buyer_id"), p["payable_fen"], lines)


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderCancelled (by the buyer, or closed unpaid) -> the claims it locked are released
    (CouponReleased) and its points returned."""
    p = event.payload
    operations.release_order(for_event(uow, event, Settings), p["order_id"], p.get("reason") or "order cancelled")


def on_order_completed(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderCompleted -> points for what was paid (PointsEarned); an order marketing never
    saw paid counts as paid now when the event names its buyer, else it is retried."""
    p = event.payload
    ctx = for_event(uow, event, Settings)
    if operations.complete_order(ctx, paid_order(p), clock.parse_iso(p["completed_at"])) is None:
        raise RetryLater(f"order {p['order_id']} completed before its payment reached marketing")


def on_refund_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    """billing.RefundSucceeded -> the points the refunded share earned are taken back, and the
    refunded share of the campaign subsidy the order reserved goes back to its campaigns."""
    p = event.payload
    taken = operations.apply_refund(for_event(uow, event, Settings), p["order_id"], p["amount_fen"])
    if taken is None:
        log.info("refund of order %s, which marketing never saw paid: no points to take back", p["order_id"])


def on_compensation_coupon_requested(uow: UnitOfWork, event: Envelope) -> None:
    """aftersales.CompensationCouponRequested -> one shop-funded, no-threshold coupon of that value for
    the buyer (CouponIssued, reason compensation), once per complaint_id."""
    p = event.payload
    if p.get("funded_by", "shop") != "shop":
        log.warning(
            "compensation coupon of complaint %s funded by %s: only shops fund them",
            p["complaint_id"],
            p.get("funded_by"),
        )
        return
    request = operations.CompensationRequest(
        p["complaint_id"], p["order_id"], p["shop_id"], p["buyer_id"], int(p["amount_fen"])
    )
    if operations.issue_compensation(for_event(uow, event, Settings), request) is None:
        log.info("compensation coupon of complaint %s was issued before", p["complaint_id"])


HANDLERS = {
    "orders.OrderPlaced": on_order_placed,
    "orders.OrderPaid": on_order_paid,
    "orders.OrderCancelled": on_order_cancelled,
    "orders.OrderCompleted": on_order_completed,
    "billing.RefundSucceeded": on_refund_succeeded,
    "aftersales.CompensationCouponRequested": on_compensation_coupon_requested,
}

SUBSCRIPTIONS = [Subscription("marketing.events", HANDLERS)]


def release_stale_locks(db: Database) -> int:
    """Locks of quotes whose order never appeared within MARKETING_LOCK_TIMEOUT_MINUTES go back,
    one quote per transaction; a quote whose order appeared meanwhile keeps them."""
    with for_job(db, Settings) as ctx:
        stale = operations.stale_quotes(ctx)
    released = 0
    for order_id in stale:
        try:
            with for_job(db, Settings) as ctx:
                operations.release_order(ctx, order_id, operations.TIMEOUT)
            released += 1
        except LostRace as lost:
            log.info("lock of order %s not released: %s", order_id, lost.reason)
    return released


def issue_repurchase_coupons(db: Database) -> int:
    """The re-purchase segment (one paid order more than MARKETING_REPURCHASE_AFTER_DAYS ago, no
    repeat, not refunded) gets its coupon, one member per transaction."""
    with for_job(db, Settings) as ctx:
        due = operations.repurchase_segment(ctx)
    issued = 0
    for shop_id, buyer_id in due:
        with for_job(db, Settings) as ctx:
            issued += operations.issue_repurchase(ctx, shop_id, buyer_id) is not None
    return issued


def issue_level_coupons(db: Database) -> int:
    """On the 1st of each month (local time), members of level 2 and up get their level's coupon,
    once: safe on two replicas (operations.issue_level_coupon)."""
    with for_job(db, Settings) as ctx:
        due = operations.level_coupon_due(ctx)
    issued = 0
    for shop_id, buyer_id in due:
        with for_job(db, Settings) as ctx:
            issued += operations.issue_level_coupon(ctx, shop_id, buyer_id) is not None
    return issued


JOBS: list[Job] = [
    Job("release-stale-locks", release_stale_locks, interval=60),
    Job("issue-repurchase-coupons", issue_repurchase_coupons, interval=3600),
    Job("issue-level-coupons", issue_level_coupons, interval=3600),
]
