"""billing's books, as the use cases in operations.py read and append to them: the audit trail, the
ledger, billing's copy of an order (locked while refunds plan), its lines' balances, the succeeded
payment and the commission rates.

Every function works inside the caller's unit of work (`ctx`) and never commits.
"""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.usecase import Actor, Ctx

from . import domain, shares
from .domain import PaymentStatus
from .models import AuditEntry, BillingOrder, CommissionRate, LedgerEntry, OrderLine, Payment, Refund
from .settings import Settings

Subject = tuple[str, str]  # (subject_type, subject_id) of an audit entry
# billing acting on its own behalf: a refusal, a late payment's refund, a settlement scheduled
BILLING = Actor("billing")


def audit(
    ctx: Ctx[Settings],
    subject: Subject,
    action: str,
    *,
    move: tuple[str | None, str | None] = (None, None),
    detail: str | None = None,
) -> None:
    """One line of the audit trail (a payment's timeline is read from it), written as `ctx.actor`;
    `move` is the (from, to) status."""
    subject_type, subject_id = subject
    ctx.session.add(
        AuditEntry(
            at=ctx.now,
            actor=ctx.actor.id[:120],
            subject_type=subject_type,
            subject_id=subject_id,
            action=action,
            from_status=move[0],
            to_status=move[1],
            detail=(detail or None) and detail[:500],
        )
    )


def book(ctx: Ctx[Settings], booking: domain.Booking) -> LedgerEntry:
    """Append one immutable ledger entry (the kind gives its sign)."""
    entry = LedgerEntry(
        shop_id=booking.shop_id,
        kind=booking.kind,
        amount_fen=domain.entry_amount(booking.kind, booking.magnitude_fen),
        order_id=booking.order_id,
        ref_id=booking.ref_id,
        memo=booking.memo,
        detail=booking.detail,
        created_at=ctx.now,
    )
    ctx.session.add(entry)
    ctx.session.flush()
    return entry


def lock_order(ctx: Ctx[Settings], order_id: str) -> BillingOrder | None:
    """The order row, locked for this transaction (PostgreSQL); refunds of one order serialise here."""
    return ctx.session.execute(
        sa.select(BillingOrder)
        .where(BillingOrder.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def has_lines(session, order_id: str) -> bool:
    return session.execute(sa.select(OrderLine.id).where(OrderLine.order_id == order_id).limit(1)).first() is not None


def line_balances(ctx: Ctx[Settings], order_id: str) -> list[shares.LineBalance]:
    rows = (
        ctx.session.execute(
            sa.select(OrderLine)
            .where(OrderLine.order_id == order_id)
            .order_by(OrderLine.line_no)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    return [
        shares.LineBalance(
            r.line_no,
            r.sku_code,
            r.quantity,
            r.unit_price_fen,
            r.share_fen,
            r.category_id,
            r.refunded_fen,
            r.refunded_qty,
            r.platform_fen,
        )
        for r in rows
    ]


def succeeded_payment(ctx: Ctx[Settings], order_id: str) -> Payment | None:
    return ctx.session.execute(
        sa.select(Payment).where(Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED)
    ).scalar_one_or_none()


def succeeded_refund(ctx: Ctx[Settings], key: str) -> Refund | None:
    return ctx.session.execute(
        sa.select(Refund).where(Refund.refund_key == key, Refund.status == "succeeded")
    ).scalar_one_or_none()


def commission_rates(ctx: Ctx[Settings]) -> dict[str, int]:
    return dict(ctx.session.execute(sa.select(CommissionRate.category_id, CommissionRate.rate_bps)).all())
