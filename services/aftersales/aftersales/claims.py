"""Claims: what of an order (units and money, per SKU and for the whole order) its cases hold.

A case takes its units and money when it opens and gives them back when it is rejected (and takes
them again if an overturned dispute reopens it); closed cases keep them (a second refund of a
refunded unit is refused). One conditional UPDATE per row, so concurrent cases cannot both take the
last unit or fen. Used by operations.open_case / reject and disputes.reopen.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ecom_common.db import insert_ignore
from ecom_common.errors import ConflictError, RuleViolation

from . import domain
from .models import Case, Claim


def take(session: Session, draft: domain.CaseDraft) -> None:
    """Take the case's units and money from what the order still has unclaimed, or RuleViolation.

    One conditional UPDATE per row: concurrent cases cannot both take the last unit or fen."""
    order = draft.order
    rows = [
        dict(
            order_id=order.order_id,
            sku_code=l.sku_code,
            bought_qty=l.quantity,
            cap_fen=l.cap_fen,
            claimed_qty=0,
            claimed_fen=0,
        )
        for l in order.lines
    ]
    rows.append(
        dict(
            order_id=order.order_id,
            sku_code=Claim.ORDER_ROW,
            bought_qty=sum(l.quantity for l in order.lines),
            cap_fen=order.payable_fen,
            claimed_qty=0,
            claimed_fen=0,
        )
    )
    insert_ignore(session, Claim.__table__, rows)
    wants = [(l.sku_code, l.quantity, l.amount_fen) for l in draft.lines]
    wants.append((Claim.ORDER_ROW, sum(l.quantity for l in draft.lines), draft.amount_fen))
    failed = _claim(session, order.order_id, wants)
    if failed is not None:
        index = next((i for i, l in enumerate(draft.lines) if l.sku_code == failed), None)
        field = "amount_fen" if index is None else f"lines.{index}"
        raise RuleViolation(
            "these units or this amount are already claimed by another case of this order",
            {field: ["Already claimed (or refunded) by another case of this order."]},
        )


def retake(session: Session, case: Case) -> None:
    """A rejected case reopened (an overturned dispute) takes its units and money back; 409 when
    another case of the order holds them now (nothing is taken then: the caller's transaction rolls
    back)."""
    wants = [(l.sku_code, l.quantity, l.amount_fen) for l in case.lines]
    wants.append((Claim.ORDER_ROW, sum(l.quantity for l in case.lines), case.amount_fen))
    failed = _claim(session, case.order_id, wants)
    if failed is not None:
        raise ConflictError(
            "the case's units or money were claimed by another case of the order since its rejection",
            {"case_id": [f"{'the amount' if failed == Claim.ORDER_ROW else failed} is claimed by another case."]},
        )


def _claim(session: Session, order_id: str, wants: list[tuple[str, int, int]]) -> str | None:
    """Add each (sku, quantity, fen) to its claim row if it still fits; the SKU that did not fit, or None.
    Rows are always locked in the same (sku_code) order, so concurrent cases cannot deadlock."""
    for sku, qty, fen in sorted(wants):
        taken = session.execute(
            sa.update(Claim)
            .where(
                Claim.order_id == order_id,
                Claim.sku_code == sku,
                Claim.claimed_qty + qty <= Claim.bought_qty,
                Claim.claimed_fen + fen <= Claim.cap_fen,
            )
            .values(claimed_qty=Claim.claimed_qty + qty, claimed_fen=Claim.claimed_fen + fen)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            return sku
    return None


def release(session: Session, case: Case) -> None:
    """A rejected case gives its units and money back to the order."""
    wants = [(l.sku_code, l.quantity, l.amount_fen) for l in case.lines]
    wants.append((Claim.ORDER_ROW, sum(l.quantity for l in case.lines), case.amount_fen))
    for sku, qty, fen in sorted(wants):
        session.execute(
            sa.update(Claim)
            .where(
                Claim.order_id == case.order_id,
                Claim.sku_code == sku,
                Claim.claimed_qty >= qty,
                Claim.claimed_fen >= fen,
            )
            .values(claimed_qty=Claim.claimed_qty - qty, claimed_fen=Claim.claimed_fen - fen)
            .execution_options(synchronize_session=False)
        )
