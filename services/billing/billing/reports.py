"""Reports over billing's books: the ledger balance, the daily reconciliation (资金流与订单流一致):
every payment matches an order and a ledger entry, every refund a ledger entry, every payout the
ledger entries it paid; and the three-way reconciliation (三流合一: funds, invoices, goods per
order, judged by threeway.py). Mismatches are listed, never hidden."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from . import threeway
from .domain import EntryKind
from .models import (
    BillingOrder,
    GoodsMovement,
    Invoice,
    LedgerEntry,
    OrderLine,
    Payment,
    Payout,
    PayoutItem,
    Refund,
    Settlement,
)

THREE_WAY_BATCH = 500  # orders judged per batch of grouped queries


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


def three_way(session, day: date, shop_id: str | None) -> dict:
    """三流合一 for a UTC day: every order with a fact that day (placed, paid, refunded, invoiced,
    dispatched, returned, completed, cancelled), its funds, invoice and goods as billing knows them
    at the end of the day, and every mismatch (threeway.mismatches)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    order_ids = _orders_of_day(session, start, end, shop_id)
    flows = list(_flows_of(session, order_ids, end))
    found = [m for f in flows for m in threeway.mismatches(f)]
    found += [
        threeway.goods_without_order(oid, shop) for oid, shop in _unknown_orders_moved(session, start, end, shop_id)
    ]
    return {
        "day": day.isoformat(),
        "shop_id": shop_id,
        "orders_checked": len(flows),
        "funds": {"paid_fen": sum(f.paid_fen for f in flows), "refunded_fen": sum(f.refunded_fen for f in flows)},
        "invoiced_fen": sum(f.invoiced_fen or 0 for f in flows),
        "goods": {
            "dispatched_units": sum(sum(f.dispatched.values()) for f in flows),
            "returned_units": sum(sum(f.returned.values()) for f in flows),
        },
        "balanced": not found,
        "mismatches": found,
    }


def _unknown_orders_moved(session, start: datetime, end: datetime, shop_id: str | None) -> list[tuple[str, str]]:
    """Orders whose goods moved that day and of which billing has no copy (nothing it could judge)."""
    stmt = (
        sa.select(GoodsMovement.order_id, GoodsMovement.shop_id)
        .where(GoodsMovement.at >= start, GoodsMovement.at < end)
        .where(GoodsMovement.order_id.not_in(sa.select(BillingOrder.order_id)))
        .distinct()
        .order_by(GoodsMovement.order_id)
    )
    if shop_id:
        stmt = stmt.where(GoodsMovement.shop_id == shop_id)
    return [(oid, shop) for oid, shop in session.execute(stmt)]


def _orders_of_day(session, start: datetime, end: datetime, shop_id: str | None) -> list[str]:
    def within(column):
        return sa.and_(column >= start, column < end)

    facts = [
        sa.select(BillingOrder.order_id).where(
            sa.or_(within(BillingOrder.placed_at), within(BillingOrder.completed_at), within(BillingOrder.cancelled_at))
        ),
        sa.select(Payment.order_id).where(Payment.status == "succeeded", within(Payment.succeeded_at)),
        sa.select(Refund.order_id).where(Refund.status == "succeeded", within(Refund.created_at)),
        sa.select(Invoice.order_id).where(sa.or_(within(Invoice.requested_at), within(Invoice.decided_at))),
        sa.select(GoodsMovement.order_id).where(within(GoodsMovement.at)),
    ]
    ids = sa.union(*facts).subquery()
    stmt = sa.select(BillingOrder.order_id).where(BillingOrder.order_id.in_(sa.select(ids.c.order_id)))
    if shop_id:
        stmt = stmt.where(BillingOrder.shop_id == shop_id)
    return list(session.execute(stmt.order_by(BillingOrder.order_id)).scalars())


def _flows_of(session, order_ids: list[str], end: datetime) -> Iterator[threeway.OrderFlows]:
    """The orders' flows at `end`, a few grouped queries per batch of THREE_WAY_BATCH orders (not
    per order: a promotion day has thousands)."""
    for at in range(0, len(order_ids), THREE_WAY_BATCH):
        yield from _batch_flows(session, order_ids[at : at + THREE_WAY_BATCH], end)


def _batch_flows(session, ids: list[str], end: datetime) -> Iterator[threeway.OrderFlows]:
    def sums(model, amount, when, status) -> dict[str, int]:
        stmt = (
            sa.select(model.order_id, sa.func.sum(amount))
            .where(model.order_id.in_(ids), model.status == status, when < end)
            .group_by(model.order_id)
        )
        return {oid: int(total or 0) for oid, total in session.execute(stmt)}

    paid = sums(Payment, Payment.amount_fen, Payment.succeeded_at, "succeeded")
    refunded = sums(Refund, Refund.amount_fen, Refund.created_at, "succeeded")
    invoiced = sums(Invoice, Invoice.amount_fen, Invoice.decided_at, "issued")
    settled = set(
        session.execute(
            sa.select(Settlement.order_id).where(
                Settlement.order_id.in_(ids), Settlement.status == "settled", Settlement.settled_at < end
            )
        ).scalars()
    )
    paid_out = set(
        session.execute(
            sa.select(LedgerEntry.order_id)
            .join(PayoutItem, PayoutItem.ledger_entry_id == LedgerEntry.id)
            .where(LedgerEntry.order_id.in_(ids), LedgerEntry.kind == EntryKind.PAYMENT)
        ).scalars()
    )
    units: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)

    def add(oid: str, bucket: str, sku: str, qty: int) -> None:
        counts = units[(oid, bucket)]
        counts[sku] = counts.get(sku, 0) + qty

    lines = sa.select(OrderLine.order_id, OrderLine.sku_code, OrderLine.quantity, OrderLine.refunded_qty)
    for oid, sku, qty, back in session.execute(lines.where(OrderLine.order_id.in_(ids))):
        add(oid, "bought", sku, qty)
        add(oid, "refunded", sku, back)
    goods = sa.select(
        GoodsMovement.order_id,
        GoodsMovement.direction,
        GoodsMovement.case_id,
        GoodsMovement.sku_code,
        GoodsMovement.quantity,
    ).where(GoodsMovement.order_id.in_(ids), GoodsMovement.at < end)
    for oid, direction, case_id, sku, qty in session.execute(goods):
        add(oid, "returned" if direction == "in" else "replaced" if case_id else "dispatched", sku, qty)
    orders = session.execute(
        sa.select(BillingOrder).where(BillingOrder.order_id.in_(ids)).order_by(BillingOrder.order_id)
    )
    for order in orders.scalars():
        oid = order.order_id
        yield threeway.OrderFlows(
            oid,
            order.shop_id,
            _status_at(order, end),
            order.payable_fen,
            paid.get(oid, 0),
            refunded.get(oid, 0),
            settled=oid in settled,
            payment_paid_out=oid in paid_out,
            invoiced_fen=invoiced.get(oid),
            bought=units[(oid, "bought")],
            dispatched=units[(oid, "dispatched")],
            replaced=units[(oid, "replaced")],
            returned=units[(oid, "returned")],
            refunded_units=units[(oid, "refunded")],
        )


def _status_at(order: BillingOrder, end: datetime) -> str:
    """The order's status as it was at `end` (a cancellation or completion after it is not yet)."""
    moved_at = {"cancelled": order.cancelled_at, "completed": order.completed_at}.get(order.status)
    return "open" if moved_at is not None and moved_at >= end else order.status
