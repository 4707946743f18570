"""aftersales handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits: it maps the payload, calls one operation (acting as the producing
service, `for_event`), or decides to ignore the event or to retry it later. Events that carry no
case_id, or a case_id this service does not know, are not about a case: they are acknowledged and
left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from ecom_common.clock import parse_iso
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.errors import RetryLater
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import for_event, for_job

from . import approvals, gateways, messages, notifications, operations, periods, service_desk
from .domain import CaseType, Status
from .models import Case
from .notifications import Notice
from .settings import Settings

log = logging.getLogger("aftersales.handlers")

Handler = Callable[[UnitOfWork, Envelope], None]


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


def on_order_completed(uow: UnitOfWork, event: Envelope) -> None:
    """orders.OrderCompleted: the buyer has a completed order in the shop (no longer a new customer
    for AFTERSALES_AUTO_APPROVE_NEW_BUYER_REFUND_FEN); an event without its buyer is ignored."""
    p = event.payload
    if not p.get("buyer_id"):
        log.info("order %s completed without its buyer: not recorded", p["order_id"])
        return
    ctx = for_event(uow, event, Settings)
    at = parse_iso(p["completed_at"]) or ctx.now
    approvals.record_completed(
        ctx, order_id=p["order_id"], shop_id=p["shop_id"], buyer_id=p["buyer_id"], completed_at=at
    )


# Buyer notifications (on the same queue) -------------------------------------------
# Each handler maps the event to a Notice and queues it (notifications.enqueue); the notice's key
# names the fact, so a redelivered or republished event never becomes a second message.
def _notify(uow: UnitOfWork, event: Envelope, notice: Notice) -> None:
    notifications.enqueue(for_event(uow, event, Settings), replace(notice, event_id=event.event_id))


def on_shipment_dispatched_notify(uow: UnitOfWork, event: Envelope) -> None:
    """已发货 with the carrier and tracking number (an exchange's replacement too)."""
    p = event.payload
    variables = {"order_id": p["order_id"], "carrier": p["carrier"], "tracking_no": p["tracking_no"]}
    key = f"order_shipped:{p['shipment_id']}"
    _notify(uow, event, Notice("order_shipped", key, variables, p["order_id"], p["shop_id"]))


def on_order_held_notify(uow: UnitOfWork, event: Envelope) -> None:
    """An order held for its address: the buyer is asked to confirm it (other holds are internal)."""
    p = event.payload
    if "vague_address" not in (p.get("reasons") or []):
        return
    key = f"order_held_address:{p['order_id']}"
    _notify(uow, event, Notice("order_held_address", key, {"order_id": p["order_id"]}, p["order_id"], p["shop_id"]))


def on_presale_promised_notify(uow: UnitOfWork, event: Envelope) -> None:
    """A presale order's ship-by date (预计N天内发货); a later promise (a shortage) is a new message."""
    p = event.payload
    variables = {"order_id": p["order_id"], "promise": p["promise"], "ship_by": p["promised_ship_by"][:10]}
    key = f"presale_promised:{p['order_id']}:{p['promised_ship_by']}"
    notice = Notice("presale_promised", key, variables, p["order_id"], p["shop_id"], p.get("buyer_id"))
    _notify(uow, event, notice)


def on_shipment_exception_notify(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    variables = {"order_id": p["order_id"], "reason": p.get("reason") or "配送异常"}
    key = f"shipment_exception:{event.event_id}"
    _notify(uow, event, Notice("shipment_exception", key, variables, p["order_id"], p["shop_id"]))


def on_shipment_stalled_notify(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    key = f"shipment_stalled:{p['shipment_id']}:{p.get('last_progress_at') or ''}"
    _notify(uow, event, Notice("shipment_stalled", key, {"order_id": p["order_id"]}, p["order_id"], p["shop_id"]))


def on_carrier_changed_notify(uow: UnitOfWork, event: Envelope) -> None:
    """A failed pickup moved the parcel to another carrier: the buyer gets the new tracking number,
    once per change (the shipment and the new number name it)."""
    p = event.payload
    variables = {
        "order_id": p["order_id"],
        "carrier": p["carrier"],
        "tracking_no": p["tracking_no"],
        "old_carrier": p.get("old_carrier") or "",
        "old_tracking_no": p.get("old_tracking_no") or "",
    }
    key = f"carrier_changed:{p['shipment_id']}:{p['carrier']}:{p['tracking_no']}"
    _notify(uow, event, Notice("carrier_changed", key, variables, p["order_id"], p["shop_id"]))


def on_arrival_estimate_changed_notify(uow: UnitOfWork, event: Envelope) -> None:
    """Logistics set a new estimated arrival (a parcel in trouble): the buyer is told, once per estimate."""
    p = event.payload
    ctx = for_event(uow, event, Settings)
    eta = messages.local_time(parse_iso(p["estimated_arrival_at"]), ctx.settings.utc_offset_hours)
    why = f"（{p['reason']}）" if p.get("reason") else ""
    variables = {"order_id": p["order_id"], "eta": eta, "why": why}
    key = f"arrival_estimate_changed:{p['shipment_id']}:{p['estimated_arrival_at']}"
    notice = Notice("arrival_estimate_changed", key, variables, p["order_id"], p["shop_id"])
    notifications.enqueue(ctx, replace(notice, event_id=event.event_id))


def on_order_delivered_notify(uow: UnitOfWork, event: Envelope) -> None:
    """The review invitation, due AFTERSALES_REVIEW_INVITE_DELAY_HOURS after delivery."""
    p = event.payload
    ctx = for_event(uow, event, Settings)
    delay = timedelta(hours=ctx.settings.review_invite_delay_hours)
    key = f"review_invitation:{p['order_id']}"
    notice = Notice("review_invitation", key, {"order_id": p["order_id"]}, p["order_id"], p["shop_id"], delay=delay)
    notifications.enqueue(ctx, replace(notice, event_id=event.event_id))


def on_refund_succeeded_notify(uow: UnitOfWork, event: Envelope) -> None:
    p = event.payload
    variables = {"order_id": p["order_id"], "amount_yuan": messages.yuan(int(p["amount_fen"]))}
    key = f"refund_succeeded:{p['refund_id']}"
    _notify(uow, event, Notice("refund_succeeded", key, variables, p["order_id"], p["shop_id"]))


def on_address_changed_notify(uow: UnitOfWork, event: Envelope) -> None:
    """The receiver address changed before dispatch (orders): the buyer is told where the parcel now
    goes (masked as the event carries it), once per change; a re-audit hold is said."""
    p = event.payload
    a = p.get("address") or {}
    region = "".join(str(a.get(k) or "") for k in ("province", "city", "district")) or "新地址"
    review = "，新地址需审核后发货" if p.get("held") else ""
    variables = {
        "order_id": p["order_id"],
        "region": region,
        "name": a.get("name") or "",
        "phone": a.get("phone") or "",
    }
    variables["review"] = review
    key = f"address_changed:{p['order_id']}:{p['changed_at']}"
    notice = Notice("address_changed", key, variables, p["order_id"], p["shop_id"], p.get("buyer_id"))
    _notify(uow, event, notice)


def on_invoice_issued_notify(uow: UnitOfWork, event: Envelope) -> None:
    """Finance issued the buyer's invoice (billing): its number, amount and title, once per invoice."""
    p = event.payload
    variables = {"order_id": p["order_id"], "invoice_no": p["invoice_no"], "title": p.get("title") or "个人"}
    variables["amount_yuan"] = messages.yuan(int(p["amount_fen"]))
    key = f"invoice_issued:{p['invoice_id']}"
    notice = Notice("invoice_issued", key, variables, p["order_id"], p["shop_id"], p["buyer_id"])
    _notify(uow, event, notice)


def on_invoice_refused_notify(uow: UnitOfWork, event: Envelope) -> None:
    """Finance refused the buyer's invoice request (billing): the reason, once per request (the buyer
    may ask again: a new request, a new message when refused)."""
    p = event.payload
    variables = {"order_id": p["order_id"], "reason": p["reason"]}
    key = f"invoice_refused:{p['invoice_id']}"
    notice = Notice("invoice_refused", key, variables, p["order_id"], p["shop_id"], p["buyer_id"])
    _notify(uow, event, notice)


def on_coupon_issued_notify(uow: UnitOfWork, event: Envelope) -> None:
    """A coupon reached the buyer's account (marketing): a marketing message; a complaint's
    compensation coupon (reason compensation) a service message with its value."""
    p = event.payload
    key = f"coupon_issued:{p['claim_id']}"
    if p.get("reason") == "compensation" and p.get("amount_fen") is not None:
        template, variables = "compensation_coupon", {"amount_yuan": messages.yuan(int(p["amount_fen"]))}
    else:
        template, variables = "coupon_issued", {"issuer": "店铺" if p.get("shop_id") else "平台"}
    notice = Notice(template, key, variables, None, p.get("shop_id"), buyer_id=p["buyer_id"])
    _notify(uow, event, notice)


def both(first: Handler, then: Handler) -> Handler:
    """One routing key, two concerns: the case (`first`) and the buyer's message (`then`), in the
    same unit of work (a retry of the event re-runs both; the message's key keeps it single)."""

    def handle(uow: UnitOfWork, event: Envelope) -> None:
        first(uow, event)
        then(uow, event)

    handle.__name__ = f"{first.__name__}+{then.__name__}"
    return handle


def on_promotion_period_declared(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.PromotionPeriodDeclared: keep marketing's period (the highest version wins)."""
    p = event.payload
    values = {"name": p["name"], "starts_at": parse_iso(p["starts_at"]), "ends_at": parse_iso(p["ends_at"])}
    periods.copy_period(for_event(uow, event, Settings), p["period_id"], int(p["version"]), values)


def on_promotion_period_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """marketing.PromotionPeriodCancelled: returns received in it no longer get 48 h."""
    p = event.payload
    periods.copy_period(for_event(uow, event, Settings), p["period_id"], int(p["version"]), {"cancelled": True})


HANDLERS: dict[str, Handler] = {
    "billing.RefundSucceeded": both(on_refund_succeeded, on_refund_succeeded_notify),
    "billing.RefundFailed": on_refund_failed,
    "logistics.ShipmentDispatched": both(on_shipment_dispatched, on_shipment_dispatched_notify),
    "logistics.ShipmentDelivered": on_shipment_delivered,
    "orders.OrderCancelled": on_order_cancelled,
    "orders.OrderCompleted": on_order_completed,  # new customers (approvals.automatic_reason)
    # only the buyer's message
    "orders.OrderHeld": on_order_held_notify,
    "orders.PresalePromised": on_presale_promised_notify,
    "logistics.ShipmentException": on_shipment_exception_notify,
    "logistics.ShipmentStalled": on_shipment_stalled_notify,
    "logistics.CarrierChanged": on_carrier_changed_notify,
    "logistics.ArrivalEstimateChanged": on_arrival_estimate_changed_notify,
    "orders.OrderDelivered": on_order_delivered_notify,
    "orders.AddressChanged": on_address_changed_notify,
    "marketing.CouponIssued": on_coupon_issued_notify,
    "billing.InvoiceIssued": on_invoice_issued_notify,
    "billing.InvoiceRefused": on_invoice_refused_notify,
    # marketing is the one source of promotion periods
    "marketing.PromotionPeriodDeclared": on_promotion_period_declared,
    "marketing.PromotionPeriodCancelled": on_promotion_period_cancelled,
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


def send_notifications(db: Database, orders: object | None = None) -> int:
    """Deliver every message that is due: claim it (a lease, so two replicas never both send it),
    reach the buyer through orders outside any transaction, then apply the rules and hand it to the
    channel in one unit of work. `orders`: a fake in unit tests (default: the real gateway)."""
    with for_job(db, Settings) as ctx:
        ids = notifications.due(ctx)
    gateway = orders or gateways.OrdersGateway(db.config)
    sent = 0
    for message_id in ids:
        with for_job(db, Settings) as ctx:
            claimed = notifications.claim(ctx, message_id)
        if claimed is None:
            continue
        recipient = notifications.reach(claimed.order_id, claimed.buyer_id, gateway)
        with for_job(db, Settings) as ctx:
            sent += notifications.deliver(ctx, message_id, recipient=recipient) == "sent"
    return sent


def escalate_service_clocks(db: Database) -> int:
    """Escalate every case or complaint whose service clock (first response, solution, resolution)
    ran out, once per clock (the escalation row's key; safe on two workers), one unit of work each."""
    with for_job(db, Settings) as ctx:
        overdue = service_desk.breached(ctx)
    escalated = 0
    for kind, ref_id, milestone in overdue:
        with for_job(db, Settings) as ctx:
            escalated += service_desk.escalate(ctx, kind, ref_id, milestone)
    return escalated


JOBS: list[Job] = [
    Job("escalate-complaint-breaches", escalate_complaint_breaches, interval=60),
    # every ECOM_JOB_INTERVAL (30 s by default; tests run them explicitly)
    Job("send-notifications", send_notifications),
    Job("escalate-service-clocks", escalate_service_clocks),
]
