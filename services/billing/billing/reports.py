"""Reports over billing's books: the ledger balance and the daily reconciliation (资金流与订单流一致):
every payment matches an order and a ledger entry, every refund a ledger entry, every payout the
ledger entries it paid; mismatches are listed, never hidden."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from .domain import EntryKind
from .models import BillingOrder, LedgerEntry, Payment, Payout, PayoutItem, Refund, Settlement


def ledger_balance(session, shop_id: str | None) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen), 0))
    if shop_id:
        stmt = stmt.where(LedgerEntry.shop_id == shop_id)
    return int(session.execute(stmt).scalar_one())


def unpaid_released_fen(session, shop_id: str) -> int:
    """What the next payout would pay from orders already settled (e.g. negative after a refund)."""
    released = sa.select(Settlement.order_id).where(Settlement.shop_id == shop_id, Settlement.status == "settled")
    stmt = sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen), 0)).where(
        LedgerEntry.shop_id == shop_id,
        LedgerEntry.order_id.in_(released),
        LedgerEntry.id.not_in(sa.select(PayoutItem.ledger_entry_id)),
    )
    return int(session.execute(stmt).scalar_one())


def reconciliation(session, day: date, shop_id: str | None) -> dict:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)

    def scoped(stmt, column):
        return stmt.where(column == shop_id) if shop_id else stmt

    completed = (
        session.execute(
            scoped(
                sa.select(BillingOrder).where(BillingOrder.completed_at >= start, BillingOrder.completed_at < end),
                BillingOrder.shop_id,
            )
        )
        .scalars()
        .all()
    )
    payments = (
        session.execute(
            scoped(
                sa.select(Payment).where(
                    Payment.status == "succeeded", Payment.succeeded_at >= start, Payment.succeeded_at < end
                ),
                Payment.shop_id,
            )
        )
        .scalars()
        .all()
    )
    refunds = (
        session.execute(
            scoped(
                sa.select(Refund).where(
                    Refund.status == "succeeded", Refund.created_at >= start, Refund.created_at < end
                ),
                Refund.shop_id,
            )
        )
        .scalars()
        .all()
    )
    day_entries = (
        session.execute(
            scoped(
                sa.select(LedgerEntry).where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end),
                LedgerEntry.shop_id,
            )
        )
        .scalars()
        .all()
    )
    payouts = (
        session.execute(
            scoped(sa.select(Payout).where(Payout.created_at >= start, Payout.created_at < end), Payout.shop_id)
        )
        .scalars()
        .all()
    )

    def entry(kind: str, ref_id: str) -> LedgerEntry | None:
        return session.execute(
            sa.select(LedgerEntry).where(LedgerEntry.kind == kind, LedgerEntry.ref_id == ref_id)
        ).scalar_one_or_none()

    mismatches: list[dict] = []
    for p in payments:
        order = session.get(BillingOrder, p.order_id)
        if order is None:
            mismatches.append({"kind": "payment_without_order", "payment_id": p.payment_id, "order_id": p.order_id})
        elif order.payable_fen != p.amount_fen:
            mismatches.append(
                {
                    "kind": "payment_amount_differs",
                    "payment_id": p.payment_id,
                    "order_id": p.order_id,
                    "paid_fen": p.amount_fen,
                    "payable_fen": order.payable_fen,
                }
            )
        elif order.shop_id != p.shop_id:
            mismatches.append({"kind": "payment_shop_differs", "payment_id": p.payment_id, "order_id": p.order_id})
        e = entry(EntryKind.PAYMENT, p.payment_id)
        if e is None or e.amount_fen != p.amount_fen:
            mismatches.append({"kind": "payment_not_in_ledger", "payment_id": p.payment_id, "order_id": p.order_id})
    for r in refunds:
        e = entry(EntryKind.REFUND, r.refund_id)
        if e is None or e.amount_fen != -r.amount_fen:
            mismatches.append({"kind": "refund_not_in_ledger", "refund_id": r.refund_id, "order_id": r.order_id})
    for po in payouts:
        e = entry(EntryKind.PAYOUT, po.payout_id)
        paid_entries = session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_fen), 0))
            .join(PayoutItem, PayoutItem.ledger_entry_id == LedgerEntry.id)
            .where(PayoutItem.payout_id == po.payout_id, LedgerEntry.kind != EntryKind.PAYOUT)
        ).scalar_one()
        if e is None or e.amount_fen != -po.amount_fen or int(paid_entries) != po.amount_fen:
            mismatches.append(
                {
                    "kind": "payout_does_not_match_ledger",
                    "payout_id": po.payout_id,
                    "amount_fen": po.amount_fen,
                    "entries_fen": int(paid_entries),
                }
            )
    for order in completed:
        has = session.execute(sa.select(Settlement.settlement_id).where(Settlement.order_id == order.order_id)).first()
        if not has:
            mismatches.append({"kind": "completed_without_settlement", "order_id": order.order_id})
        if order.paid_fen == 0:
            mismatches.append({"kind": "completed_without_payment", "order_id": order.order_id})

    commission = sum(
        -e.amount_fen for e in day_entries if e.kind in (EntryKind.COMMISSION, EntryKind.COMMISSION_REVERSAL)
    )
    return {
        "date": day.isoformat(),
        "shop_id": shop_id,
        "orders_completed": {"count": len(completed), "payable_fen": sum(o.payable_fen for o in completed)},
        "paid": {"count": len(payments), "amount_fen": sum(p.amount_fen for p in payments)},
        "refunded": {"count": len(refunds), "amount_fen": sum(r.amount_fen for r in refunds)},
        "commission_fen": commission,
        "paid_out": {"count": len(payouts), "amount_fen": sum(p.amount_fen for p in payouts)},
        "ledger_movement_fen": sum(e.amount_fen for e in day_entries),
        "balanced": not mismatches,
        "mismatches": mismatches,
    }
