"""Applying the domain to stored orders: guarded transitions, the timeline, the audit run and the
events each step emits. Shared by the API views, the event handlers and the jobs.

Every transition is one conditional UPDATE (`... WHERE id = :id AND status = :expected`): if another
request, handler or job moved the order first, nothing is written and ConcurrentChange is raised
(409 over HTTP; a retried message in a handler, which then sees the new status).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ecom_common.clock import aware, iso
from ecom_common.config import Config
from ecom_common.db import UnitOfWork
from ecom_common.errors import ConflictError
from ecom_common.events import make_event

from . import domain
from .models import AuditRuleSet, Order, TimelineEntry

SYSTEM = "system"


class ConcurrentChange(ConflictError):
    def __init__(self, order_id: str, expected: str):
        super().__init__(
            f"order {order_id} changed while this request ran (it was {expected}); retry",
            {"status": ["Changed concurrently."]},
        )


# Settings ------------------------------------------------------------------------------------------------
def unpaid_timeout(config: Config) -> timedelta:
    return timedelta(minutes=config.setting("ORDERS_UNPAID_TIMEOUT_MINUTES", 30.0, float))


def auto_confirm_after(config: Config) -> timedelta:
    return timedelta(days=config.setting("ORDERS_AUTO_CONFIRM_DAYS", 7.0, float))


def review_target_minutes(config: Config) -> int:
    return config.setting("ORDERS_REVIEW_TARGET_MINUTES", 30, int)


def presale_ship_days(config: Config) -> int:
    return config.setting("ORDERS_PRESALE_SHIP_DAYS", 3, int)


def job_batch(config: Config) -> int:
    return config.setting("ORDERS_JOB_BATCH", 200, int)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def seed_rules(config: Config) -> domain.AuditRules:
    """The audit rules of a shop that has not set its own; every figure overridable by environment."""
    base = domain.AuditRules()
    return domain.AuditRules.from_dict(
        {
            "auto_pass_max_fen": config.setting("ORDERS_AUDIT_AUTO_PASS_MAX_FEN", base.auto_pass_max_fen, int),
            "hold_above_fen": config.setting("ORDERS_AUDIT_HOLD_ABOVE_FEN", base.hold_above_fen, int),
            "auto_pass_middle": config.setting("ORDERS_AUDIT_AUTO_PASS_MIDDLE", base.auto_pass_middle, _bool),
            "remote_regions": list(config.setting("ORDERS_REMOTE_REGIONS", base.remote_regions, _csv)),
            "repeat_phone_count": config.setting("ORDERS_REPEAT_PHONE_COUNT", base.repeat_phone_count, int),
            "repeat_phone_window_minutes": config.setting(
                "ORDERS_REPEAT_PHONE_WINDOW_MINUTES", base.repeat_phone_window_minutes, int
            ),
        }
    )


def rules_for(session, config: Config, shop_id: str) -> tuple[domain.AuditRules, bool]:
    """(the shop's rules, whether they are the seed defaults)."""
    row = session.get(AuditRuleSet, shop_id)
    if row is None:
        return seed_rules(config), True
    return domain.AuditRules.from_dict(row.rules, base=seed_rules(config)), False


# Transitions --------------------------------------------------------------------------------------------
def load_order(session, order_id: str) -> Order | None:
    """One order with its lines, in one query (handlers and views act on both; the timeline is
    loaded only when read)."""
    return session.get(Order, order_id, options=[joinedload(Order.lines)])


def note(session, order: Order, action: str, by: str, reason: str, now: datetime) -> None:
    """A timeline entry that changes no status (a failed payment, a refund, an ignored late event)."""
    session.add(
        TimelineEntry(
            order_id=order.id,
            status=order.status,
            from_status=order.status,
            action=action,
            at=now,
            by=by,
            reason=(reason or "")[:500],
        )
    )


def move(session, order: Order, action: str, by: str, reason: str | None, now: datetime, **changes) -> str:
    """Apply `action` with a conditional update; write the timeline entry. Returns the new status."""
    expected = order.status
    target = domain.next_status(expected, action)
    result = session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.status == expected)
        .values(status=target, updated_at=now, **changes)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        raise ConcurrentChange(order.id, expected)
    session.add(
        TimelineEntry(
            order_id=order.id,
            status=target,
            from_status=expected,
            action=action,
            at=now,
            by=by,
            reason=(reason or "")[:500] or None,
        )
    )
    return target


