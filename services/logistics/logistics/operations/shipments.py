"""Shipments: created from an order ready to ship or an exchange's replacement, cancelled with
their order, dispatched and re-routed by the warehouse, read with their timeline and waybill.

Every status change is a compare-and-set on the shipment's `version` (UPDATE ... WHERE id = :id AND
version = :seen), so two warehouse clerks or a clerk and a carrier webhook can never both win, and
writes its timeline entry (`transition`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import insert_ignore
from ecom_common.errors import ConcurrentChange, ConflictError, NotFound, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id

from .. import domain
from ..models import CancelledOrder, Carrier, OrderGift, Shipment, ShipmentEvent, TrackingEvent
from ..settings import Context
from .shipping import active_carriers, carrier_rules_for, promotion_periods, require_active_carrier, sender_for


# The timeline and guarded changes --------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One timeline row of a shipment: what happened, the status before and after, why."""

    action: str
    before: str | None
    after: str | None
    reason: str | None = None
    data: dict[str, Any] | None = None


def note(ctx: Context, shipment_id: str, entry: Entry) -> None:
    """Write `entry` on the shipment's timeline, by the context's actor, at its time."""
    ctx.session.add(
        ShipmentEvent(
            shipment_id=shipment_id,
            at=ctx.now,
            actor=ctx.actor.id,
            action=entry.action,
            from_status=entry.before,
            to_status=entry.after,
            reason=(entry.reason or None) and entry.reason[:500],
            data=entry.data,
        )
    )


@dataclass(frozen=True)
class Move:
    """A guarded status change: the state machine's `action`, the columns it sets besides the status,
    and what the timeline says (`entry`: its action, by default the action's first word)."""

    action: str
    values: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    data: dict[str, Any] | None = None
    entry: str | None = None


