"""aftersales handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits. Events that carry no case_id, or a case_id this service does not
know, are not about a case: they are acknowledged and left alone.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job

from . import domain, operations
from .domain import Action, CaseType, ComplaintStatus, Status
from .models import Case, Complaint, Escalation

log = logging.getLogger("aftersales.handlers")


class NotYet(RuntimeError):
    """The event overtook the one it follows (e.g. delivered before dispatched): retry later."""


def _ctx(uow: UnitOfWork):
    return uow.db.config.clock.now(), domain.Policy.from_config(uow.db.config)


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
    now, policy = _ctx(uow)
    p = event.payload
    operations.close(
        uow,
        case,
        "billing",
        now,
        policy,
        outcome="refunded",
        reason=f"refund {p['refund_id']} of {p['amount_fen']} fen succeeded",
        refund_id=p["refund_id"],
        refund_failed=False,
    )


def on_refund_failed(uow: UnitOfWork, event: Envelope) -> None:
    """The case stays refunding with the failure on its timeline; cs may retry."""
    case = _case_of(uow, event)
    if case is None or case.status != Status.REFUNDING:
        return
    now, policy = _ctx(uow)
    why = event.payload.get("reason") or "refund failed"
    operations.transition(
        uow,
        case,
        Action.REFUND_FAILED,
        "billing",
        now,
        policy,
        f"refund {event.payload['refund_id']} failed: {why}",
        refund_failed=True,
        last_refund_error=why[:1000],
        refund_id=event.payload["refund_id"],
    )


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """The replacement of an exchange left the warehouse: received -> reshipped."""
    case = _case_of(uow, event)
    if case is None or case.case_type != CaseType.EXCHANGE:
        return
    if case.status != Status.RECEIVED:
        log.warning("replacement dispatched for case %s in status %s; ignored", case.id, case.status)
        return
    now, policy = _ctx(uow)
    p = event.payload
    operations.transition(
        uow,
        case,
        Action.RESHIP,
        "logistics",
        now,
        policy,
        f"replacement {p['shipment_id']} dispatched with {p['carrier']} {p['tracking_no']}",
        reship_shipment_id=p["shipment_id"],
        reship_tracking_no=p["tracking_no"],
    )


def on_shipment_delivered(uow: UnitOfWork, event: Envelope) -> None:
    """The replacement reached the buyer: reshipped -> closed."""
    case = _case_of(uow, event)
    if case is None or case.case_type != CaseType.EXCHANGE:
        return
    if case.status == Status.RECEIVED:
        # Delivered overtook Dispatched (a retried message): let the consumer retry this one.
        raise NotYet(f"replacement of case {case.id} delivered before its dispatch was recorded")
    if case.status != Status.RESHIPPED:
        log.warning("replacement delivered for case %s in status %s; ignored", case.id, case.status)
        return
    now, policy = _ctx(uow)
    operations.close(
        uow,
        case,
        "logistics",
        now,
        policy,
        outcome="exchanged",
        reason=f"replacement {event.payload['shipment_id']} delivered",
    )


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """The order was cancelled. For our own request (case_id set) the timeline says so; billing's
    RefundSucceeded will close the case. Cancelled for another reason: cases still waiting for cs
    are moot (billing refunds the whole order) and are rejected by the system."""
    now, policy = _ctx(uow)
    p = event.payload
    own = _case_of(uow, event)
    if own is not None:
        operations.note(
            uow, own, "order_cancelled", "orders", now, f"order {p['order_id']} cancelled; billing refunds it in full"
        )
        return
    waiting = (
        uow.session.execute(sa.select(Case).where(Case.order_id == p["order_id"], Case.status == Status.REQUESTED))
        .scalars()
        .all()
    )
    for case in waiting:
        operations.reject(
            uow,
            case,
            operations.SYSTEM,
            now,
            policy,
            f"order cancelled ({p.get('reason') or 'no reason given'}); "
            + ("billing refunds what was paid" if p.get("was_paid") else "nothing was paid"),
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
    (the escalation row's key guarantees it even with two workers). Time is config.clock."""
    now = db.config.clock.now()
    with db.Session() as session:
        ids = (
            session.execute(
                sa.select(Complaint.id)
                .where(
                    Complaint.status != ComplaintStatus.RESOLVED,
                    Complaint.met_at.is_(None),
                    Complaint.due_at < now,
                    ~sa.exists().where(Escalation.complaint_id == Complaint.id, Escalation.kind.like("breach:%")),
                )
                .order_by(Complaint.due_at)
                .limit(500)
            )
            .scalars()
            .all()
        )
    escalated = 0
    for complaint_id in ids:
        with db.uow() as uow:
            c = uow.session.get(Complaint, complaint_id)
            if c is None or c.status == ComplaintStatus.RESOLVED or not domain.breached(c.due_at, c.met_at, now):
                continue
            overdue_min = int((now - aware(c.due_at)).total_seconds() // 60)
            if operations.escalate(
                uow,
                c,
                f"breach:{c.milestone}",
                now,
                f"SLA breach: {c.tier} complaint's {c.milestone.replace('_', ' ')} overdue by {overdue_min} min",
            ):
                escalated += 1
            uow.commit()
    return escalated


JOBS: list[Job] = [Job("escalate-complaint-breaches", escalate_complaint_breaches, interval=60)]
