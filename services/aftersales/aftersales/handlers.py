"""aftersales handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits: it maps the payload, calls one operation (acting as the producing
service, `for_event`), or decides to ignore the event or to retry it later. Events that carry no
case_id, or a case_id this service does not know, are not about a case: they are acknowledged and
left alone.
"""

from __future__ import annotations

import logging

from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.errors import RetryLater
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import for_event, for_job

from . import operations
from .domain import CaseType, Status
from .models import Case
from .settings import Settings

log = logging.getLogger("aftersales.handlers")


def _case_of(uow: UnitOfWork, event: Envelope) -> Case | None:
    case_id = event.payload.get("case_id")
    if not case_id:
        return None
    case = uow.session.get(Case, case_id)
    if case is None:
        log.warning("%s names unknown case %s; ignored", event.routing_key, case_id)
    return case


def on_refund_succeeded(uow: UnitOfWork, event: Envelope) -> None:
    """billing refunded the case (RefundApproved, or the cancellation of a refund-only before
    shipment): refunding -> closed."""
    case = _case_of(uow, event)
    if case is None:
        return
    if case.status != Status.REFUNDING:
        log.warning("RefundSucceeded for case %s in status %s; nothing to do", case.id, case.status)
        return
    p = event.payload
    operations.close_refunded(
        for_event(uow, event, Settings), case, refund_id=p["refund_id"], amount_fen=p["amount_fen"]
    )


def on_refund_failed(uow: UnitOfWork, event: Envelope) -> None:
    """The case stays refunding with the failure on its timeline; cs may retry."""
    case = _case_of(uow, event)
    if case is None or case.status != Status.REFUNDING:
        return
    p = event.payload
    operations.refund_failed(for_event(uow, event, Settings), case, refund_id=p["refund_id"], error=p.get("reason"))


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """The replacement of an exchange left the warehouse: received -> reshipped."""
    case = _case_of(uow, event)
    if case is None or case.case_type != CaseType.EXCHANGE:
        return
    if case.status != Status.RECEIVED:
        log.warning("replacement dispatched for case %s in status %s; ignored", case.id, case.status)
        return
    p = event.payload
    operations.reship(
        for_event(uow, event, Settings),
        case,
        shipment_id=p["shipment_id"],
        carrier=p["carrier"],
        tracking_no=p["tracking_no"],
    )


def on_shipment_delivered(uow: UnitOfWork, event: Envelope) -> None:
    """The replacement reached the buyer: reshipped -> closed."""
    case = _case_of(uow, event)
    if case is None or case.case_type != CaseType.EXCHANGE:
        return
    if case.status == Status.RECEIVED:
        # Delivered overtook Dispatched (a retried message): let the consumer retry this one.
        raise RetryLater(f"replacement of case {case.id} delivered before its dispatch was recorded")
    if case.status != Status.RESHIPPED:
        log.warning("replacement delivered for case %s in status %s; ignored", case.id, case.status)
        return
    operations.close_exchanged(for_event(uow, event, Settings), case, shipment_id=event.payload["shipment_id"])


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """The order was cancelled: a note on our own case (case_id set), else the order's cases still
    waiting for cs are rejected (operations.order_cancelled)."""
    p = event.payload
    operations.order_cancelled(
        for_event(uow, event, Settings),
        p["order_id"],
        own_case=_case_of(uow, event),
        reason=p.get("reason"),
        was_paid=bool(p.get("was_paid")),
    )


HANDLERS = {
    "billing.RefundSucceeded": on_refund_succeeded,
    "billing.RefundFailed": on_refund_failed,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "logistics.ShipmentDelivered": on_shipment_delivered,
    "orders.OrderCancelled": on_order_cancelled,
}

SUBSCRIPTIONS = [Subscription("aftersales.events", HANDLERS)]


# Jobs --------------------------------------------------------------------------------------------
def escalate_complaint_breaches(db: Database) -> int:
    """Escalate every complaint whose clock ran out before its milestone was met, once per breach
    (the escalation row's key guarantees it even with two workers). Time is config.clock; one unit of
    work per complaint, so one failure does not undo the others."""
    with for_job(db, Settings) as ctx:
        ids = operations.breached_complaints(ctx)
    escalated = 0
    for complaint_id in ids:
        with for_job(db, Settings) as ctx:
            escalated += operations.escalate_breach(ctx, complaint_id)
    return escalated


JOBS: list[Job] = [Job("escalate-complaint-breaches", escalate_complaint_breaches, interval=60)]
