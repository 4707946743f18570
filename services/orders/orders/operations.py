"""orders' service layer: every use case as `verb(ctx, order, ...)`, for the API views, the event
handlers and the jobs alike. The caller opens the unit of work and commits it; nothing here commits.

Every transition is one conditional UPDATE (`... WHERE id = :id AND status = :expected`): if another
request, handler or job moved the order first, nothing is written and ConcurrentChange is raised
(409 over HTTP; a retried message in a handler, which then sees the new status). Each transition
records the event it causes right where it happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ecom_common.clock import aware, iso
from ecom_common.errors import ConcurrentChange, NotFound
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.peers import gateway
from ecom_common.usecase import SYSTEM, Actor, Ctx

from . import domain, gateways
from .models import AuditRuleSet, Order, OrderLine, TimelineEntry
from .settings import Settings

A = domain.Action
OrdersCtx = Ctx[Settings]


# Reading -------------------------------------------------------------------------------------------------
def load_order(session, order_id: str) -> Order | None:
    """One order with its lines, in one query (handlers and views act on both; the timeline is
    loaded only when read)."""
    return session.get(Order, order_id, options=[joinedload(Order.lines)])


def find(ctx: OrdersCtx, order_id: str) -> Order | None:
    """The order, or None if there is none (for handlers and jobs, which see every order)."""
    return load_order(ctx.session, order_id)


def get(ctx: OrdersCtx, order_id: str) -> Order:
    """The order as the caller may see it: another tenant's order is 404, like a missing one."""
    order = load_order(ctx.session, order_id)
    if order is None:
        raise NotFound("order not found")
    ctx.require_visible(order.shop_id, order.buyer_id, "order")
    return order


# Placing ---------------------------------------------------------------------------------------------------
def place(ctx: OrdersCtx, request: domain.OrderRequest) -> Order:
    """Place an order: prices from catalog, the shipping fee from logistics, both asked now.

    A broken rule (a bad line, a SKU not for sale, a province not served) is 422 naming the field;
    a peer that is away is 503 before anything is written."""
    # 1. The buyer's lines as asked: quantities in range, each SKU once.
    domain.check_requested_lines(request.lines)
    address = domain.Address.from_dict(request.address)
    peers = gateway(gateways.PEERS, gateways.Gateways.from_config)
    # 2. Prices: catalog's effective price of each SKU, copied onto the line.
    skus = peers.catalog.skus(request.shop_id, [line["sku_code"] for line in request.lines])
    priced = domain.price_lines(request.lines, skus)
    # 3. Shipping: logistics quotes on the weight and on what the goods cost the buyer.
    goods = domain.totals(priced, 0)
    quote = peers.logistics.quote(
        request.shop_id, address.province, domain.total_weight_g(priced), goods.goods_payable_fen
    )
    # 4. Totals: goods at list price - discount + shipping.
    totals = domain.totals(priced, quote.fee_fen)
    # 5. The order with its lines and its first timeline entry, and OrderPlaced.
    order = _new_order(ctx, request, address, Priced(priced, totals, quote))
    ctx.session.add(order)
    ctx.session.flush()
    ctx.record(_placed_event(order))
    return order


@dataclass(frozen=True)
class Priced:
    """What placing worked out: the priced lines, the totals and the shipping quote they include."""

    lines: list[domain.PricedLine]
    totals: domain.Totals
    quote: gateways.Quote


def _new_order(ctx: OrdersCtx, request: domain.OrderRequest, address: domain.Address, priced: Priced) -> Order:
    now, totals = ctx.now, priced.totals
    return Order(
        id=new_id("O", now),
        shop_id=request.shop_id,
        buyer_id=request.buyer_id,
        status=domain.PENDING_PAYMENT,
        presale=request.presale,
        priority=False,
        note=request.note.strip(),
        address=address.to_dict(),
        address_masked=address.masked(),
        receiver_phone=address.phone,
        goods_fen=totals.goods_fen,
        discount_fen=totals.discount_fen,
        shipping_fen=totals.shipping_fen,
        payable_fen=totals.payable_fen,
        shipping_breakdown=priced.quote.breakdown,
        held_reasons="",
        created_at=now,
        updated_at=now,
        lines=[
            OrderLine(
                line_no=i,
                sku_code=p.sku_code,
                title=p.title[:200],
                category_id=p.category_id,
                quantity=p.quantity,
                list_price_fen=p.list_price_fen,
                unit_price_fen=p.unit_price_fen,
                weight_g=p.weight_g,
            )
            for i, p in enumerate(priced.lines)
        ],
        timeline=[
            TimelineEntry(
                status=domain.PENDING_PAYMENT,
                from_status=None,
                action="placed",
                at=now,
                by=ctx.actor.id,
                reason=f"payable {totals.payable_fen} fen",
            )
        ],
    )


