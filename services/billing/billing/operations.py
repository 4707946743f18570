"""billing's business steps that touch the database, shared by API views, event handlers and jobs.

Each step runs inside the caller's unit of work (it never commits): it loads, asks the domain,
writes with guarded (conditional) updates and records events. Money moves are guarded twice:
by conditional UPDATEs (`refunded_fen + :x <= paid_fen`) and by unique keys (one succeeded refund per
refund key, one ledger entry per (kind, ref), one payout per ledger entry).
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import Database, UnitOfWork, insert_ignore, is_unique_violation
from ecom_common.events import make_event

from . import domain, settings
from .domain import EntryKind, PaymentStatus
from .models import (
    AuditEntry,
    BillingOrder,
    CommissionRate,
    LedgerEntry,
    OrderLine,
    Payment,
    Payout,
    PayoutItem,
    Refund,
    Settlement,
)
from .sandbox import SandboxProvider

log = logging.getLogger("billing.operations")


class ConcurrentChange(RuntimeError):
    """A guarded update found the row changed under it: the whole step is retried (by the
    consumer's retry path), and the retry sees the other change."""


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def audit(
    session,
    now,
    actor: str,
    subject_type: str,
    subject_id: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor=actor[:120],
            subject_type=subject_type,
            subject_id=subject_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            detail=(detail or None) and detail[:500],
        )
    )


