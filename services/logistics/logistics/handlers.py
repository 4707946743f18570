"""logistics handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits. Redelivered events are skipped by the inbox; a *different* event
for the same order (e.g. OrderReadyToShip emitted twice after a re-audit) is absorbed by the
shipment's unique dedupe key.
"""

from __future__ import annotations

import logging

from ecom_common.consumer import Subscription
from ecom_common.db import UnitOfWork
from ecom_common.errors import RuleViolation
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.peers import PeerClient

from . import operations as ops
from .models import CancelledOrder

log = logging.getLogger("logistics.handlers")


def on_order_ready_to_ship(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderReadyToShip -> a pending shipment with pick list and carrier (one per order)."""
    p = event.payload
    if uow.session.get(CancelledOrder, p["order_id"]) is not None:
        log.info("order %s was cancelled before it was ready to ship: no shipment", p["order_id"])
        return
    settings = ops.Settings.from_config(uow.db.config)
    ops.create_shipment(
        uow,
        settings,
        shop_id=p["shop_id"],
        order_id=p["order_id"],
        lines=p["lines"],
        address=p.get("address"),
        weight_g=p.get("weight_g"),
        paid_at=ops.parse_time(p.get("paid_at")),
        priority=p.get("priority", False),
        case_id=None,
        actor="orders",
    )


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderCancelled -> cancel the order's shipment if it has not been dispatched."""
    p = event.payload
    ops.order_cancelled(uow, p["order_id"], p["shop_id"], p.get("reason"))


def on_reship_requested(uow: UnitOfWork, event: Envelope) -> None:
    """aftersales.ReshipRequested -> the exchange's replacement shipment (case_id set).

    The receiver is the one of the order's original shipment, which we already have; only if there
    is none (it was never shipped through us) do we ask orders for the order's address.
    """
    p = event.payload
    settings = ops.Settings.from_config(uow.db.config)
    original = ops.find_by_key(uow.session, f"order:{p['order_id']}")
    if original is not None:
        address, weight_g = dict(original.receiver), None
    else:
        address, weight_g = order_address(uow, p["order_id"]), None
    ops.create_shipment(
        uow,
        settings,
        shop_id=p["shop_id"],
        order_id=p["order_id"],
        lines=p["lines"],
        address=address,
        weight_g=weight_g,
        paid_at=None,
        priority=False,
        case_id=p["case_id"],
        actor="aftersales",
    )


def order_address(uow: UnitOfWork, order_id: str) -> dict:
    resp = PeerClient(uow.db.config, "orders").get(f"/api/v1/orders/{order_id}")
    if resp.status_code != 200:
        # Raising sends the event through the retries to the DLQ, where ops can see and replay it.
        raise RuleViolation(f"orders answered {resp.status_code} for order {order_id}; no address to reship to")
    order = resp.json()
    return order.get("address") or order.get("shipping_address") or order.get("receiver") or {}


HANDLERS = {
    "orders.OrderReadyToShip": on_order_ready_to_ship,
    "orders.OrderCancelled": on_order_cancelled,
    "aftersales.ReshipRequested": on_reship_requested,
}

SUBSCRIPTIONS = [Subscription("logistics.events", HANDLERS)]


def flag_stalled_shipments(db) -> int:
    settings = ops.Settings.from_config(db.config)
    with db.uow() as uow:
        count = ops.flag_stalled(uow, settings)
        uow.commit()
    return count


# Runs every ECOM_JOB_INTERVAL seconds; the stall threshold itself is LOGISTICS_STALL_HOURS.
JOBS: list[Job] = [Job("flag_stalled_shipments", flag_stalled_shipments)]
