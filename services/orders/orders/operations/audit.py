"""The audit: a shop's rules (the seed defaults until it sets its own) and the run that routes a
reserved order to awaiting_shipment or on_hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.events import make_event
from ecom_common.usecase import SYSTEM

from .. import domain
from ..models import AuditRuleSet, Order
from .transitions import A, OrdersCtx, move, note, ready_to_ship_event


# A shop's rules -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopRules:
    """A shop's audit rules as answered: the rules, whether they are the seed defaults, who set them."""

    shop_id: str
    rules: domain.AuditRules
    is_default: bool
    updated_at: datetime | None = None
    updated_by: str | None = None


def seed_rules(ctx: OrdersCtx) -> domain.AuditRules:
    """The audit rules of a shop that has not set its own; every figure overridable by environment."""
    return ctx.settings.seed_rules()


def audit_rules(ctx: OrdersCtx, shop_id: str) -> ShopRules:
    """The shop's audit rules (the seed defaults until the shop sets its own)."""
    row = ctx.session.get(AuditRuleSet, shop_id)
    if row is None:
        return ShopRules(shop_id, seed_rules(ctx), True)
    rules = domain.AuditRules.from_dict(row.rules, base=seed_rules(ctx))
    return ShopRules(shop_id, rules, False, aware(row.updated_at), row.updated_by)


def set_audit_rules(ctx: OrdersCtx, shop_id: str, changes: dict) -> ShopRules:
    """Set the shop's audit rules; fields left out keep their current value. Contradicting rules 422."""
    rules = domain.AuditRules.from_dict(changes, base=audit_rules(ctx, shop_id).rules)
    row = ctx.session.get(AuditRuleSet, shop_id)
    if row is None:
        ctx.session.add(
            AuditRuleSet(shop_id=shop_id, rules=rules.to_dict(), updated_at=ctx.now, updated_by=ctx.actor.id)
        )
    else:
        row.rules = rules.to_dict()
        row.updated_at = ctx.now
        row.updated_by = ctx.actor.id
    ctx.session.flush()
    return audit_rules(ctx, shop_id)


# The audit run ---------------------------------------------------------------------------------------------
def audit_reserved(ctx: OrdersCtx, order: Order) -> domain.AuditOutcome | None:
    """Stock is reserved: run the shop's audit rules -> awaiting_shipment (OrderReadyToShip) or
    on_hold (OrderHeld, reasons recorded). An order that moved on (cancelled) is only noted."""
    if not domain.can(order.status, A.PASS_AUDIT):
        note(ctx, order, "reservation_ignored", f"stock reserved while {order.status}; nothing to audit")
        return None
    outcome = run_audit(ctx, order)
    priority = order.priority or outcome.priority
    # The audit is the service's own decision, whoever reported the reservation.
    system = ctx.acting_as(SYSTEM)
    if outcome.passed:
        move(system, order, A.PASS_AUDIT, "audit passed: " + "; ".join(outcome.details), priority=priority)
        ctx.record(ready_to_ship_event(order))
    else:
        reasons = list(outcome.reasons)
        move(
            system,
            order,
            A.HOLD,
            "held for review: " + "; ".join(outcome.details),
            priority=priority,
            held_at=ctx.now,
            held_reasons="," + ",".join(reasons) + ",",
        )
        ctx.record(held_event(order, reasons, priority))
    return outcome


def run_audit(ctx: OrdersCtx, order: Order) -> domain.AuditOutcome:
    """The shop's audit rules applied to the order as it is stored now (domain.audit)."""
    rules = audit_rules(ctx, order.shop_id).rules
    facts = domain.AuditFacts(
        payable_fen=order.payable_fen,
        address=domain.Address.from_dict(order.address),
        note=order.note,
        # the SKU's presale, known at placing; a shortage is not (its reservation may overtake it)
        presale=order.presale_ship_days is not None,
        same_phone_orders=_same_phone_orders(ctx, order, rules.repeat_phone_window_minutes),
    )
    return domain.audit(facts, rules)


def held_event(order: Order, reasons: list[str], priority: bool):
    return make_event(
        "orders.OrderHeld",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "reasons": reasons,
            "priority": priority,
            "payable_fen": order.payable_fen,
        },
    )


def _same_phone_orders(ctx: OrdersCtx, order: Order, window_minutes: int) -> int:
    """Orders from this receiver phone in this shop placed within the window up to this order."""
    placed = aware(order.created_at)
    return ctx.session.execute(
        sa.select(sa.func.count())
        .select_from(Order)
        .where(
            Order.shop_id == order.shop_id,
            Order.receiver_phone == order.receiver_phone,
            Order.created_at >= placed - timedelta(minutes=window_minutes),
            Order.created_at <= placed,
        )
    ).scalar_one()