def book(
    session,
    now,
    shop_id: str,
    kind: str,
    magnitude_fen: int,
    ref_id: str,
    order_id: str | None = None,
    memo: str | None = None,
    detail: dict | None = None,
) -> LedgerEntry:
    """Append one immutable ledger entry (the kind gives its sign)."""
    entry = LedgerEntry(
        shop_id=shop_id,
        kind=kind,
        amount_fen=domain.entry_amount(kind, magnitude_fen),
        order_id=order_id,
        ref_id=ref_id,
        memo=memo,
        detail=detail,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


# Billing's copy of orders --------------------------------------------------------------------------
def remember_order(
    session,
    now,
    *,
    order_id: str,
    shop_id: str,
    buyer_id: str | None,
    payable_fen: int,
    lines: list[dict] | None,
    source: str,
    placed_at: datetime | None = None,
) -> BillingOrder:
    """Keep billing's own copy of an order, once; a copy made without lines takes them later.

    The copy is made by whichever comes first, the OrderPlaced handler or POST /payments, and both
    may make it at the same moment: the insert ignores a copy already there (INSERT ... ON CONFLICT
    DO NOTHING waits for the other transaction and then does nothing), and that copy is completed.
    A plain INSERT failed on the key instead, and the handler's message spent a retry."""
    order = session.get(BillingOrder, order_id)
    if order is None:
        insert_ignore(
            session,
            BillingOrder.__table__,
            dict(
                order_id=order_id,
                shop_id=shop_id,
                buyer_id=buyer_id,
                payable_fen=int(payable_fen or 0),
                status="open",
                paid_fen=0,
                refunded_fen=0,
                source=source,
                placed_at=placed_at,
                created_at=now,
                updated_at=now,
            ),
        )
        order = session.get(BillingOrder, order_id)
    if not order.buyer_id and buyer_id:
        order.buyer_id = buyer_id
    if not order.payable_fen and payable_fen:
        order.payable_fen = int(payable_fen)
    if order.placed_at is None and placed_at is not None:
        # The copy was made from a later event (OrderCompleted/OrderCancelled overtook OrderPlaced).
        order.placed_at = placed_at
    has_lines = session.execute(sa.select(OrderLine.id).where(OrderLine.order_id == order_id).limit(1)).first()
    if lines and not has_lines and order.payable_fen:
        shares = domain.line_shares(order.payable_fen, lines)
        for no, (line, share) in enumerate(zip(lines, shares, strict=False), start=1):
            session.add(
                OrderLine(
                    order_id=order_id,
                    line_no=no,
                    sku_code=line["sku_code"],
                    category_id=line.get("category_id"),
                    quantity=int(line["quantity"]),
                    unit_price_fen=int(line.get("unit_price_fen") or 0),
                    share_fen=share,
                    refunded_fen=0,
                    refunded_qty=0,
                )
            )
        session.flush()
    return order


def lock_order(session, order_id: str) -> BillingOrder | None:
    """The order row, locked for this transaction (PostgreSQL); refunds of one order serialise here."""
    return session.execute(
        sa.select(BillingOrder)
        .where(BillingOrder.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def line_balances(session, order_id: str) -> list[domain.LineBalance]:
    rows = (
        session.execute(
            sa.select(OrderLine)
            .where(OrderLine.order_id == order_id)
            .order_by(OrderLine.line_no)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    return [
        domain.LineBalance(
            r.line_no,
            r.sku_code,
            r.quantity,
            r.unit_price_fen,
            r.share_fen,
            r.category_id,
            r.refunded_fen,
            r.refunded_qty,
        )
        for r in rows
    ]


def succeeded_payment(session, order_id: str) -> Payment | None:
    return session.execute(
        sa.select(Payment).where(Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED)
    ).scalar_one_or_none()


def mark_cancelled(session, now, order: BillingOrder, reason: str | None, case_id: str | None, actor: str) -> bool:
    moved = session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == order.order_id, BillingOrder.status != "cancelled")
        .values(
            status="cancelled",
            cancelled_at=now,
            cancel_reason=(reason or None) and reason[:200],
            cancel_case_id=case_id,
            updated_at=now,
        )
    ).rowcount
    if moved:
        audit(session, now, actor, "order", order.order_id, "cancelled", order.status, "cancelled", reason)
        session.refresh(order)
    return bool(moved)


# Payments ----------------------------------------------------------------------------------------
def apply_payment_outcome(
    uow: UnitOfWork,
    payment_id: str,
    succeeded: bool,
    failure_code: str | None = None,
    failure_message: str | None = None,
    cancelled_elsewhere: bool = False,
    actor: str = "provider",
) -> str:
    """The provider decided a payment. Applied once (pending -> succeeded|failed, guarded); a success
    for an order cancelled meanwhile is booked and refunded at once instead of announced."""
    session, now = uow.session, uow.db.config.clock.now()
    payment = session.get(Payment, payment_id)
    target = PaymentStatus.SUCCEEDED if succeeded else PaymentStatus.FAILED
    if payment.status != PaymentStatus.PENDING:
        return "unchanged"
    domain.check_payment_transition(payment.status, target)
    values = dict(status=target, updated_at=now)
    if succeeded:
        values["succeeded_at"] = now
    else:
        values.update(
            failed_at=now,
            failure_code=failure_code,
            failure_reason=(failure_message or failure_code or "declined")[:200],
        )
    moved = session.execute(
        sa.update(Payment)
        .where(Payment.payment_id == payment_id, Payment.status == PaymentStatus.PENDING)
        .values(**values)
    ).rowcount
    if moved != 1:
        return "unchanged"
    session.refresh(payment)
    audit(session, now, actor, "payment", payment_id, target, PaymentStatus.PENDING, target, failure_code)
    if not succeeded:
        uow.record(
            make_event(
                "billing.PaymentFailed",
                {
                    "order_id": payment.order_id,
                    "shop_id": payment.shop_id,
                    "payment_id": payment_id,
                    "reason": payment.failure_reason,
                    "failure_code": failure_code,
                    "method": payment.method,
                },
            )
        )
        return "failed"

    book(
        session,
        now,
        payment.shop_id,
        EntryKind.PAYMENT,
        payment.amount_fen,
        payment_id,
        payment.order_id,
        memo=f"payment {payment.method}",
    )
    order = lock_order(session, payment.order_id)
    took = session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == payment.order_id, BillingOrder.paid_fen == 0)
        .values(paid_fen=payment.amount_fen, paid_payment_id=payment_id, updated_at=now)
    ).rowcount
    if took != 1:  # the one-active-payment index makes this unreachable; fail loudly if it is not
        raise ConcurrentChange(f"order {payment.order_id} already has a paid amount")
    session.refresh(order)
    if cancelled_elsewhere and order.status != "cancelled":
        mark_cancelled(session, now, order, "cancelled at orders before the payment succeeded", None, "billing")
    if order.status == "cancelled":
        refund_in_full(uow, order, kind="late_payment", case_id=order.cancel_case_id, actor="billing")
        return "refunded"
    uow.record(
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


# Refunds -----------------------------------------------------------------------------------------
def _succeeded_refund(session, key: str) -> Refund | None:
    return session.execute(
        sa.select(Refund).where(Refund.refund_key == key, Refund.status == "succeeded")
    ).scalar_one_or_none()


def refund_in_full(uow: UnitOfWork, order: BillingOrder, kind: str, case_id: str | None, actor: str) -> Refund | None:
    """Refund everything paid and not yet refunded, once per order."""
    session = uow.session
    key = f"order:{order.order_id}:full"
    if _succeeded_refund(session, key) is not None:
        return None
    payment = succeeded_payment(session, order.order_id)
    if payment is None:
        return None
    plan = domain.plan_full_refund(line_balances(session, order.order_id), order.paid_fen, order.refunded_fen)
    if plan.amount_fen <= 0:
        return None
    return _execute_refund(uow, order, payment, plan, kind, key, case_id, plan.amount_fen, actor)


def refund_for_case(uow: UnitOfWork, payload: dict) -> Refund | None:
    """aftersales.RefundApproved: refund to the original route, capped by what was paid for the
    lines less what was refunded for them; a refusal is recorded and announced, nothing moves."""
    session = uow.session
    case_id, order_id, amount = payload["case_id"], payload["order_id"], int(payload["amount_fen"])
    key = f"case:{case_id}"
    if _succeeded_refund(session, key) is not None:
        return None
    order = lock_order(session, order_id)
    if order is None:
        return _refuse(
            uow,
            order_id,
            payload["shop_id"],
            key,
            "aftersales",
            case_id,
            amount,
            "unknown_order",
            "billing has no record of this order",
        )
    payment = succeeded_payment(session, order_id)
    if payment is None:
        return _refuse(
            uow,
            order_id,
            order.shop_id,
            key,
            "aftersales",
            case_id,
            amount,
            "order_not_paid",
            "no payment was taken for this order",
        )
    try:
        plan = domain.plan_line_refund(
            line_balances(session, order_id), payload.get("lines"), amount, order.paid_fen, order.refunded_fen
        )
    except domain.RefundRefused as refused:
        return _refuse(
            uow, order_id, order.shop_id, key, "aftersales", case_id, amount, refused.code, refused.detail, payment
        )
    return _execute_refund(uow, order, payment, plan, "aftersales", key, case_id, amount, f"case:{case_id}")


def _refuse(uow, order_id, shop_id, key, kind, case_id, requested, code, detail, payment=None) -> Refund:
    session, now = uow.session, uow.db.config.clock.now()
    refund = Refund(
        refund_id=domain.new_id("R", now),
        refund_key=key,
        order_id=order_id,
        shop_id=shop_id,
        payment_id=payment.payment_id if payment else None,
        case_id=case_id,
        kind=kind,
        status="failed",
        amount_fen=0,
        requested_fen=requested,
        reason=f"{code}: {detail}"[:300],
        route=None,
        after_settlement=False,
        created_at=now,
    )
    session.add(refund)
    audit(session, now, "billing", "refund", refund.refund_id, "refused", None, "failed", refund.reason)
    uow.record(
        make_event(
            "billing.RefundFailed",
            {
                "order_id": order_id,
                "shop_id": shop_id,
                "refund_id": refund.refund_id,
                "case_id": case_id,
                "reason": detail,
                "code": code,
                "requested_fen": requested,
            },
        )
    )
    return refund


def _execute_refund(
    uow: UnitOfWork,
    order: BillingOrder,
    payment: Payment,
    plan: domain.RefundPlan,
    kind: str,
    key: str,
    case_id: str | None,
    requested: int,
    actor: str,
) -> Refund:
    session, now = uow.session, uow.db.config.clock.now()
    amount = plan.amount_fen
    refund_id = domain.new_id("R", now)
    moved = session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == order.order_id, BillingOrder.refunded_fen + amount <= BillingOrder.paid_fen)
        .values(refunded_fen=BillingOrder.refunded_fen + amount, updated_at=now)
    ).rowcount
    if moved != 1:
        raise ConcurrentChange(f"refund of {amount} on {order.order_id} would exceed what was paid")
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
            raise ConcurrentChange(f"line {part.line_no} of {order.order_id} changed during the refund")
    provider_refund_id = SandboxProvider(uow.db).refund(session, payment.intent_id, refund_id, amount)
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
        refund_key=key,
        order_id=order.order_id,
        shop_id=order.shop_id,
        payment_id=payment.payment_id,
        case_id=case_id,
        kind=kind,
        status="succeeded",
        amount_fen=amount,
        requested_fen=requested,
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
        session,
        now,
        order.shop_id,
        EntryKind.REFUND,
        amount,
        refund_id,
        order.order_id,
        memo=f"refund ({kind})",
        detail={"lines": parts},
    )
    if after_settlement:
        # The commission already taken on this money is given back; the refund and the reversal are
        # both taken from the next payout.
        reversal = _commission_on_refund(session, settlement, plan)
        if reversal:
            book(
                session,
                now,
                order.shop_id,
                EntryKind.COMMISSION_REVERSAL,
                reversal,
                refund_id,
                order.order_id,
                memo="commission returned on a refund after settlement",
            )
    audit(
        session,
        now,
        actor,
        "refund",
        refund_id,
        "refunded",
        None,
        "succeeded",
        f"{kind} {amount} fen to {refund.route}",
    )
    uow.record(
        make_event(
            "billing.RefundSucceeded",
            {
                "order_id": order.order_id,
                "shop_id": order.shop_id,
                "refund_id": refund_id,
                "amount_fen": amount,
                "case_id": case_id,
                "payment_id": payment.payment_id,
                "kind": kind,
                "after_settlement": after_settlement,
            },
        )
    )
    return refund