def compare_and_set(ctx: Context, shipment: Shipment, values: dict[str, Any]) -> None:
    """Apply `values` only if nobody changed the shipment since it was read; 409 otherwise."""
    result = ctx.session.execute(
        sa.update(Shipment)
        .where(Shipment.id == shipment.id, Shipment.version == shipment.version)
        .values(version=Shipment.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        lost = ConcurrentChange("the shipment was changed by someone else meanwhile; reload it and retry")
        lost.errors = {"shipment": ["Changed concurrently."]}
        raise lost
    ctx.session.refresh(shipment)


def transition(ctx: Context, shipment: Shipment, move: Move) -> str:
    """Guarded status change (IllegalTransition -> 409) written to the timeline."""
    before = shipment.status
    after = domain.next_status(before, move.action)
    compare_and_set(ctx, shipment, {"status": after, **move.values})
    note(ctx, shipment.id, Entry(move.entry or move.action.split(" ")[0], before, after, move.reason, move.data))
    return after


# Shipments -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewShipment:
    """What a shipment is created from: an order ready to ship, or an exchange's replacement (`case_id`)."""

    shop_id: str
    order_id: str
    lines: list[dict[str, Any]]
    address: dict[str, Any] | None = None
    weight_g: int | None = None
    paid_at: datetime | None = None
    priority: bool = False
    case_id: str | None = None
    promised_ship_by: datetime | None = None  # presale: the promised ship date is the deadline
    address_as_of: datetime | None = None  # when the address was the order's (the event's time)


def find_by_key(ctx: Context, key: str) -> Shipment | None:
    return ctx.session.execute(sa.select(Shipment).where(Shipment.dedupe_key == key)).scalar_one_or_none()


def visible_shipment(ctx: Context, shipment_id: str) -> Shipment:
    """One shipment the caller may see; another shop's is as missing as an unknown one (404)."""
    s = ctx.session.get(Shipment, shipment_id)
    if s is None:
        raise NotFound("shipment not found")
    ctx.require_visible(s.shop_id, None, "shipment")
    return s


@dataclass(frozen=True)
class ShipmentDetail:
    """One shipment with its timeline rows and the carrier reports received for it, oldest first."""

    shipment: Shipment
    timeline: list[ShipmentEvent]
    tracking: list[TrackingEvent]


def shipment_detail(ctx: Context, shipment_id: str) -> ShipmentDetail:
    s = visible_shipment(ctx, shipment_id)
    events = ctx.session.execute(
        sa.select(ShipmentEvent).where(ShipmentEvent.shipment_id == s.id).order_by(ShipmentEvent.id)
    ).scalars()
    reports = ctx.session.execute(
        sa.select(TrackingEvent).where(TrackingEvent.shipment_id == s.id).order_by(TrackingEvent.id)
    ).scalars()
    return ShipmentDetail(s, list(events), list(reports))


def shipment_stats(ctx: Context, shop_id: str | None) -> dict[str, Any]:
    """Counts for the shipping dashboard, of one shop or (None) of every shop: by status, overdue,
    dispatched late, open exceptions by kind."""

    def count(*conds: Any, group: Any = None) -> Any:
        stmt = sa.select(*([group] if group is not None else []), sa.func.count()).select_from(Shipment)
        if shop_id:
            stmt = stmt.where(Shipment.shop_id == shop_id)
        stmt = stmt.where(*conds)
        if group is not None:
            return {k: n for k, n in ctx.session.execute(stmt.group_by(group)).all()}
        return ctx.session.execute(stmt).scalar_one()

    by_status = {s: 0 for s in domain.STATUSES}
    by_status.update(count(group=Shipment.status))
    return {
        "shop_id": shop_id,
        "by_status": by_status,
        "overdue": count(Shipment.status == domain.PENDING, Shipment.dispatch_due_at < ctx.now),
        "dispatched_late": count(Shipment.dispatched_late.is_(True)),
        "exceptions_open": count(Shipment.exception_open.is_(True)),
        "exceptions_by_kind": count(Shipment.exception_open.is_(True), group=Shipment.exception_kind),
        "at": ctx.now,
    }


def pick_list(s: Shipment) -> list[dict[str, Any]]:
    """What the warehouse picks for the shipment: its lines and, on the order's own shipment (not an
    exchange's replacement), the gifts marketing granted the order, marked as gifts at no charge."""
    gifts = [] if s.case_id else [(g.sku_code, g.quantity, g.promotion_id) for g in s.gifts]
    return domain.with_gifts(s.lines, gifts)


@dataclass(frozen=True)
class GrantedGift:
    """A gift marketing granted a paid order (marketing.GiftGranted)."""

    order_id: str
    shop_id: str
    promotion_id: str
    sku_code: str
    quantity: int


def record_gift(ctx: Context, gift: GrantedGift) -> bool:
    """Keep the gift for the order's pick list: False if this order already has this promotion's gift.

    The gift is its own row, read with the shipment (`Shipment.gifts`), never written into the
    shipment: the payment that grants it and the order being ready to ship race, and whichever of
    GiftGranted and OrderReadyToShip arrives first (or both at once on two consumers) the pick list
    shows the gift. A shipment already there gets a timeline entry saying so."""
    row = {
        "order_id": gift.order_id,
        "promotion_id": gift.promotion_id,
        "shop_id": gift.shop_id,
        "sku_code": gift.sku_code,
        "quantity": gift.quantity,
        "granted_at": ctx.now,
    }
    if not insert_ignore(ctx.session, OrderGift.__table__, row):
        return False
    shipment = find_by_key(ctx, f"order:{gift.order_id}")
    if shipment is not None:
        why = f"gift {gift.sku_code} x{gift.quantity} of promotion {gift.promotion_id}, no charge"
        note(ctx, shipment.id, Entry("gift_added", shipment.status, shipment.status, why))
    return True


def waybill(ctx: Context, shipment_id: str) -> dict[str, Any]:
    """What the warehouse prints and sticks on the parcel: sender, masked receiver, order number,
    carrier, tracking number, SKU lines."""
    s = visible_shipment(ctx, shipment_id)
    sender, _ = sender_for(ctx, s.shop_id)
    carrier = ctx.session.get(Carrier, s.carrier) if s.carrier else None
    return {
        "shipment_id": s.id,
        "order_id": s.order_id,
        "case_id": s.case_id,
        "shop_id": s.shop_id,
        "status": s.status,
        "carrier": {"code": carrier.code, "name": carrier.name} if carrier else None,
        "tracking_no": s.tracking_no,
        "sender": sender,
        "receiver": s.receiver,
        "lines": pick_list(s),
        "total_quantity": sum(line["quantity"] for line in pick_list(s)),
        "weight_g": s.weight_g,
        "priority": s.priority,
        "printed_at": iso(ctx.now),
    }


def create_shipment(ctx: Context, order: NewShipment) -> Shipment | None:
    """A `pending` shipment with its pick list and automatically chosen carrier, plus
    logistics.ShipmentCreated. None if this order (or this case's replacement) already has one."""
    key = f"case:{order.case_id}" if order.case_id else f"order:{order.order_id}"
    if find_by_key(ctx, key) is not None:
        return None
    receiver = domain.masked_receiver(order.address)
    province = domain.normalise_province(receiver.get("province"))
    rule_set = carrier_rules_for(ctx, order.shop_id)
    choice = domain.choose_carrier(
        rule_set.rules, active_carriers(ctx), province, order.weight_g, rule_set.default_carrier
    )
    # Replacements are not paid for again: their clock starts when the exchange asks for them.
    due_at, promotion = domain.dispatch_deadline(
        order.paid_at or ctx.now,
        promotion_periods(ctx),
        ctx.settings.dispatch_hours,
        ctx.settings.promo_dispatch_hours,
    )
    if order.promised_ship_by is not None and not order.case_id:
        due_at, promotion = order.promised_ship_by, None  # the presale promise made to the buyer
    shipment = Shipment(
        id=new_id("S", ctx.now),
        dedupe_key=key,
        shop_id=order.shop_id,
        order_id=order.order_id,
        case_id=order.case_id,
        status=domain.PENDING,
        carrier=choice.carrier,
        carrier_reason=f"{choice.reason} ({rule_set.source} rules)",
        tracking_no=None,
        lines=domain.pick_list(order.lines),
        receiver=receiver,
        province=province,
        weight_g=order.weight_g,
        priority=bool(order.priority),
        paid_at=order.paid_at,
        dispatch_due_at=due_at,
        promotion=promotion,
        promised_ship_by=None if order.case_id else order.promised_ship_by,
        receiver_as_of=order.address_as_of,
        created_at=ctx.now,
        dispatched_late=False,
        exception_open=False,
        order_cancelled_after_dispatch=False,
        version=1,
    )
    ctx.session.add(shipment)
    ctx.session.flush()  # the unique dedupe_key refuses a concurrent twin here (the event is retried, then skipped)
    why = f"replacement for case {order.case_id}" if order.case_id else "order ready to ship"
    details = {"carrier": choice.carrier, "carrier_reason": choice.reason, "dispatch_due_at": iso(due_at)}
    details.update(promotion=promotion, promised_ship_by=iso(shipment.promised_ship_by))
    note(ctx, shipment.id, Entry("created", None, domain.PENDING, why, details))
    payload = {"shipment_id": shipment.id, "order_id": order.order_id, "shop_id": order.shop_id}
    payload["carrier"] = choice.carrier
    payload["dispatch_by"] = iso(due_at)
    if order.case_id:
        payload["case_id"] = order.case_id
    ctx.record(make_event("logistics.ShipmentCreated", payload))
    return shipment


def ship_order(ctx: Context, order: NewShipment) -> Shipment | None:
    """An order ready to ship gets its shipment, unless it was cancelled before (None then)."""
    if ctx.session.get(CancelledOrder, order.order_id) is not None:
        return None
    return create_shipment(ctx, order)


def ship_replacement(
    ctx: Context, order: NewShipment, address_of_order: Callable[[], dict[str, Any]]
) -> Shipment | None:
    """An exchange's replacement, to the receiver of the order's original shipment; only if there is
    none (it never shipped through us) is `address_of_order()` asked (orders, over HTTP)."""
    original = find_by_key(ctx, f"order:{order.order_id}")
    address = dict(original.receiver) if original is not None else address_of_order()
    return create_shipment(ctx, replace(order, address=address, weight_g=None))


def cancel_for_order(ctx: Context, order_id: str, *, shop_id: str, reason: str | None) -> Shipment | None:
    """Cancel the order's shipment if it is still pending; a shipment already with a carrier is left
    (the parcel is moving; after-sales handles it) and the late cancellation is recorded on it. An
    order cancelled before it was ready to ship is remembered, so that it never gets a shipment."""
    if ctx.session.get(CancelledOrder, order_id) is None:
        ctx.session.add(CancelledOrder(order_id=order_id, shop_id=shop_id, cancelled_at=ctx.now, reason=reason))
    shipment = find_by_key(ctx, f"order:{order_id}")
    if shipment is None:
        return None
    why = f"order cancelled: {reason}" if reason else "order cancelled"
    if shipment.status == domain.PENDING:
        transition(ctx, shipment, Move("cancel", {"cancelled_at": ctx.now}, reason=why))
    elif shipment.status != domain.CANCELLED and not shipment.order_cancelled_after_dispatch:
        compare_and_set(ctx, shipment, {"order_cancelled_after_dispatch": True})
        status = shipment.status
        late = f"{why}; already {status}, left as is"
        note(ctx, shipment.id, Entry("order_cancelled_after_dispatch", status, status, late))
    return shipment


def dispatched_payload(s: Shipment) -> dict[str, Any]:
    return {
        "shipment_id": s.id,
        "order_id": s.order_id,
        "shop_id": s.shop_id,
        "carrier": s.carrier,
        "tracking_no": s.tracking_no,
        "case_id": s.case_id,
        "lines": [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in s.lines],
    }


def ensure_tracking_free(ctx: Context, shipment: Shipment, carrier: str, tracking_no: str) -> None:
    other = ctx.session.execute(
        sa.select(Shipment.id).where(
            Shipment.carrier == carrier, Shipment.tracking_no == tracking_no, Shipment.id != shipment.id
        )
    ).scalar_one_or_none()
    if other is not None:
        raise ConflictError(
            f"tracking number {tracking_no} of {carrier} is already used by another shipment",
            {"tracking_no": ["Already used by another shipment."]},
        )


def dispatch(ctx: Context, shipment_id: str, *, carrier: str | None, tracking_no: str) -> Shipment:
    """Hand the parcel to a carrier (`pending -> dispatched`, ShipmentDispatched); naming another
    carrier than the chosen one overrides the choice."""
    shipment = visible_shipment(ctx, shipment_id)
    domain.next_status(shipment.status, "dispatch")  # 409 before any other check
    code = carrier or shipment.carrier
    if not code:
        raise RuleViolation(
            "no carrier chosen for this shipment; name one", {"carrier": ["Missing data for required field."]}
        )
    require_active_carrier(ctx, code)
    ensure_tracking_free(ctx, shipment, code, tracking_no)
    overridden = code != shipment.carrier
    late = ctx.now > aware(shipment.dispatch_due_at)
    values = {
        "carrier": code,
        "tracking_no": tracking_no,
        "dispatched_at": ctx.now,
        "pickup_due_at": ctx.now + timedelta(hours=ctx.settings.pickup_hours),
        "dispatched_late": late,
        "last_progress_at": ctx.now,
        **({"carrier_reason": f"chosen by warehouse {ctx.actor.id}"} if overridden else {}),
    }
    why = f"carrier overridden by warehouse (was {shipment.carrier})" if overridden else None
    details = {"carrier": code, "tracking_no": tracking_no, "late": late}
    transition(ctx, shipment, Move("dispatch", values, reason=why, data=details))
    ctx.record(make_event("logistics.ShipmentDispatched", dispatched_payload(shipment)))
    return shipment


def assign_carrier(ctx: Context, shipment_id: str, *, carrier: str, reason: str | None) -> Shipment:
    """Override the automatically chosen carrier of a pending shipment (before printing)."""
    shipment = visible_shipment(ctx, shipment_id)
    require_active_carrier(ctx, carrier)
    values = {"carrier": carrier, "carrier_reason": f"chosen by warehouse {ctx.actor.id}"}
    details = {"old_carrier": shipment.carrier, "carrier": carrier}
    transition(ctx, shipment, Move("assign carrier to", values, reason, details, entry="carrier_assigned"))
    return shipment


def change_carrier(ctx: Context, shipment_id: str, *, carrier: str, tracking_no: str, reason: str) -> Shipment:
    """A failed pickup: another carrier and tracking number for a dispatched parcel (history kept),
    and logistics.CarrierChanged (orders shows the buyer the new number; aftersales tells the buyer)."""
    shipment = visible_shipment(ctx, shipment_id)
    domain.next_status(shipment.status, "change the carrier of")
    require_active_carrier(ctx, carrier)
    ensure_tracking_free(ctx, shipment, carrier, tracking_no)
    old = {"old_carrier": shipment.carrier, "old_tracking_no": shipment.tracking_no}
    values = {
        "carrier": carrier,
        "tracking_no": tracking_no,
        "last_progress_at": ctx.now,
        # the new carrier has to collect it: the pickup clock starts again
        "picked_up_at": None,
        "pickup_due_at": ctx.now + timedelta(hours=ctx.settings.pickup_hours),
        "carrier_reason": f"changed by warehouse {ctx.actor.id}: {reason}"[:200],
    }
    details = {**old, "carrier": carrier, "tracking_no": tracking_no}
    transition(ctx, shipment, Move("change the carrier of", values, reason, details, entry="carrier_changed"))
    changed = {"shipment_id": shipment.id, "order_id": shipment.order_id, "shop_id": shipment.shop_id, **old}
    changed.update(carrier=carrier, tracking_no=tracking_no, reason=reason, at=iso(ctx.now), case_id=shipment.case_id)
    ctx.record(make_event("logistics.CarrierChanged", changed))
    return shipment