def _placed_event(order: Order):
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
            "lines": _lines_payload(order),
            "address": order.address_masked,
            "placed_at": iso(aware(order.created_at)),
        },
    )


# Transitions: the guarded update and the timeline ------------------------------------------------------------
def note(ctx: OrdersCtx, order: Order, action: str, reason: str) -> None:
    """A timeline entry that changes no status (a failed payment, a refund, an ignored late event)."""
    ctx.session.add(
        TimelineEntry(
            order_id=order.id,
            status=order.status,
            from_status=order.status,
            action=action,
            at=ctx.now,
            by=ctx.actor.id,
            reason=(reason or "")[:500],
        )
    )


def move(ctx: OrdersCtx, order: Order, action: str, reason: str | None, **changes: Any) -> str:
    """Apply `action` with a conditional update; write the timeline entry. Returns the new status."""
    expected = order.status
    target = domain.next_status(expected, action)
    result = ctx.session.execute(
        sa.update(Order)
        .where(Order.id == order.id, Order.status == expected)
        .values(status=target, updated_at=ctx.now, **changes)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        lost = ConcurrentChange(f"order {order.id} changed while this request ran (it was {expected}); retry")
        lost.errors = {"status": ["Changed concurrently."]}  # the problem names what changed
        raise lost
    ctx.session.add(
        TimelineEntry(
            order_id=order.id,
            status=target,
            from_status=expected,
            action=action,
            at=ctx.now,
            by=ctx.actor.id,
            reason=(reason or "")[:500] or None,
        )
    )
    return target


def _lines_payload(order: Order) -> list[dict]:
    return [
        {
            "sku_code": line.sku_code,
            "quantity": line.quantity,
            "unit_price_fen": line.unit_price_fen,
            "category_id": line.category_id,
        }
        for line in order.lines
    ]


# Use cases of the buyer and the shop's staff ---------------------------------------------------------------
def review(ctx: OrdersCtx, order: Order, *, decision: str, reason: str | None) -> Order:
    """Decide on a held order: approve -> awaiting_shipment (OrderReadyToShip); reject -> cancelled
    (OrderCancelled: inventory releases, billing refunds)."""
    reason = (reason or "").strip()
    if decision == "approve":
        move(ctx, order, A.APPROVE, "review approved" + (f": {reason}" if reason else ""))
        ctx.record(_ready_to_ship_event(order))
    else:
        cancel(ctx, order, f"review rejected: {reason}", action=A.REJECT)
    return order


def cancel_by_caller(ctx: OrdersCtx, order: Order, reason: str | None) -> Order:
    """The buyer (own orders) or ops/admin cancel before shipment; without a reason, who did says."""
    if not ctx.actor.has("ops", "admin"):
        # A buyer who can see the order owns it (visible); finance/cs/warehouse cannot get here.
        default = "cancelled by the buyer"
    else:
        default = f"cancelled by {'ops' if ctx.actor.has('ops') else 'admin'}"
    cancel(ctx, order, (reason or "").strip() or default)
    return order


def confirm_receipt(ctx: OrdersCtx, order: Order) -> Order:
    """The buyer confirms receipt of a delivered order: completed, OrderCompleted (settlement T+7)."""
    complete(ctx, order, "receipt confirmed by the buyer")
    return order


def cancel(ctx: OrdersCtx, order: Order, reason: str, *, action: str = A.CANCEL, case_id: str | None = None) -> None:
    """Cancel and tell inventory (release) and billing (refund what was paid) through OrderCancelled."""
    was_paid = order.paid_at is not None
    move(
        ctx,
        order,
        action,
        reason,
        cancelled_at=ctx.now,
        cancel_reason=reason[:300],
        case_id=case_id or order.case_id,
    )
    ctx.record(
        make_event(
            "orders.OrderCancelled",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "reason": reason,
                "was_paid": was_paid,
                "lines": _lines_payload(order),
                "case_id": case_id,
                "payable_fen": order.payable_fen,
                "buyer_id": order.buyer_id,
            },
        )
    )


def complete(ctx: OrdersCtx, order: Order, reason: str) -> None:
    now = ctx.now
    move(ctx, order, A.COMPLETE, reason, completed_at=now)
    ctx.record(
        make_event(
            "orders.OrderCompleted",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "completed_at": iso(now),
                "payable_fen": order.payable_fen,
                "lines": _lines_payload(order),
                "buyer_id": order.buyer_id,
                "paid_at": iso(aware(order.paid_at)),
                "delivered_at": iso(aware(order.delivered_at)),
            },
        )
    )


# Audit rules -----------------------------------------------------------------------------------------------
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