def _commission_on_refund(session, settlement: Settlement, plan: domain.RefundPlan) -> int:
    entry = session.execute(
        sa.select(LedgerEntry).where(
            LedgerEntry.kind == EntryKind.COMMISSION, LedgerEntry.ref_id == settlement.settlement_id
        )
    ).scalar_one_or_none()
    if entry is None:
        return 0
    rates = {l["line_no"]: l["rate_bps"] for l in (entry.detail or {}).get("lines", [])}
    fallback = next(iter(rates.values()), 0)
    return sum(domain.commission_fen(p.amount_fen, rates.get(p.line_no, fallback)) for p in plan.parts)


# Settlement --------------------------------------------------------------------------------------
def schedule_settlement(uow: UnitOfWork, payload: dict) -> Settlement | None:
    session, config = uow.session, uow.db.config
    now = config.clock.now()
    order_id, shop_id = payload["order_id"], payload["shop_id"]
    completed_at = parse_time(payload["completed_at"]) or now
    order = remember_order(
        session,
        now,
        order_id=order_id,
        shop_id=shop_id,
        buyer_id=payload.get("buyer_id"),
        payable_fen=payload.get("payable_fen") or 0,
        lines=payload.get("lines"),
        source="event",
    )
    session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == order_id, BillingOrder.status == "open")
        .values(status="completed", completed_at=completed_at, updated_at=now)
    )
    if session.execute(sa.select(Settlement.settlement_id).where(Settlement.order_id == order_id)).first():
        return None
    due_at = domain.settlement_due_at(completed_at, settings.settlement_days(config))
    settlement = Settlement(
        settlement_id=domain.new_id("ST", now),
        order_id=order_id,
        shop_id=order.shop_id,
        completed_at=completed_at,
        due_at=due_at,
        status="scheduled",
        created_at=now,
    )
    session.add(settlement)
    session.flush()
    audit(
        session,
        now,
        "billing",
        "settlement",
        settlement.settlement_id,
        "scheduled",
        None,
        "scheduled",
        f"order {order_id} due {iso(due_at)}",
    )
    uow.record(
        make_event(
            "billing.SettlementScheduled",
            {
                "order_id": order_id,
                "shop_id": order.shop_id,
                "settlement_id": settlement.settlement_id,
                "due_at": iso(due_at),
            },
        )
    )
    return settlement


