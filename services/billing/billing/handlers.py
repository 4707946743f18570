"""billing handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits: it maps the payload and calls one use case of operations/ (shared
with the API). A use case that loses a guarded update raises LostRace: the consumer retries.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.clock import parse_iso
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork, is_unique_violation
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import Actor, for_event, for_job

from . import domain, operations
from .domain import OrderCopy
from .sandbox import SandboxProvider
from .settings import Settings
from .shares import RefundRequest

log = logging.getLogger("billing.handlers")


def on_order_placed(uow: UnitOfWork, event: Envelope) -> None:
    """Remember what the buyer will owe, line by line (for refund caps and commission)."""
    copy = OrderCopy.from_event(event.payload, placed_at=parse_iso(event.occurred_at))
    operations.remember_order(for_event(uow, event, Settings), copy, source="event")


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """Refund what was paid, once per order, carrying the after-sales case id when there is one.
    A payment still pending is refunded when (if) its late success arrives."""
    p = event.payload
    operations.cancel_order(
        for_event(uow, event, Settings),
        OrderCopy.from_event(p),
        reason=p.get("reason"),
        case_id=p.get("case_id"),
        was_paid=bool(p.get("was_paid")),
    )


def on_order_completed(uow: UnitOfWork, event: Envelope) -> None:
    """Schedule settlement at completion + BILLING_SETTLEMENT_DAYS (T+7)."""
    ctx = for_event(uow, event, Settings)
    completed_at = parse_iso(event.payload["completed_at"]) or ctx.now
    operations.schedule_settlement(ctx, OrderCopy.from_event(event.payload), completed_at=completed_at)


def on_refund_approved(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    request = RefundRequest.for_case(p["case_id"], p["order_id"], p["shop_id"], int(p["amount_fen"]))
    operations.refund_for_case(for_event(uow, event, Settings), request, lines=p.get("lines"))


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """Units that left the warehouse, per SKU (the payload's lines carry quantities): goods flow."""
    p = event.payload
    at = parse_iso(event.occurred_at)
    fact = operations.GoodsFact(
        "out", p["shipment_id"], p["order_id"], p["shop_id"], p["lines"], at, case_id=p.get("case_id")
    )
    operations.record_goods(for_event(uow, event, Settings), fact)


def on_return_received(uow: UnitOfWork, event: Envelope) -> None:
    """Units received back from the buyer, per SKU (resellable or not): goods flow."""
    p = event.payload
    at = parse_iso(event.occurred_at)
    fact = operations.GoodsFact("in", p["case_id"], p["order_id"], p["shop_id"], p["lines"], at, case_id=p["case_id"])
    operations.record_goods(for_event(uow, event, Settings), fact)


HANDLERS = {
    "orders.OrderPlaced": on_order_placed,
    "orders.OrderCancelled": on_order_cancelled,
    "orders.OrderCompleted": on_order_completed,
    "aftersales.RefundApproved": on_refund_approved,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "aftersales.ReturnReceived": on_return_received,
}

SUBSCRIPTIONS = [Subscription("billing.events", HANDLERS)]


def settle_due(db: Database) -> int:
    """The settlement job: for each shop with settlements due, claim them and pay out, one unit of
    work per shop. Returns the number of payouts made. Safe to run twice or on two replicas at once
    (operations.settle_shop)."""
    run = ids.new_id(domain.RUN_ID, db.config.clock.now())
    with for_job(db, Settings) as ctx:
        shops = operations.shops_due(ctx)
    payouts = 0
    for shop_id in shops:
        try:
            with for_job(db, Settings, Actor(f"job:{run}")) as ctx:
                if operations.settle_shop(ctx, shop_id, run=run) is not None:
                    payouts += 1
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            # Another run paid these ledger entries first: its payout stands, ours rolled back whole.
            log.info("settlement of shop %s lost a race to another run; nothing paid twice", shop_id)
    return payouts


def resend_pending_webhooks(db: Database) -> int:
    """The sandbox provider's retry: intents still pending after BILLING_SANDBOX_RETRY_AFTER_SECONDS
    are resolved and their webhooks (re)sent."""
    return SandboxProvider(db).redeliver_due()


def reconcile_three_way(db: Database) -> int:
    """三流合一 for the previous UTC day over all shops, kept in three_way_runs (a rerun replaces it;
    GET /reconciliation/three-way computes any day live). Returns the mismatches found."""
    day = (db.config.clock.now() - timedelta(days=1)).date()
    with for_job(db, Settings) as ctx:
        found = operations.record_three_way(ctx, day)
    if found:
        log.warning("three-way reconciliation of %s: %d mismatches", day.isoformat(), found)
    return found


JOBS: list[Job] = [
    Job("settle-due", settle_due),
    Job("reconcile-three-way", reconcile_three_way, interval=3600),
    Job("sandbox-webhook-retry", resend_pending_webhooks, interval=10),
]
