"""Settlement (T+N after completion), the settle-due job's payouts, and the commission rates."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.clock import iso
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from .. import books, domain, shares
from ..books import BILLING, audit, book
from ..domain import Booking, EntryKind
from ..models import BillingOrder, CommissionRate, LedgerEntry, Payout, PayoutItem, Settlement
from ..settings import Settings
from .orders import remember_order


def schedule_settlement(ctx: Ctx[Settings], copy: domain.OrderCopy, *, completed_at: datetime) -> Settlement | None:
    """orders.OrderCompleted: settlement at completion + BILLING_SETTLEMENT_DAYS (T+7), once per order."""
    session, now = ctx.session, ctx.now
    order = remember_order(ctx, copy, source="event")
    session.execute(
        sa.update(BillingOrder)
        .where(BillingOrder.order_id == copy.order_id, BillingOrder.status == "open")
        .values(status="completed", completed_at=completed_at, updated_at=now)
    )
    if session.execute(sa.select(Settlement.settlement_id).where(Settlement.order_id == copy.order_id)).first():
        return None
    due_at = domain.settlement_due_at(completed_at, ctx.settings.settlement_days)
    settlement = Settlement(
        settlement_id=ids.new_id(domain.SETTLEMENT_ID, now),
        order_id=copy.order_id,
        shop_id=order.shop_id,
        completed_at=completed_at,
        due_at=due_at,
        status="scheduled",
        created_at=now,
    )
    session.add(settlement)
    session.flush()
    audit(
        ctx.acting_as(BILLING),
        ("settlement", settlement.settlement_id),
        "scheduled",
        move=(None, "scheduled"),
        detail=f"order {copy.order_id} due {iso(due_at)}",
    )
    ctx.record(
        make_event(
            "billing.SettlementScheduled",
            {
                "order_id": copy.order_id,
                "shop_id": order.shop_id,
                "settlement_id": settlement.settlement_id,
                "due_at": iso(due_at),
            },
        )
    )
    return settlement


def shops_due(ctx: Ctx[Settings]) -> list[str]:
    """The shops with settlements due now (the settle-due job settles each in a unit of work of its own)."""
    return list(
        ctx.session.execute(
            sa.select(Settlement.shop_id)
            .where(Settlement.status == "scheduled", Settlement.due_at <= ctx.now)
            .distinct()
        )
        .scalars()
        .all()
    )


def settle_shop(ctx: Ctx[Settings], shop_id: str, *, run: str) -> Payout | None:
    """Claim the shop's due settlements, book their commission and pay out every released entry not
    paid yet (refunds after settlement included)."""
    session, now = ctx.session, ctx.now
    stmt = (
        sa.select(Settlement)
        .where(Settlement.shop_id == shop_id, Settlement.status == "scheduled", Settlement.due_at <= now)
        .order_by(Settlement.due_at)
        .limit(500)
    )
    if ctx.uow.db.dialect == "postgresql":
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
    for st in claimed:
        book_commission(ctx, st)
    return pay_out(ctx, shop_id, claimed)


def book_commission(ctx: Ctx[Settings], st: Settlement) -> None:
    """The commission on a settled order, per line: its category's rate or the default, on what was
    paid for the line less its refunds."""
    session = ctx.session
    order = session.get(BillingOrder, st.order_id)
    balances = books.line_balances(ctx, st.order_id)
    if balances:
        basis = [(b.line_no, b.category_id, b.share_fen - b.refunded_fen) for b in balances]
    else:
        basis = [(0, None, order.paid_fen - order.refunded_fen)]
    if not order.paid_fen:
        basis = []
    lines = domain.commission_for(basis, books.commission_rates(ctx), ctx.settings.default_commission_bps)
    commission = sum(l.commission_fen for l in lines)
    session.execute(
        sa.update(Settlement)
        .where(Settlement.settlement_id == st.settlement_id)
        .values(gross_fen=order.paid_fen, refunded_fen=order.refunded_fen, commission_fen=commission)
    )
    if commission:
        detail = {
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
        }
        book(
            ctx,
            Booking(
                st.shop_id,
                EntryKind.COMMISSION,
                commission,
                st.settlement_id,
                st.order_id,
                memo="platform commission",
                detail=detail,
            ),
        )
    subsidy = sum(shares.subsidy_at_settlement(b) for b in balances) if order.paid_fen else 0
    if subsidy:
        book(
            ctx,
            Booking(
                st.shop_id,
                EntryKind.PLATFORM_SUBSIDY,
                subsidy,
                st.settlement_id,
                st.order_id,
                memo="platform-funded discounts paid to the shop",
                detail={
                    "lines": [{"line_no": b.line_no, "subsidy_fen": shares.subsidy_at_settlement(b)} for b in balances]
                },
            ),
        )
    audit(
        ctx,
        ("settlement", st.settlement_id),
        "settled",
        move=("scheduled", "settled"),
        detail=f"commission {commission} fen" + (f", platform subsidy {subsidy} fen" if subsidy else ""),
    )


def pay_out(ctx: Ctx[Settings], shop_id: str, claimed: list[Settlement]) -> Payout | None:
    """One payout of every ledger entry of the shop's settled orders not paid out yet; None (carried
    forward) when they do not add up to more than zero."""
    session, now = ctx.session, ctx.now
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
                ctx,
                ("settlement", sid),
                "carried_forward",
                move=("settled", "settled"),
                detail="released entries do not add up to more than zero; carried to the next payout",
            )
        return None
    payout = Payout(
        payout_id=ids.new_id(domain.PAYOUT_ID, now),
        shop_id=shop_id,
        amount_fen=amount,
        entry_count=len(entries),
        created_at=now,
    )
    session.add(payout)
    entry = book(
        ctx,
        Booking(
            shop_id,
            EntryKind.PAYOUT,
            amount,
            payout.payout_id,
            None,
            memo="payout to the merchant",
            detail={"settlement_ids": claimed_ids},
        ),
    )
    session.add_all([PayoutItem(ledger_entry_id=e.id, payout_id=payout.payout_id) for e in [*entries, entry]])
    session.flush()  # a unique violation here means another run paid an entry first: roll back whole
    session.execute(
        sa.update(Settlement).where(Settlement.settlement_id.in_(claimed_ids)).values(payout_id=payout.payout_id)
    )
    audit(
        ctx,
        ("payout", payout.payout_id),
        "paid",
        move=(None, "paid"),
        detail=f"{amount} fen for {len(entries)} entries",
    )
    ctx.record(
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


# Commission rates --------------------------------------------------------------------------------
def set_commission_rates(ctx: Ctx[Settings], rates: list[dict]) -> None:
    """Set the rates of the categories given (others unchanged), audited; settlements made from now
    on use them."""
    session, now, by = ctx.session, ctx.now, ctx.actor.id
    for rate in rates:
        old = session.get(CommissionRate, rate["category_id"])
        if old is None:
            session.add(
                CommissionRate(
                    category_id=rate["category_id"], rate_bps=rate["rate_bps"], updated_at=now, updated_by=by
                )
            )
        else:
            session.execute(
                sa.update(CommissionRate)
                .where(CommissionRate.category_id == rate["category_id"])
                .values(rate_bps=rate["rate_bps"], updated_at=now, updated_by=by)
            )
        audit(
            ctx,
            ("commission_rate", rate["category_id"]),
            "set",
            move=(str(old.rate_bps) if old else None, str(rate["rate_bps"])),
        )
