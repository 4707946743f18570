"""billing handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction) and never commits. The business steps live in operations.py (shared with the API).
"""

from __future__ import annotations

from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job

from . import operations as ops
from .sandbox import SandboxProvider


def on_order_placed(uow: UnitOfWork, event: Envelope) -> None:
    """Remember what the buyer will owe, line by line (for refund caps and commission)."""
    p = event.payload
    now = uow.db.config.clock.now()
    ops.remember_order(
        uow.session,
        now,
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        buyer_id=p.get("buyer_id"),
        payable_fen=p["payable_fen"],
        lines=p.get("lines") or [],
        source="event",
        placed_at=ops.parse_time(event.occurred_at),
    )


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """Refund what was paid, once per order, carrying the after-sales case id when there is one.
    A payment still pending is refunded when (if) its late success arrives."""
    p = event.payload
    session, now = uow.session, uow.db.config.clock.now()
    ops.remember_order(
        session,
        now,
        order_id=p["order_id"],
        shop_id=p["shop_id"],
        buyer_id=p.get("buyer_id"),
        payable_fen=p.get("payable_fen") or 0,
        lines=p.get("lines"),
        source="event",
    )
    order = ops.lock_order(session, p["order_id"])
    ops.mark_cancelled(session, now, order, p.get("reason"), p.get("case_id"), "orders")
    if ops.succeeded_payment(session, order.order_id) is None:
        if p.get("was_paid"):
            ops._refuse(
                uow,
                order.order_id,
                order.shop_id,
                f"order:{order.order_id}:full",
                "order_cancelled",
                p.get("case_id"),
                0,
                "no_payment_on_record",
                "orders reports the order paid but billing holds no succeeded payment for it",
            )
        return
    ops.refund_in_full(uow, order, kind="order_cancelled", case_id=p.get("case_id"), actor="orders")


def on_order_completed(uow: UnitOfWork, event: Envelope) -> None:
    """Schedule settlement at completion + BILLING_SETTLEMENT_DAYS (T+7)."""
    ops.schedule_settlement(uow, event.payload)


def on_refund_approved(uow: UnitOfWork, event: Envelope) -> None:
    ops.refund_for_case(uow, event.payload)


HANDLERS = {
    "orders.OrderPlaced": on_order_placed,
    "orders.OrderCancelled": on_order_cancelled,
    "orders.OrderCompleted": on_order_completed,
    "aftersales.RefundApproved": on_refund_approved,
}

SUBSCRIPTIONS = [Subscription("billing.events", HANDLERS)]


def settle_due(db: Database) -> int:
    return ops.settle_due(db)


def resend_pending_webhooks(db: Database) -> int:
    """The sandbox provider's retry: intents still pending after BILLING_SANDBOX_RETRY_AFTER_SECONDS
    are resolved and their webhooks (re)sent."""
    return SandboxProvider(db).redeliver_due()


JOBS: list[Job] = [
    Job("settle-due", settle_due),
    Job("sandbox-webhook-retry", resend_pending_webhooks, interval=10),
]