# Use cases of the handlers (the producing service is the actor) ---------------------------------------------
def apply_payment(ctx: OrdersCtx, order: Order, *, payment_id: str, amount_fen: int, method: str | None) -> None:
    """pending_payment -> paid, OrderPaid. A late success (order cancelled meanwhile) is only noted:
    billing refunds it itself. A payment of another amount is noted and not applied."""
    if order.payment_id == payment_id:
        return  # the same payment reported again under another event id
    if order.status != domain.PENDING_PAYMENT:
        note(
            ctx,
            order,
            "payment_ignored",
            f"payment {payment_id} of {amount_fen} fen arrived while {order.status}; billing refunds it",
        )
        return
    if amount_fen != order.payable_fen:
        note(
            ctx,
            order,
            "payment_mismatch",
            f"payment {payment_id} of {amount_fen} fen does not match payable {order.payable_fen} fen; not applied",
        )
        return
    now = ctx.now
    move(ctx, order, A.PAY, f"payment {payment_id} ({method or '?'})", paid_at=now, payment_id=payment_id)
    ctx.record(
        make_event(
            "orders.OrderPaid",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "buyer_id": order.buyer_id,
                "payable_fen": order.payable_fen,
                "paid_at": iso(now),
                "lines": _lines_payload(order),
                "presale": order.presale,
                "payment_id": payment_id,
            },
        )
    )


def audit_reserved(ctx: OrdersCtx, order: Order) -> domain.AuditOutcome | None:
    """Stock is reserved: run the shop's audit rules -> awaiting_shipment (OrderReadyToShip) or
    on_hold (OrderHeld, reasons recorded). An order that moved on (cancelled) is only noted."""
    if not domain.can(order.status, A.PASS_AUDIT):
        note(ctx, order, "reservation_ignored", f"stock reserved while {order.status}; nothing to audit")
        return None
    rules = audit_rules(ctx, order.shop_id).rules
    facts = domain.AuditFacts(
        payable_fen=order.payable_fen,
        address=domain.Address.from_dict(order.address),
        note=order.note,
        presale=order.presale,
        same_phone_orders=_same_phone_orders(ctx, order, rules.repeat_phone_window_minutes),
    )
    outcome = domain.audit(facts, rules)
    priority = order.priority or outcome.priority
    # The audit is the service's own decision, whoever reported the reservation.
    system = ctx.acting_as(SYSTEM)
    if outcome.passed:
        move(system, order, A.PASS_AUDIT, "audit passed: " + "; ".join(outcome.details), priority=priority)
        ctx.record(_ready_to_ship_event(order))
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
        ctx.record(
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


def _ready_to_ship_event(order: Order):
    return make_event(
        "orders.OrderReadyToShip",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "lines": _lines_payload(order),
            "paid_at": iso(aware(order.paid_at)),
            "priority": bool(order.priority),
            "address": order.address_masked,
            "weight_g": sum(line.weight_g * line.quantity for line in order.lines),
            "promised_ship_by": iso(aware(order.promised_ship_by)),
        },
    )


def apply_shortage(ctx: OrdersCtx, order: Order, *, policy: str, short: str) -> None:
    """policy wait -> awaiting_stock (presale, promised ship-by date); policy cancel -> cancelled and
    refunded in full (OrderCancelled{was_paid: true}). `short` says what is missing, for the timeline."""
    if policy == "cancel":
        if not domain.can(order.status, A.CANCEL):
            note(ctx, order, "shortage_ignored", f"shortage while {order.status}")
            return
        cancel(ctx, order, f"out of stock: {short}")
        return
    if order.status == domain.AWAITING_STOCK:
        return  # still waiting; the promise stands
    if not domain.can(order.status, A.WAIT_FOR_STOCK):
        note(ctx, order, "shortage_ignored", f"shortage while {order.status}")
        return
    ship_by, promise = domain.presale_promise(ctx.now, ctx.settings.presale_ship_days)
    move(
        ctx,
        order,
        A.WAIT_FOR_STOCK,
        f"waiting for stock ({short}); {promise}",
        presale=True,
        promised_ship_by=ship_by,
        promise=promise,
    )


@dataclass(frozen=True)
class Parcel:
    """A shipment as logistics reports it."""

    shipment_id: str
    carrier: str | None = None
    tracking_no: str | None = None
    delivered_at: str | None = None  # the carrier's time, as reported


