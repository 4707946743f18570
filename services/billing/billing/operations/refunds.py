"""Refunds: in full (a cancellation, a late payment) or for an after-sales case, capped by what
was paid for the lines; a refusal is recorded and announced, nothing moves."""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.errors import LostRace, NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Actor, Ctx

from .. import books, domain, shares
from ..books import BILLING, audit, book
from ..domain import Booking, EntryKind
from ..models import BillingOrder, LedgerEntry, OrderLine, Payment, Refund, Settlement
from ..sandbox import SandboxProvider
from ..settings import Settings
from ..shares import RefundRequest


def refund_in_full(ctx: Ctx[Settings], order: BillingOrder, request: RefundRequest) -> Refund | None:
    """Refund everything paid and not yet refunded, once per order."""
    if books.succeeded_refund(ctx, request.key) is not None:
        return None
    payment = books.succeeded_payment(ctx, order.order_id)
    if payment is None:
        return None
    plan = shares.plan_full_refund(books.line_balances(ctx, order.order_id), order.paid_fen, order.refunded_fen)
    if plan.amount_fen <= 0:
        return None
    return execute_refund(ctx, request, plan, order=order, payment=payment)


def refund_for_case(ctx: Ctx[Settings], request: RefundRequest, *, lines: list[dict] | None) -> Refund | None:
    """aftersales.RefundApproved: refund to the original route, capped by what was paid for the
    lines less what was refunded for them; a refusal is recorded and announced, nothing moves."""
    if books.succeeded_refund(ctx, request.key) is not None:
        return None
    billing = ctx.acting_as(BILLING)
    order = books.lock_order(ctx, request.order_id)
    if order is None:
        return refuse(
            billing, request, domain.RefundRefusedError("unknown_order", "billing has no record of this order")
        )
    request = RefundRequest(
        request.key, request.kind, request.order_id, order.shop_id, request.case_id, request.requested_fen
    )
    payment = books.succeeded_payment(ctx, order.order_id)
    if payment is None:
        return refuse(
            billing, request, domain.RefundRefusedError("order_not_paid", "no payment was taken for this order")
        )
    try:
        plan = shares.plan_line_refund(
            books.line_balances(ctx, order.order_id),
            lines,
            request.requested_fen or 0,
            order.paid_fen,
            order.refunded_fen,
        )
    except domain.RefundRefusedError as refused:
        return refuse(billing, request, refused, payment=payment)
    case = ctx.acting_as(Actor(f"case:{request.case_id}"))
    return execute_refund(case, request, plan, order=order, payment=payment)


def refuse(
    ctx: Ctx[Settings], request: RefundRequest, refused: domain.RefundRefusedError, *, payment: Payment | None = None
) -> Refund:
    """A refund refused: recorded (status failed, nothing moved) and announced as billing.RefundFailed."""
    now = ctx.now
    requested = request.requested_fen or 0
    refund = Refund(
        refund_id=ids.new_id(domain.REFUND_ID, now),
        refund_key=request.key,
        order_id=request.order_id,
        shop_id=request.shop_id,
        payment_id=payment.payment_id if payment else None,
        case_id=request.case_id,
        kind=request.kind,
        status="failed",
        amount_fen=0,
        requested_fen=requested,
        reason=f"{refused.code}: {refused.detail}"[:300],
        route=None,
        after_settlement=False,
        created_at=now,
    )
    ctx.session.add(refund)
    audit(ctx, ("refund", refund.refund_id), "refused", move=(None, "failed"), detail=refund.reason)
    ctx.record(
        make_event(
            "billing.RefundFailed",
            {
                "order_id": request.order_id,
                "shop_id": request.shop_id,
                "refund_id": refund.refund_id,
                "case_id": request.case_id,
                "reason": refused.detail,
                "code": refused.code,
                "requested_fen": requested,
            },
        )
    )
    return refund