def commission_rates(session) -> dict[str, int]:
    return dict(session.execute(sa.select(CommissionRate.category_id, CommissionRate.rate_bps)).all())


def settle_due(db: Database) -> int:
    """The settlement job: for each shop with settlements due, claim them and pay out. Returns the
    number of payouts made. Safe to run twice or on two replicas at once (see settle_shop)."""
    now = db.config.clock.now()
    run = domain.new_id("run", now)
    with db.Session() as session:
        shops = (
            session.execute(
                sa.select(Settlement.shop_id)
                .where(Settlement.status == "scheduled", Settlement.due_at <= now)
                .distinct()
            )
            .scalars()
            .all()
        )
    payouts = 0
    for shop_id in shops:
        try:
            with db.uow() as uow:
                if settle_shop(uow, shop_id, now, run) is not None:
                    payouts += 1
                uow.commit()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            # Another run paid these ledger entries first: its payout stands, ours rolled back whole.
            log.info("settlement of shop %s lost a race to another run; nothing paid twice", shop_id)
    return payouts


def settle_shop(uow: UnitOfWork, shop_id: str, now: datetime, run: str) -> Payout | None:
    session, config = uow.session, uow.db.config
    stmt = (
        sa.select(Settlement)
        .where(Settlement.shop_id == shop_id, Settlement.status == "scheduled", Settlement.due_at <= now)
        .order_by(Settlement.due_at)
        .limit(500)
    )
    if uow.db.dialect == "postgresql":
        # Rows another run holds are skipped, not waited for; the conditional update below is the
        # second guard (and the only one on SQLite, which serialises writers anyway).
        stmt = stmt.with_for_update(skip_locked=True)
    claimed: list[Settlement] = []
    for st in session.execute(stmt).scalars().all():
        moved = session.execute(
            sa.update(Settlement)
            .where(Settlement.settlement_id == st.settlement_id, Settlement.status == "scheduled")
            .values(status="settled", claimed_by=run, settled_at=now)
        ).rowcount
        if moved == 1:
            claimed.append(st)
    if not claimed:
        return None
    rates, default_bps = commission_rates(session), settings.default_commission_bps(config)
    for st in claimed:
        order = session.get(BillingOrder, st.order_id)
        balances = line_balances(session, st.order_id)
        if balances:
            basis = [(b.line_no, b.category_id, b.share_fen - b.refunded_fen) for b in balances]
        else:
            basis = [(0, None, order.paid_fen - order.refunded_fen)]
        if not order.paid_fen:
            basis = []
        lines = domain.commission_for(basis, rates, default_bps)
        commission = sum(l.commission_fen for l in lines)
        session.execute(
            sa.update(Settlement)
            .where(Settlement.settlement_id == st.settlement_id)
            .values(gross_fen=order.paid_fen, refunded_fen=order.refunded_fen, commission_fen=commission)
        )
        if commission:
            book(
                session,
                now,
                shop_id,
                EntryKind.COMMISSION,
                commission,
                st.settlement_id,
                st.order_id,
                memo="platform commission",
                detail={
                    "lines": [
                        {
                            "line_no": l.line_no,
                            "category_id": l.category_id,
                            "net_fen": l.net_fen,
                            "rate_bps": l.rate_bps,
                            "commission_fen": l.commission_fen,
                        }
                        for l in lines
                    ]
                },
            )
        audit(
            session,
            now,
            f"job:{run}",
            "settlement",
            st.settlement_id,
            "settled",
            "scheduled",
            "settled",
            f"commission {commission} fen",
        )
    released = sa.select(Settlement.order_id).where(Settlement.shop_id == shop_id, Settlement.status == "settled")
    already_paid = sa.select(PayoutItem.ledger_entry_id)
    entries = (
        session.execute(
            sa.select(LedgerEntry)
            .where(
                LedgerEntry.shop_id == shop_id, LedgerEntry.order_id.in_(released), LedgerEntry.id.not_in(already_paid)
            )
            .order_by(LedgerEntry.id)
        )
        .scalars()
        .all()
    )
    amount = domain.payout_amount([e.amount_fen for e in entries])
    claimed_ids = [st.settlement_id for st in claimed]
    if amount is None:
        for sid in claimed_ids:
            audit(
                session,
                now,
                f"job:{run}",
                "settlement",
                sid,
                "carried_forward",
                "settled",
                "settled",
                "released entries do not add up to more than zero; carried to the next payout",
            )
        return None
    payout = Payout(
        payout_id=domain.new_id("PO", now), shop_id=shop_id, amount_fen=amount, entry_count=len(entries), created_at=now
    )
    session.add(payout)
    entry = book(
        session,
        now,
        shop_id,
        EntryKind.PAYOUT,
        amount,
        payout.payout_id,
        None,
        memo="payout to the merchant",
        detail={"settlement_ids": claimed_ids},
    )
    session.add_all([PayoutItem(ledger_entry_id=e.id, payout_id=payout.payout_id) for e in [*entries, entry]])
    session.flush()  # a unique violation here means another run paid an entry first: roll back whole
    session.execute(
        sa.update(Settlement).where(Settlement.settlement_id.in_(claimed_ids)).values(payout_id=payout.payout_id)
    )
    audit(
        session,
        now,
        f"job:{run}",
        "payout",
        payout.payout_id,
        "paid",
        None,
        "paid",
        f"{amount} fen for {len(entries)} entries",
    )
    uow.record(
        make_event(
            "billing.SettlementPaid",
            {
                "shop_id": shop_id,
                "payout_id": payout.payout_id,
                "amount_fen": amount,
                "settlement_ids": claimed_ids,
                "order_ids": [st.order_id for st in claimed],
            },
        )
    )
    return payout