def ship(ctx: OrdersCtx, order: Order, parcel: Parcel) -> None:
    """awaiting_shipment -> shipped with carrier and tracking number, OrderShipped. A re-dispatch
    after a failed pickup (the order already shipped) updates them."""
    now = ctx.now
    if order.status in (domain.SHIPPED, domain.DELIVERED, domain.COMPLETED):
        if (order.carrier, order.tracking_no) != (
            parcel.carrier,
            parcel.tracking_no,
        ) and order.status == domain.SHIPPED:
            ctx.session.execute(
                sa.update(Order)
                .where(Order.id == order.id, Order.status == domain.SHIPPED)
                .values(carrier=parcel.carrier, tracking_no=parcel.tracking_no, updated_at=now)
            )
            note(
                ctx,
                order,
                "tracking_changed",
                f"now {parcel.carrier} {parcel.tracking_no} (was {order.carrier} {order.tracking_no})",
            )
        return
    # Anything else before shipment raises IllegalTransition: retried, then dead-lettered for ops
    # (a dispatched parcel for a cancelled order needs a human).
    move(
        ctx,
        order,
        A.SHIP,
        f"dispatched with {parcel.carrier} {parcel.tracking_no}",
        shipped_at=now,
        carrier=parcel.carrier,
        tracking_no=parcel.tracking_no,
        shipment_id=parcel.shipment_id,
    )
    ctx.record(
        make_event(
            "orders.OrderShipped",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "carrier": parcel.carrier,
                "tracking_no": parcel.tracking_no,
                "shipment_id": parcel.shipment_id,
                "shipped_at": iso(now),
            },
        )
    )


def deliver(ctx: OrdersCtx, order: Order, parcel: Parcel) -> None:
    """shipped -> delivered, OrderDelivered; a second report changes nothing."""
    if order.status in (domain.DELIVERED, domain.COMPLETED):
        return
    now = ctx.now
    # Before `shipped` this raises IllegalTransition: the Dispatched event is still on its way (e.g.
    # in a retry tier), so the retry finds the order shipped.
    move(ctx, order, A.DELIVER, "delivered", delivered_at=now)
    ctx.record(
        make_event(
            "orders.OrderDelivered",
            {
                "order_id": order.id,
                "shop_id": order.shop_id,
                "delivered_at": iso(now),
                "carrier_delivered_at": parcel.delivered_at,
                "shipment_id": parcel.shipment_id,
            },
        )
    )


def cancel_for_case(ctx: OrdersCtx, order: Order, *, case_id: str, reason: str | None) -> None:
    """A refund-only case before shipment: cancel, carrying the case id so billing's refund closes it.
    After shipment the request is refused on the timeline only."""
    if not domain.can(order.status, A.CANCEL):
        note(
            ctx,
            order,
            "cancel_request_refused",
            f"case {case_id} asked to cancel, but the order is {order.status}",
        )
        return
    case_ctx = ctx.acting_as(Actor(f"aftersales:{case_id}"))
    cancel(case_ctx, order, reason or f"after-sales case {case_id}", case_id=case_id)


# Use cases of the jobs (the service itself acts) --------------------------------------------------------------
def unpaid_due(ctx: OrdersCtx) -> list[str]:
    """Ids of the orders not paid within ORDERS_UNPAID_TIMEOUT_MINUTES, oldest first, one batch."""
    return list(
        ctx.session.execute(
            sa.select(Order.id)
            .where(Order.status == domain.PENDING_PAYMENT, Order.created_at <= ctx.now - ctx.settings.unpaid_timeout)
            .order_by(Order.created_at)
            .limit(ctx.settings.job_batch)
        )
        .scalars()
        .all()
    )


def close_unpaid(ctx: OrdersCtx, order: Order) -> bool:
    """Cancel an order not paid in time (OrderCancelled{was_paid: false}); False if it was paid or
    is not due (yet)."""
    timeout = ctx.settings.unpaid_timeout
    if order.status != domain.PENDING_PAYMENT or aware(order.created_at) > ctx.now - timeout:
        return False
    minutes = int(timeout.total_seconds() // 60)
    cancel(ctx, order, f"not paid within {minutes} minutes", action=A.CLOSE_UNPAID)
    return True


def confirm_due(ctx: OrdersCtx) -> list[str]:
    """Ids of the delivered orders not confirmed within ORDERS_AUTO_CONFIRM_DAYS, one batch."""
    return list(
        ctx.session.execute(
            sa.select(Order.id)
            .where(Order.status == domain.DELIVERED, Order.delivered_at <= ctx.now - ctx.settings.auto_confirm_after)
            .order_by(Order.delivered_at)
            .limit(ctx.settings.job_batch)
        )
        .scalars()
        .all()
    )


def auto_confirm(ctx: OrdersCtx, order: Order) -> bool:
    """Complete a delivered order the buyer has not confirmed in time; False if it is not due."""
    after = ctx.settings.auto_confirm_after
    if order.status != domain.DELIVERED or aware(order.delivered_at) > ctx.now - after:
        return False
    complete(ctx, order, f"auto-confirmed {after.days} days after delivery")
    return True