def execute_refund(
    ctx: Ctx[Settings], request: RefundRequest, plan: shares.RefundPlan, *, order: BillingOrder, payment: Payment
) -> Refund:
    """Move the money of `plan`: the guarded counters, the provider's refund to the original route,
    the ledger (and the commission given back after settlement), billing.RefundSucceeded."""
    session, now = ctx.session, ctx.now
    amount, kind = plan.amount_fen, request.kind
    refund_id = ids.new_id(domain.REFUND_ID, now)
    moved = session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == order.order_id, BillingOrder.refunded_fen + amount <= BillingOrder.paid_fen)
        .values(refunded_fen=BillingOrder.refunded_fen + amount, updated_at=now)
    ).rowcount
    if moved != 1:
        raise LostRace(f"refund of {amount} on {order.order_id} would exceed what was paid")
    for part in plan.parts:
        if part.amount_fen == 0 and part.quantity == 0:
            continue
        moved = session.execute(
            sa.update(OrderLine)
            .where(
                OrderLine.order_id == order.order_id,
                OrderLine.line_no == part.line_no,
                OrderLine.refunded_fen + part.amount_fen <= OrderLine.share_fen,
                OrderLine.refunded_qty + part.quantity <= OrderLine.quantity,
            )
            .values(
                refunded_fen=OrderLine.refunded_fen + part.amount_fen,
                refunded_qty=OrderLine.refunded_qty + part.quantity,
            )
        ).rowcount
        if moved != 1:
            raise LostRace(f"line {part.line_no} of {order.order_id} changed during the refund")
    provider_refund_id = SandboxProvider(ctx.uow.db).refund(session, payment.intent_id, refund_id, amount)
    settlement = session.execute(
        sa.select(Settlement).where(Settlement.order_id == order.order_id)
    ).scalar_one_or_none()
    after_settlement = settlement is not None and settlement.status == "settled"
    parts = [
        {"line_no": p.line_no, "sku_code": p.sku_code, "amount_fen": p.amount_fen, "quantity": p.quantity}
        for p in plan.parts
    ]
    refund = Refund(
        refund_id=refund_id,
        refund_key=request.key,
        order_id=order.order_id,
        shop_id=order.shop_id,
        payment_id=payment.payment_id,
        case_id=request.case_id,
        kind=kind,
        status="succeeded",
        amount_fen=amount,
        requested_fen=amount if request.requested_fen is None else request.requested_fen,
        reason=None,
        route=payment.method + (f":{payment.card_last4}" if payment.card_last4 else ""),
        provider_refund_id=provider_refund_id,
        after_settlement=after_settlement,
        lines=parts,
        created_at=now,
    )
    session.add(refund)
    session.flush()
    book(
        ctx,
        Booking(
            order.shop_id,
            EntryKind.REFUND,
            amount,
            refund_id,
            order.order_id,
            memo=f"refund ({kind})",
            detail={"lines": parts},
        ),
    )
    if after_settlement:
        # The commission already taken on this money is given back; the refund and the reversal are
        # both taken from the next payout.
        reversal = commission_on_refund(ctx, settlement, plan)
        if reversal:
            book(
                ctx,
                Booking(
                    order.shop_id,
                    EntryKind.COMMISSION_REVERSAL,
                    reversal,
                    refund_id,
                    order.order_id,
                    memo="commission returned on a refund after settlement",
                ),
            )
        clawback = subsidy_on_refund(ctx, order.order_id, plan)
        if clawback:
            book(
                ctx,
                Booking(
                    order.shop_id,
                    EntryKind.SUBSIDY_REVERSAL,
                    clawback,
                    refund_id,
                    order.order_id,
                    memo="platform subsidy taken back on a refund after settlement",
                ),
            )
    audit(
        ctx,
        ("refund", refund_id),
        "refunded",
        move=(None, "succeeded"),
        detail=f"{kind} {amount} fen to {refund.route}",
    )
    ctx.record(
        make_event(
            "billing.RefundSucceeded",
            {
                "order_id": order.order_id,
                "shop_id": order.shop_id,
                "refund_id": refund_id,
                "amount_fen": amount,
                "case_id": request.case_id,
                "payment_id": payment.payment_id,
                "kind": kind,
                "after_settlement": after_settlement,
            },
        )
    )
    return refund


def commission_on_refund(ctx: Ctx[Settings], settlement: Settlement, plan: shares.RefundPlan) -> int:
    """The commission the settlement took on the money `plan` refunds, at the rates it used."""
    entry = ctx.session.execute(
        sa.select(LedgerEntry).where(
            LedgerEntry.kind == EntryKind.COMMISSION, LedgerEntry.ref_id == settlement.settlement_id
        )
    ).scalar_one_or_none()
    if entry is None:
        return 0
    rates = {l["line_no"]: l["rate_bps"] for l in (entry.detail or {}).get("lines", [])}
    fallback = next(iter(rates.values()), 0)
    return sum(domain.commission_fen(p.amount_fen, rates.get(p.line_no, fallback)) for p in plan.parts)


def subsidy_on_refund(ctx: Ctx[Settings], order_id: str, plan: shares.RefundPlan) -> int:
    """The platform subsidy paid at settlement for the money `plan` refunds, line by line."""
    balances = {b.line_no: b for b in books.line_balances(ctx, order_id)}
    return sum(shares.subsidy_on_refund(balances[p.line_no], p.amount_fen) for p in plan.parts if p.line_no in balances)


def visible_refund(ctx: Ctx[Settings], refund_id: str) -> Refund:
    """One refund the caller may see (another shop's answers 404, as a missing one)."""
    refund = ctx.session.get(Refund, refund_id)
    if refund is None:
        raise NotFound("refund not found")
    ctx.require_visible(refund.shop_id, None, "refund")
    return refund
