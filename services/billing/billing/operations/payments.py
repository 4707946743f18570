"""Payments: one pending payment with the provider's intent, then the provider's decision (its
signed webhook), applied once."""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.clock import iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict, LostRace, NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from .. import books, domain
from ..books import BILLING, audit, book
from ..domain import Booking, EntryKind, PaymentStatus
from ..models import AuditEntry, BillingOrder, Payment, SandboxIntent, WebhookReceipt
from ..sandbox import SandboxProvider
from ..settings import Settings
from ..shares import RefundRequest
from .orders import mark_cancelled
from .refunds import refund_in_full


def start_payment(ctx: Ctx[Settings], facts: domain.OrderFacts, charge: domain.Charge) -> tuple[Payment, SandboxIntent]:
    """A pending payment (its amount checked payable by the caller) with the provider's intent,
    confirmed in the same transaction; the provider settles it after the commit (the caller calls
    its `confirm_later` with the intent once the unit of work committed)."""
    amount_fen, method = charge.amount_fen, charge.method
    session, now = ctx.session, ctx.now
    active = session.execute(
        sa.select(Payment.payment_id, Payment.status).where(
            Payment.order_id == facts.order_id, Payment.status.in_(PaymentStatus.ACTIVE)
        )
    ).first()
    if active is not None:
        raise Conflict(
            f"the order already has a {active.status} payment {active.payment_id}",
            {"order_id": [f"payment {active.status}"]},
        )
    payment_id = ids.new_id(domain.PAYMENT_ID, now)
    provider = SandboxProvider(ctx.uow.db)
    intent = provider.create_intent(session, payment_id, charge)
    provider.confirm(session, intent)
    payment = Payment(
        payment_id=payment_id,
        order_id=facts.order_id,
        shop_id=facts.shop_id,
        buyer_id=ctx.actor.id,
        amount_fen=amount_fen,
        method=method,
        card_last4=intent.card_last4,
        status=PaymentStatus.PENDING,
        intent_id=intent.intent_id,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    audit(
        ctx,
        ("payment", payment_id),
        "created",
        move=(None, "pending"),
        detail=f"{method} {amount_fen} fen, intent {intent.intent_id}",
    )
    return payment, intent


def receive_webhook(ctx: Ctx[Settings], event: domain.WebhookEvent, *, cancelled_elsewhere: bool) -> dict | None:
    """The provider's event, applied once: its id is stored with its effect. None: received already
    (the caller rolls back: nothing changes)."""
    ctx.session.add(
        WebhookReceipt(
            provider_event_id=event.event_id,
            event_type=event.event_type[:60],
            intent_id=event.intent_id,
            received_at=ctx.now,
        )
    )
    try:
        ctx.session.flush()
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        return None
    outcome = "ignored"
    if event.outcome is not None:
        outcome = apply_payment_outcome(ctx, event.payment_id, event.outcome, cancelled_elsewhere=cancelled_elsewhere)
    return {"received": True, "duplicate": False, "event_id": event.event_id, "outcome": outcome}


def apply_payment_outcome(
    ctx: Ctx[Settings], payment_id: str, outcome: domain.ProviderOutcome, *, cancelled_elsewhere: bool = False
) -> str:
    """The provider decided a payment. Applied once (pending -> succeeded|failed, guarded); a success
    for an order cancelled meanwhile is booked and refunded at once instead of announced."""
    session, now = ctx.session, ctx.now
    payment = session.get(Payment, payment_id)
    target = PaymentStatus.SUCCEEDED if outcome.succeeded else PaymentStatus.FAILED
    if payment.status != PaymentStatus.PENDING:
        return "unchanged"
    domain.check_payment_transition(payment.status, target)
    values = dict(status=target, updated_at=now)
    if outcome.succeeded:
        values["succeeded_at"] = now
    else:
        values.update(
            failed_at=now,
            failure_code=outcome.failure_code,
            failure_reason=(outcome.failure_message or outcome.failure_code or "declined")[:200],
        )
    moved = session.execute(
        sa.update(Payment)
        .where(Payment.payment_id == payment_id, Payment.status == PaymentStatus.PENDING)
        .values(**values)
    ).rowcount
    if moved != 1:
        return "unchanged"
    session.refresh(payment)
    audit(ctx, ("payment", payment_id), target, move=(PaymentStatus.PENDING, target), detail=outcome.failure_code)
    if not outcome.succeeded:
        ctx.record(
            make_event(
                "billing.PaymentFailed",
                {
                    "order_id": payment.order_id,
                    "shop_id": payment.shop_id,
                    "payment_id": payment_id,
                    "reason": payment.failure_reason,
                    "failure_code": outcome.failure_code,
                    "method": payment.method,
                },
            )
        )
        return "failed"

    book(
        ctx,
        Booking(
            payment.shop_id,
            EntryKind.PAYMENT,
            payment.amount_fen,
            payment_id,
            payment.order_id,
            memo=f"payment {payment.method}",
        ),
    )
    order = books.lock_order(ctx, payment.order_id)
    took = session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == payment.order_id, BillingOrder.paid_fen == 0)
        .values(paid_fen=payment.amount_fen, paid_payment_id=payment_id, updated_at=now)
    ).rowcount
    if took != 1:  # the one-active-payment index makes this unreachable; fail loudly if it is not
        raise LostRace(f"order {payment.order_id} already has a paid amount")
    session.refresh(order)
    billing = ctx.acting_as(BILLING)
    if cancelled_elsewhere and order.status != "cancelled":
        mark_cancelled(billing, order, reason="cancelled at orders before the payment succeeded", case_id=None)
    if order.status == "cancelled":
        late = RefundRequest.in_full(order.order_id, order.shop_id, "late_payment", order.cancel_case_id)
        refund_in_full(billing, order, late)
        return "refunded"
    ctx.record(
        make_event(
            "billing.PaymentSucceeded",
            {
                "order_id": payment.order_id,
                "shop_id": payment.shop_id,
                "payment_id": payment_id,
                "amount_fen": payment.amount_fen,
                "method": payment.method,
                "paid_at": iso(now),
            },
        )
    )
    return "succeeded"


def payment_with_timeline(ctx: Ctx[Settings], payment_id: str) -> dict:
    """One payment the caller may see, with its timeline (the audit trail's entries for it)."""
    payment = ctx.session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("payment not found")
    ctx.require_visible(payment.shop_id, payment.buyer_id, "payment")
    timeline = (
        ctx.session.execute(
            sa.select(AuditEntry)
            .where(AuditEntry.subject_type == "payment", AuditEntry.subject_id == payment_id)
            .order_by(AuditEntry.id)
        )
        .scalars()
        .all()
    )
    return {**{c.key: getattr(payment, c.key) for c in sa.inspect(Payment).column_attrs}, "timeline": timeline}
