"""analytics handlers: one function per consumed event, each mapping the payload and calling one
operation (acting as the producing service, `for_event`) inside the consumer's unit of work.

Times: the payload's own time when the event carries one (paid_at, placed_at, completed_at,
delivered_at, a review's or a complaint's `at`), else the envelope's occurred_at (when the producer
recorded the change).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ecom_common.clock import parse_iso
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import for_event, for_job

from . import domain, operations
from .settings import Settings

log = logging.getLogger("analytics.handlers")


def _at(event: Envelope, field: str | None = None) -> datetime:
    at = (parse_iso(event.payload.get(field)) if field else None) or parse_iso(event.occurred_at)
    assert at is not None, f"{event.routing_key} {event.event_id} has no time"
    return at


def _ctx(uow: UnitOfWork, event: Envelope):
    return for_event(uow, event, Settings)


def on_order_placed(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    order = domain.PlacedOrder(
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        buyer_id=p["buyer_id"],
        payable_fen=p["payable_fen"],
        placed_at=_at(event, "placed_at"),
        lines=tuple(
            domain.LineIn(
                sku_code=line["sku_code"],
                quantity=line["quantity"],
                unit_price_fen=line.get("unit_price_fen") or 0,
                category_id=line.get("category_id"),
            )
            for line in p["lines"]
        ),
        goods_fen=p.get("goods_fen"),
        discount_fen=p.get("discount_fen"),
        shipping_fen=p.get("shipping_fen"),
        discounts=tuple(
            domain.DiscountIn(
                source=d["source"], ref=d.get("ref"), amount_fen=d["amount_fen"], funded_by=d["funded_by"]
            )
            for d in p.get("discounts") or []
        ),
    )
    operations.record_placed(_ctx(uow, event), order)


def on_order_paid(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    operations.record_paid(_ctx(uow, event), p["order_id"], paid_fen=p["payable_fen"], paid_at=_at(event, "paid_at"))


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_cancelled(_ctx(uow, event), event.payload["order_id"], _at(event))


def on_order_completed(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_completed(_ctx(uow, event), event.payload["order_id"], _at(event, "completed_at"))


def on_payment_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_payment_method(_ctx(uow, event), event.payload["order_id"], event.payload.get("method"))


def on_refund_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    if p.get("kind") == "late_payment":
        # A payment that arrived after the order was cancelled: it never paid an order (no
        # OrderPaid), so giving it back is no refund of a sale.
        return
    refund = operations.RefundIn(
        refund_id=p["refund_id"],
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        amount_fen=p["amount_fen"],
        at=_at(event),
        kind=p.get("kind"),
        case_id=p.get("case_id"),
    )
    operations.record_refund(_ctx(uow, event), refund)


def _shipment(event: Envelope) -> operations.ShipmentIn:
    p = event.payload
    return operations.ShipmentIn(
        shipment_id=p["shipment_id"],
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        case_id=p.get("case_id"),
        carrier=p.get("carrier"),
        dispatch_by=parse_iso(p.get("dispatch_by")),
    )


def on_shipment_created(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_shipment(_ctx(uow, event), _shipment(event), milestone="created", at=_at(event))


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_shipment(_ctx(uow, event), _shipment(event), milestone="dispatched", at=_at(event))


def on_shipment_delivered(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_shipment(_ctx(uow, event), _shipment(event), milestone="delivered", at=_at(event, "delivered_at"))


def on_shipment_stalled(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_shipment(_ctx(uow, event), _shipment(event), milestone="stalled", at=_at(event))


def on_case_requested(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    case = operations.CaseIn(
        id=p["case_id"],
        kind="case",
        shop_id=p["shop_id"],
        at=_at(event),
        order_id=p["order_id"],
        case_type=p.get("case_type"),
    )
    operations.record_case(_ctx(uow, event), case)


def on_refund_approved(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_case_refund(_ctx(uow, event), event.payload["case_id"], event.payload["amount_fen"])


def on_case_closed(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    operations.record_case_closed(_ctx(uow, event), p["case_id"], outcome=p.get("outcome"), at=_at(event))


def _complaint(event: Envelope, field: str | None = None) -> operations.CaseIn:
    p = event.payload
    return operations.CaseIn(
        id=p["complaint_id"],
        kind="complaint",
        shop_id=p["shop_id"],
        at=_at(event, field),
        order_id=p.get("order_id"),
        tier=p["tier"],
    )


def on_complaint_filed(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_complaint(_ctx(uow, event), _complaint(event, "at"), milestone="filed")


def on_complaint_escalated(uow: UnitOfWork, event: Envelope) -> None:
    operations.record_complaint(_ctx(uow, event), _complaint(event), milestone="escalated")


def on_service_clock_breached(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    breach = operations.BreachIn(
        kind=p["kind"], ref_id=p["ref_id"], milestone=p["milestone"], shop_id=p["shop_id"], at=_at(event)
    )
    operations.record_breach(_ctx(uow, event), breach)


def on_order_reviewed(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    review = operations.ReviewIn(
        review_id=p["review_id"],
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        stars=p["stars"],
        nps=p.get("nps"),
        at=_at(event, "at"),
    )
    operations.record_review(_ctx(uow, event), review)


HANDLERS = {
    "orders.OrderPlaced": on_order_placed,
    "orders.OrderPaid": on_order_paid,
    "orders.OrderCancelled": on_order_cancelled,
    "orders.OrderCompleted": on_order_completed,
    "billing.PaymentSucceeded": on_payment_succeeded,
    "billing.RefundSucceeded": on_refund_succeeded,
    "logistics.ShipmentCreated": on_shipment_created,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "logistics.ShipmentDelivered": on_shipment_delivered,
    "logistics.ShipmentStalled": on_shipment_stalled,
    "aftersales.CaseRequested": on_case_requested,
    "aftersales.RefundApproved": on_refund_approved,
    "aftersales.CaseClosed": on_case_closed,
    "aftersales.ComplaintFiled": on_complaint_filed,
    "aftersales.ComplaintEscalated": on_complaint_escalated,
    "aftersales.ServiceClockBreached": on_service_clock_breached,
    "aftersales.OrderReviewed": on_order_reviewed,
}

SUBSCRIPTIONS = [Subscription("analytics.events", HANDLERS)]


# Jobs --------------------------------------------------------------------------------------------
def check_kpi_alerts(db: Database) -> int:
    """Yesterday's KPIs (the last complete day of the shops' calendar) against the alert bounds; an
    alert already raised is not raised again, so the job may run as often as it likes."""
    with for_job(db, Settings) as ctx:
        yesterday = domain.day_of(ctx.now, ctx.settings.day_utc_offset_hours) - timedelta(days=1)
        return len(operations.raise_alerts(ctx, yesterday))


JOBS: list[Job] = [Job("check-kpi-alerts", check_kpi_alerts, interval=3600)]


def rebuild_rollups(db: Database) -> str:
    """`ecom analytics rebuild`: every rollup recomputed from the facts in one transaction (safe
    while the worker runs; README, "Rollups")."""
    with for_job(db, Settings) as ctx:
        counts = operations.rebuild_rollups(ctx)
    return "rebuilt: " + ", ".join(f"{table} {rows} rows" for table, rows in counts.items())


COMMANDS = {"rebuild": rebuild_rollups}
