"""Changing an order's address before dispatch (the buyer, or the shop's cs/ops): the audit runs
again on an audited order, and `orders.AddressChanged` tells logistics and aftersales."""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.clock import iso
from ecom_common.errors import ConcurrentChange
from ecom_common.events import make_event
from ecom_common.usecase import SYSTEM

from .. import domain
from ..models import Order
from .audit import held_event, run_audit
from .search import searchable_receiver
from .transitions import A, OrdersCtx, move, note


def change_address(ctx: OrdersCtx, order: Order, new: domain.Address) -> Order:
    """Only while the parcel has not left (else 409). The address is written with a guarded update
    (a dispatch applied meanwhile makes it 409). An order the audit has already seen (on_hold,
    awaiting_shipment) is audited again: a failing new address holds an awaiting_shipment order
    (`readdress_hold`, OrderHeld); a held order stays held for its review whatever the audit says
    (a changed phone never releases a repeat_phone hold), its reasons refreshed when it still fails.
    An order not yet audited is audited with the new address when its stock is reserved."""
    domain.check_address_change(order.status)
    status = order.status
    result = ctx.session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.status == status)
        .values(
            address=new.to_dict(),
            address_masked=new.masked(),
            receiver_phone=new.phone,
            updated_at=ctx.now,
            **searchable_receiver(ctx, new),
        )
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        lost = ConcurrentChange(f"order {order.id} changed while this request ran (it was {status}); retry")
        lost.errors = {"status": ["Changed concurrently."]}
        raise lost
    ctx.session.refresh(order)
    note(ctx, order, "address_changed", f"address changed to {_region(new)} (receiver {new.masked()['phone']})")
    reasons: list[str] = []
    if status in domain.AUDITED:
        reasons = _reaudit(ctx, order)
    ctx.record(
        make_event(
            "orders.AddressChanged",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "buyer_id": order.buyer_id,
                "address": order.address_masked,
                "status": order.status,
                "held": order.status == domain.ON_HOLD,
                "reasons": reasons,
                "changed_at": iso(ctx.now),
                "changed_by": ctx.actor.id,
            },
        )
    )
    return order


def _reaudit(ctx: OrdersCtx, order: Order) -> list[str]:
    """The audit again, on the new address; the hold reasons it finds (empty when it passes)."""
    outcome = run_audit(ctx, order)
    system = ctx.acting_as(SYSTEM)
    reasons = list(outcome.reasons)
    if outcome.passed:
        note(system, order, "reaudit_passed", "audit after the address change: " + "; ".join(outcome.details))
        return []
    held_reasons = "," + ",".join(reasons) + ","
    detail = "held after the address change: " + "; ".join(outcome.details)
    if order.status == domain.AWAITING_SHIPMENT:
        priority = order.priority or outcome.priority
        move(system, order, A.READDRESS_HOLD, detail, held_at=ctx.now, held_reasons=held_reasons, priority=priority)
        ctx.session.refresh(order)
        ctx.record(held_event(order, reasons, priority))
    else:
        order.held_reasons = held_reasons
        note(system, order, "reaudit_held", detail)
    return reasons


def _region(address: domain.Address) -> str:
    return " ".join(part for part in (address.province, address.city, address.district, address.street) if part)
