"""logistics handlers: one function per consumed event, and the scheduled job.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits: it maps the payload, calls one operation and lets the consumer
commit. Redelivered events are skipped by the inbox; a *different* event for the same order (e.g.
OrderReadyToShip emitted twice after a re-audit) is absorbed by the shipment's unique dedupe key.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ecom_common.clock import parse_iso
from ecom_common.config import Config
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.errors import RuleViolation
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.peers import PeerClient
from ecom_common.usecase import Actor, for_event, for_job

from . import operations
from .settings import Settings

log = logging.getLogger("logistics.handlers")


def on_order_ready_to_ship(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderReadyToShip -> a pending shipment with pick list and carrier (one per order)."""
    p = event.payload
    try:
        paid_at = parse_iso(p.get("paid_at"))
    except ValueError:
        paid_at = None  # an unreadable payment time: the dispatch clock starts now
    try:
        promised = parse_iso(p.get("promised_ship_by"))
    except ValueError:
        promised = None  # an unreadable promise: the usual deadline
    order = operations.NewShipment(
        shop_id=p["shop_id"],
        order_id=p["order_id"],
        lines=p["lines"],
        address=p.get("address"),
        weight_g=p.get("weight_g"),
        paid_at=paid_at,
        priority=p.get("priority", False),
        promised_ship_by=promised,
        address_as_of=event_time(event),
    )
    if operations.ship_order(for_event(uow, event, Settings), order) is None:
        log.info("order %s: no new shipment (cancelled before it was ready, or shipped already)", order.order_id)


def event_time(event: Envelope) -> datetime | None:
    try:
        return parse_iso(event.occurred_at)
    except ValueError:
        return None


def on_address_changed(uow: UnitOfWork, event: Envelope) -> None:
    """orders.AddressChanged -> the new (masked) receiver on the order's shipment not yet dispatched;
    an older change than the address held changes nothing."""
    p = event.payload
    changed_at = parse_iso(p["changed_at"]) or event_time(event)
    if changed_at is None:
        raise RuleViolation(f"order {p['order_id']}: address change without a time")
    change = operations.AddressChange(
        order_id=p["order_id"],
        address=p.get("address") or {},
        changed_at=changed_at,
        status=p.get("status") or "",
        held=bool(p.get("held")),
    )
    outcome = operations.readdress(for_event(uow, event, Settings), change)
    log.info("order %s: address change of %s -> %s", change.order_id, p["changed_at"], outcome)


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderCancelled -> cancel the order's shipment if it has not been dispatched."""
    p = event.payload
    ctx = for_event(uow, event, Settings)
    operations.cancel_for_order(ctx, p["order_id"], shop_id=p["shop_id"], reason=p.get("reason"))


def on_reship_requested(uow: UnitOfWork, event: Envelope) -> None:
    """aftersales.ReshipRequested -> the exchange's replacement shipment (case_id set).

    The receiver is the one of the order's original shipment, which we already have; only if there
    is none (it was never shipped through us) do we ask orders for the order's address.
    """
    p = event.payload
    order = operations.NewShipment(shop_id=p["shop_id"], order_id=p["order_id"], lines=p["lines"], case_id=p["case_id"])
    operations.ship_replacement(
        for_event(uow, event, Settings), order, lambda: order_address(uow.db.config, p["order_id"])
    )


def on_gift_granted(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.GiftGranted -> the gift goes on the pick list of the order's shipment, whether that
    shipment exists yet or not (the gift is kept per order and read with the shipment)."""
    p = event.payload
    gift = operations.GrantedGift(
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        promotion_id=p["promotion_id"],
        sku_code=p["gift_sku_code"],
        quantity=int(p.get("quantity") or 1),
    )
    if not operations.record_gift(for_event(uow, event, Settings), gift):
        log.info("order %s: gift of promotion %s already recorded", gift.order_id, gift.promotion_id)


def order_address(config: Config, order_id: str) -> dict[str, Any]:
    resp = PeerClient(config, "orders").get(f"/api/v1/orders/{order_id}")
    if resp.status_code != 200:
        # Raising sends the event through the retries to the DLQ, where ops can see and replay it.
        raise RuleViolation(f"orders answered {resp.status_code} for order {order_id}; no address to reship to")
    order = resp.json()
    return order.get("address") or order.get("shipping_address") or order.get("receiver") or {}


def on_promotion_period_declared(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.PromotionPeriodDeclared: keep marketing's period (the highest version wins); orders
    paid in it get the promotion's dispatch time."""
    p = event.payload
    values = {"name": p["name"], "starts_at": parse_iso(p["starts_at"]), "ends_at": parse_iso(p["ends_at"])}
    operations.copy_period(for_event(uow, event, Settings), p["period_id"], int(p["version"]), values)


def on_promotion_period_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.PromotionPeriodCancelled: the period no longer lengthens dispatch deadlines."""
    p = event.payload
    operations.copy_period(for_event(uow, event, Settings), p["period_id"], int(p["version"]), {"cancelled": True})


HANDLERS = {
    "orders.OrderReadyToShip": on_order_ready_to_ship,
    "orders.OrderCancelled": on_order_cancelled,
    "orders.AddressChanged": on_address_changed,
    "aftersales.ReshipRequested": on_reship_requested,
    "marketing.GiftGranted": on_gift_granted,
    "marketing.PromotionPeriodDeclared": on_promotion_period_declared,
    "marketing.PromotionPeriodCancelled": on_promotion_period_cancelled,
}

SUBSCRIPTIONS = [Subscription("logistics.events", HANDLERS)]

FLAG_STALLED = "flag-stalled-shipments"


def flag_stalled_shipments(db: Database) -> int:
    with for_job(db, Settings, Actor(f"job:{FLAG_STALLED}")) as ctx:
        return operations.flag_stalled(ctx)


# Runs every ECOM_JOB_INTERVAL seconds; the stall threshold itself is LOGISTICS_STALL_HOURS.
JOBS: list[Job] = [Job(FLAG_STALLED, flag_stalled_shipments)]