# Event payloads -------------------------------------------------------------------------------------------
def lines_payload(order: Order) -> list[dict]:
    return [
        {
            "sku_code": line.sku_code,
            "quantity": line.quantity,
            "unit_price_fen": line.unit_price_fen,
            "category_id": line.category_id,
        }
        for line in order.lines
    ]


def placed_event(order: Order):
    return make_event(
        "orders.OrderPlaced",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "buyer_id": order.buyer_id,
            "payable_fen": order.payable_fen,
            "goods_fen": order.goods_fen,
            "discount_fen": order.discount_fen,
            "shipping_fen": order.shipping_fen,
            "presale": order.presale,
            "lines": lines_payload(order),
            "address": order.address_masked,
            "placed_at": iso(aware(order.created_at)),
        },
    )


def cancel(
    uow: UnitOfWork,
    order: Order,
    by: str,
    reason: str,
    now: datetime,
    action: str = domain.Action.CANCEL,
    case_id: str | None = None,
) -> None:
    """Cancel and tell inventory (release) and billing (refund what was paid) through OrderCancelled."""
    was_paid = order.paid_at is not None
    move(
        uow.session,
        order,
        action,
        by,
        reason,
        now,
        cancelled_at=now,
        cancel_reason=reason[:300],
        case_id=case_id or order.case_id,
    )
    uow.record(
        make_event(
            "orders.OrderCancelled",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "reason": reason,
                "was_paid": was_paid,
                "lines": lines_payload(order),
                "case_id": case_id,
                "payable_fen": order.payable_fen,
                "buyer_id": order.buyer_id,
            },
        )
    )


def ready_to_ship_event(order: Order):
    return make_event(
        "orders.OrderReadyToShip",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "lines": lines_payload(order),
            "paid_at": iso(aware(order.paid_at)),
            "priority": bool(order.priority),
            "address": order.address_masked,
            "weight_g": sum(line.weight_g * line.quantity for line in order.lines),
            "promised_ship_by": iso(aware(order.promised_ship_by)),
        },
    )


def same_phone_orders(session, order: Order, window_minutes: int) -> int:
    """Orders from this receiver phone in this shop placed within the window up to this order."""
    placed = aware(order.created_at)
    return session.execute(
        sa.select(sa.func.count())
        .select_from(Order)
        .where(
            Order.shop_id == order.shop_id,
            Order.receiver_phone == order.receiver_phone,
            Order.created_at >= placed - timedelta(minutes=window_minutes),
            Order.created_at <= placed,
        )
    ).scalar_one()


def audit_and_route(uow: UnitOfWork, order: Order, now: datetime) -> domain.AuditOutcome:
    """Stock is reserved: run the shop's audit rules -> awaiting_shipment (OrderReadyToShip) or on_hold
    (OrderHeld, reasons recorded)."""
    session = uow.session
    rules, _ = rules_for(session, uow.db.config, order.shop_id)
    facts = domain.AuditFacts(
        payable_fen=order.payable_fen,
        address=domain.Address.from_dict(order.address),
        note=order.note,
        presale=order.presale,
        same_phone_orders=same_phone_orders(session, order, rules.repeat_phone_window_minutes),
    )
    outcome = domain.audit(facts, rules)
    priority = order.priority or outcome.priority
    if outcome.passed:
        move(
            session,
            order,
            domain.Action.PASS_AUDIT,
            SYSTEM,
            "audit passed: " + "; ".join(outcome.details),
            now,
            priority=priority,
        )
        uow.record(ready_to_ship_event(order))
    else:
        reasons = list(outcome.reasons)
        move(
            session,
            order,
            domain.Action.HOLD,
            SYSTEM,
            "held for review: " + "; ".join(outcome.details),
            now,
            priority=priority,
            held_at=now,
            held_reasons="," + ",".join(reasons) + ",",
        )
        uow.record(
            make_event(
                "orders.OrderHeld",
                {
                    "order_id": order.id,
                    "shop_id": order.shop_id,
                    "reasons": reasons,
                    "priority": priority,
                    "payable_fen": order.payable_fen,
                },
            )
        )
    return outcome


def complete(uow: UnitOfWork, order: Order, by: str, reason: str, now: datetime) -> None:
    move(uow.session, order, domain.Action.COMPLETE, by, reason, now, completed_at=now)
    uow.record(
        make_event(
            "orders.OrderCompleted",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "completed_at": iso(now),
                "payable_fen": order.payable_fen,
                "lines": lines_payload(order),
                "buyer_id": order.buyer_id,
                "paid_at": iso(aware(order.paid_at)),
                "delivered_at": iso(aware(order.delivered_at)),
            },
        )
    )
