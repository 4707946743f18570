"""inventory handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction); it maps the event's payload and calls one use case of operations.py, which moves
stock and records events. It never commits. Duplicates of one event are dropped by the inbox; a
second, different event for the same order is made harmless by the reservation row (one per order).
"""

from __future__ import annotations

import logging
from datetime import datetime

from ecom_common.clock import parse_iso
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import Actor, for_event, for_job

from . import domain, operations, periods, reports
from .settings import Settings

log = logging.getLogger("inventory.handlers")


def event_time(value: str | None, fallback: datetime) -> datetime:
    """An ISO-8601 time from an event (with or without Z); the fallback when absent or unreadable."""
    try:
        return parse_iso(value) or fallback
    except ValueError:
        return fallback


def on_product_listed(uow: UnitOfWork, event: Envelope) -> None:
    """A listed product's SKUs get a stock item (0 on hand) in the default warehouse; known SKUs
    keep their stock and take the new threshold, unless a newer catalog event already set one."""
    ctx = for_event(uow, event, Settings)
    operations.list_skus(
        ctx,
        domain.skus_from_listing(event.payload),
        product_id=event.payload["product_id"],
        said_at=event_time(event.occurred_at, ctx.now),
    )


def on_price_changed(uow: UnitOfWork, event: Envelope) -> None:
    """Prices are catalog's business; a threshold carried along (when present) is ours."""
    ctx = for_event(uow, event, Settings)
    operations.take_thresholds(
        ctx,
        domain.thresholds_from_price_change(event.payload),
        product_id=event.payload["product_id"],
        said_at=event_time(event.occurred_at, ctx.now),
    )


def on_order_paid(uow: UnitOfWork, event: Envelope) -> None:
    """Reserve every line or none -> StockReserved, or StockShortage with the shop's policy."""
    p = event.payload
    ctx = for_event(uow, event, Settings)
    paid_at = event_time(p.get("paid_at"), fallback=event_time(event.occurred_at, ctx.now))
    paid = operations.PaidOrder(
        p["order_id"], p["shop_id"], p["lines"], paid_at, receiver_province=p.get("receiver_province")
    )
    outcome = operations.reserve_order(ctx, paid)
    log.info("order %s: %s", p["order_id"], outcome.status)


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """Release what the order reserved (or drop it from the waiting queue); idempotent."""
    p = event.payload
    ctx = for_event(uow, event, Settings)
    result = operations.release_order(
        ctx, p["order_id"], shop_id=p["shop_id"], reason=p.get("reason") or "order cancelled"
    )
    log.info("order %s cancelled: %s", p["order_id"], result)


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """Deduct the order's reservation; an exchange's replacement (case_id), or a parcel dispatched for an
    order cancelled meanwhile, comes off on-hand directly."""
    p = event.payload
    dispatch = operations.Dispatch(
        shipment_id=p["shipment_id"],
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        lines=p.get("lines"),
        case_id=p.get("case_id"),
    )
    operations.deduct_shipment(for_event(uow, event, Settings), dispatch)


def on_return_received(uow: UnitOfWork, event: Envelope) -> None:
    """Resellable returns go back on hand (to the warehouse they were shipped from when known);
    unsellable ones change nothing but leave a note in the ledger."""
    p = event.payload
    returned = operations.Return(
        case_id=p["case_id"],
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        lines=p["lines"],
        resellable=p["resellable"],
    )
    operations.take_return(for_event(uow, event, Settings), returned)


def on_promotion_period_declared(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.PromotionPeriodDeclared: keep marketing's period (the highest version wins)."""
    p = event.payload
    values = {"name": p["name"], "starts_at": parse_iso(p["starts_at"]), "ends_at": parse_iso(p["ends_at"])}
    periods.copy_period(for_event(uow, event, Settings), p["period_id"], int(p["version"]), values)


def on_promotion_period_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.PromotionPeriodCancelled: the period is no longer reported on."""
    p = event.payload
    periods.copy_period(for_event(uow, event, Settings), p["period_id"], int(p["version"]), {"cancelled": True})


HANDLERS = {
    "catalog.ProductListed": on_product_listed,
    "catalog.PriceChanged": on_price_changed,
    "orders.OrderPaid": on_order_paid,
    "orders.OrderCancelled": on_order_cancelled,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "aftersales.ReturnReceived": on_return_received,
    "marketing.PromotionPeriodDeclared": on_promotion_period_declared,
    "marketing.PromotionPeriodCancelled": on_promotion_period_cancelled,
}

SUBSCRIPTIONS = [Subscription("inventory.events", HANDLERS)]

CHECK_SAFETY_STOCK = "check-safety-stock"


def check_safety_stock(db: Database) -> int:
    """inventory.SafetyStockLow for SKUs whose available stock fell to average daily sales x 3 days."""
    with for_job(db, Settings, Actor(f"job:{CHECK_SAFETY_STOCK}")) as ctx:
        return reports.check_safety_stock(ctx)


# The reports are computed on request from the clock and the ledger; LowStock is emitted by the
# movement that crosses a stock row's threshold. Safety stock moves with sales over time (no movement
# crosses it), so a job checks it, every ECOM_JOB_INTERVAL seconds.
JOBS: list[Job] = [Job(CHECK_SAFETY_STOCK, check_safety_stock)]
