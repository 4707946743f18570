"""logistics' use cases, shared by the HTTP API, the event handlers and the job: each is
`verb(ctx, thing, ...)` with `ctx: Ctx[Settings]` (ecom_common.usecase): load, call the domain,
save, record the events the change causes.

Nothing here commits: a view's `use_case` block, the consumer (handlers) or `for_job` (the job) opens
the unit of work and commits it. Every status change is a compare-and-set on the shipment's
`version` (UPDATE ... WHERE id = :id AND version = :seen), so two warehouse clerks or a clerk and a
carrier webhook can never both win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import ConflictError, NotFound, RuleViolation, UnprocessableEntity
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import Actor, Ctx

from . import domain
from .models import (
    CancelledOrder,
    Carrier,
    CarrierRuleSet,
    PromotionPeriod,
    Shipment,
    ShipmentEvent,
    ShippingTemplate,
    ShopSender,
    TrackingEvent,
)
from .settings import Settings

Context = Ctx[Settings]


# Templates, quotes, senders --------------------------------------------------------------------
def template_for(ctx: Context, shop_id: str) -> tuple[domain.Template, str]:
    """The shop's template and where it comes from: `shop` (its own) or `default` (the seed)."""
    row = ctx.session.get(ShippingTemplate, shop_id)
    if row is None:
        return ctx.settings.default_template(), "default"
    return domain.Template.from_dict(row.body), "shop"


def shop_template(ctx: Context, shop_id: str) -> tuple[domain.Template, str, ShippingTemplate | None]:
    """The shop's template, its source and its stored row (who changed it when; None: the seed)."""
    template, source = template_for(ctx, shop_id)
    return template, source, ctx.session.get(ShippingTemplate, shop_id)


def replace_template(
    ctx: Context, shop_id: str, body: dict[str, Any]
) -> tuple[domain.Template, str, ShippingTemplate | None]:
    """Replace the shop's template; province names are normalised, an unknown one is 422."""
    template = domain.Template.from_dict(body)
    ctx.session.merge(
        ShippingTemplate(shop_id=shop_id, body=template.to_dict(), updated_at=ctx.now, updated_by=ctx.actor.id)
    )
    ctx.session.flush()
    return shop_template(ctx, shop_id)


def drop_template(ctx: Context, shop_id: str) -> None:
    """The platform default applies to the shop again."""
    ctx.session.execute(sa.delete(ShippingTemplate).where(ShippingTemplate.shop_id == shop_id))


def quote(ctx: Context, shop_id: str, parcel: domain.Parcel) -> tuple[domain.Quote, str]:
    """The fee of one parcel by the shop's template, and which template priced it."""
    template, source = template_for(ctx, shop_id)
    return domain.quote(template, parcel.province, parcel.weight_g, parcel.goods_fen), source


def sender_for(ctx: Context, shop_id: str) -> tuple[dict[str, Any], str]:
    """The sender printed on the shop's waybills and its source (`shop` or `default`)."""
    row = ctx.session.get(ShopSender, shop_id)
    if row is None:
        return ctx.settings.default_sender, "default"
    return dict(row.body), "shop"


def replace_sender(ctx: Context, shop_id: str, sender: dict[str, Any]) -> dict[str, Any]:
    """Replace the shop's sender; an unknown province is 422. Answers the sender as stored."""
    stored = {**sender, "province": domain.require_province(sender["province"])}
    ctx.session.merge(ShopSender(shop_id=shop_id, body=stored, updated_at=ctx.now, updated_by=ctx.actor.id))
    ctx.session.flush()
    return stored


# Carriers, carrier rules, promotion periods ----------------------------------------------------
def carriers(ctx: Context) -> list[Carrier]:
    return list(ctx.session.execute(sa.select(Carrier).order_by(Carrier.code)).scalars())


def replace_carriers(ctx: Context, items: list[dict[str, Any]]) -> list[Carrier]:
    """Listed carriers are created or updated, unlisted ones deactivated (never deleted: shipments
    keep referring to them). Each code once (422). Answers every carrier."""
    codes = [c["code"] for c in items]
    if len(codes) != len(set(codes)):
        raise UnprocessableEntity("each carrier code once", {"items": ["Duplicate carrier code."]})
    for item in items:
        ctx.session.merge(
            Carrier(
                code=item["code"],
                name=item["name"],
                active=item["active"],
                services=item.get("services"),
                updated_at=ctx.now,
            )
        )
    ctx.session.execute(sa.update(Carrier).where(Carrier.code.not_in(codes)).values(active=False, updated_at=ctx.now))
    ctx.session.flush()
    return carriers(ctx)


def active_carriers(ctx: Context) -> set[str]:
    return set(ctx.session.execute(sa.select(Carrier.code).where(Carrier.active.is_(True))).scalars())


def require_active_carrier(ctx: Context, code: str, field_name: str = "carrier") -> Carrier:
    carrier = ctx.session.get(Carrier, code)
    if carrier is None or not carrier.active:
        raise RuleViolation(
            f"carrier {code!r} is unknown or inactive", {field_name: [f"Unknown or inactive carrier {code!r}."]}
        )
    return carrier


def carrier_rules_for(ctx: Context, shop_id: str) -> domain.RuleSet:
    """The shop's carrier rules, or the default ones from the settings."""
    row = ctx.session.get(CarrierRuleSet, shop_id)
    if row is None:
        return domain.RuleSet(ctx.settings.default_rules(), ctx.settings.default_carrier, "default")
    rules = [domain.CarrierRule.from_dict(r) for r in row.rules]
    return domain.RuleSet(rules, row.default_carrier or ctx.settings.default_carrier, "shop")


def replace_carrier_rules(ctx: Context, shop_id: str, rule_set: domain.RuleSet) -> domain.RuleSet:
    """Replace the shop's rules; a carrier that does not exist (active or not) is 422."""
    known = set(ctx.session.execute(sa.select(Carrier.code)).scalars())
    unknown = sorted({r.carrier for r in rule_set.rules} - known)
    if unknown:
        raise UnprocessableEntity("unknown carrier", {"rules": [f"Unknown carrier {c!r}." for c in unknown]})
    if rule_set.default_carrier and rule_set.default_carrier not in known:
        raise UnprocessableEntity(
            "unknown carrier", {"default_carrier": [f"Unknown carrier {rule_set.default_carrier!r}."]}
        )
    ctx.session.merge(
        CarrierRuleSet(
            shop_id=shop_id,
            rules=[r.to_dict() for r in rule_set.rules],
            default_carrier=rule_set.default_carrier,
            updated_at=ctx.now,
            updated_by=ctx.actor.id,
        )
    )
    ctx.session.flush()
    default = rule_set.default_carrier or ctx.settings.default_carrier
    return domain.RuleSet(rule_set.rules, default, "shop")


def promotion_periods(ctx: Context) -> list[domain.PromotionPeriod]:
    rows = ctx.session.execute(sa.select(PromotionPeriod).order_by(PromotionPeriod.starts_at)).scalars()
    return [domain.PromotionPeriod(r.name, aware(r.starts_at), aware(r.ends_at)) for r in rows]


def replace_periods(ctx: Context, periods: list[domain.PromotionPeriod]) -> list[domain.PromotionPeriod]:
    """Replace the declared periods (shipments keep the deadline they were given); answers them all."""
    ctx.session.execute(sa.delete(PromotionPeriod))
    for p in periods:
        ctx.session.add(PromotionPeriod(name=p.name, starts_at=p.starts_at, ends_at=p.ends_at))
    ctx.session.flush()
    return promotion_periods(ctx)


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
        raise ConflictError(
            "the shipment was changed by someone else meanwhile; reload it and retry",
            {"shipment": ["Changed concurrently."]},
        )
    ctx.session.refresh(shipment)


def transition(ctx: Context, shipment: Shipment, move: Move) -> str:
    """Guarded status change (IllegalTransition -> 409) written to the timeline."""
    before = shipment.status
    after = domain.next_status(before, move.action)
    compare_and_set(ctx, shipment, {"status": after, **move.values})
    note(ctx, shipment.id, Entry(move.entry or move.action.split(" ")[0], before, after, move.reason, move.data))
    return after


# Shipments -------------------------------------------------------------------------------------
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
        "lines": s.lines,
        "total_quantity": sum(line["quantity"] for line in s.lines),
        "weight_g": s.weight_g,
        "priority": s.priority,
        "printed_at": iso(ctx.now),
    }


def create_shipment(ctx: Context, order: domain.NewShipment) -> Shipment | None:
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
    note(ctx, shipment.id, Entry("created", None, domain.PENDING, why, {**details, "promotion": promotion}))
    payload = {"shipment_id": shipment.id, "order_id": order.order_id, "shop_id": order.shop_id}
    payload["carrier"] = choice.carrier
    if order.case_id:
        payload["case_id"] = order.case_id
    ctx.record(make_event("logistics.ShipmentCreated", payload))
    return shipment


def ship_order(ctx: Context, order: domain.NewShipment) -> Shipment | None:
    """An order ready to ship gets its shipment, unless it was cancelled before (None then)."""
    if ctx.session.get(CancelledOrder, order.order_id) is not None:
        return None
    return create_shipment(ctx, order)


def ship_replacement(
    ctx: Context, order: domain.NewShipment, address_of_order: Callable[[], dict[str, Any]]
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
    """A failed pickup: another carrier and tracking number for a dispatched parcel (history kept)."""
    shipment = visible_shipment(ctx, shipment_id)
    domain.next_status(shipment.status, "change the carrier of")
    require_active_carrier(ctx, carrier)
    ensure_tracking_free(ctx, shipment, carrier, tracking_no)
    old = {"old_carrier": shipment.carrier, "old_tracking_no": shipment.tracking_no}
    values = {
        "carrier": carrier,
        "tracking_no": tracking_no,
        "last_progress_at": ctx.now,
        "carrier_reason": f"changed by warehouse {ctx.actor.id}: {reason}"[:200],
    }
    details = {**old, "carrier": carrier, "tracking_no": tracking_no}
    transition(ctx, shipment, Move("change the carrier of", values, reason, details, entry="carrier_changed"))
    return shipment


# Tracking --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tracked:
    """What a carrier report did: the shipment, its status now, and whether the report was a repeat."""

    shipment_id: str
    status: str
    duplicate: bool


def record_tracking(ctx: Context, report: domain.TrackingReport) -> Tracked:
    """A carrier's progress report, applied once per (carrier, event_id). A resent report, or one of
    the final state the shipment already reached (delivered again under a new event id), changes
    nothing and answers `duplicate`."""
    session = ctx.session
    seen = session.execute(
        sa.select(TrackingEvent.shipment_id).where(
            TrackingEvent.carrier == report.carrier, TrackingEvent.carrier_event_id == report.event_id
        )
    ).scalar()
    if seen is not None:
        return Tracked(seen, session.get(Shipment, seen).status, True)
    s = session.execute(
        sa.select(Shipment).where(Shipment.carrier == report.carrier, Shipment.tracking_no == report.tracking_no)
    ).scalar_one_or_none()
    if s is None:
        raise NotFound(f"no shipment with {report.carrier} tracking number {report.tracking_no}")
    if domain.repeats_reached_status(s.status, report.status):
        # Already reached and announced once: write nothing (no second tracking row, no event).
        return Tracked(s.id, s.status, True)
    session.add(
        TrackingEvent(
            shipment_id=s.id,
            carrier=report.carrier,
            carrier_event_id=report.event_id,
            tracking_no=report.tracking_no,
            status=report.status,
            location=report.location,
            reason=report.reason,
            occurred_at=report.occurred_at,
            received_at=ctx.now,
        )
    )
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        # The same event raced in on another connection and won: this one is the duplicate.
        ctx.uow.rollback()
        return Tracked(s.id, session.get(Shipment, s.id).status, True)
    apply_tracking(ctx, s, report)
    return Tracked(s.id, s.status, False)


def apply_tracking(ctx: Context, shipment: Shipment, report: domain.TrackingReport) -> None:
    """A carrier report: move the status, note progress, open or close the exception queue entry,
    and record ShipmentDelivered / ShipmentException."""
    status, reason = report.status, report.reason
    ctx = ctx.acting_as(Actor(f"carrier:{shipment.carrier}"))
    action = domain.tracking_action(status)
    domain.next_status(shipment.status, action)
    values: dict[str, Any] = {"last_progress_at": ctx.now}
    was_open = shipment.exception_open
    if status == domain.EXCEPTION:
        values.update(
            exception_open=True,
            exception_kind="carrier",
            exception_reason=reason or "carrier exception",
            exception_since=ctx.now if not was_open else shipment.exception_since,
        )
    else:
        # Progress closes whatever was open (a carrier exception or a stall): the parcel moves again.
        values.update(exception_open=False)
    if status == domain.DELIVERED:
        values["delivered_at"] = ctx.now
    details = {"event_id": report.event_id, "location": report.location, "occurred_at": iso(report.occurred_at)}
    transition(ctx, shipment, Move(action, values, reason, details, entry=f"tracking:{status}"))
    if was_open and status != domain.EXCEPTION:
        closed = f"progress reported ({status}); the exception is resolved"
        note(ctx, shipment.id, Entry("exception_closed", status, status, closed))
    base = {"shipment_id": shipment.id, "order_id": shipment.order_id, "shop_id": shipment.shop_id}
    if status == domain.DELIVERED:
        delivered = {**base, "delivered_at": iso(ctx.now), "case_id": shipment.case_id}
        ctx.record(make_event("logistics.ShipmentDelivered", delivered))
    elif status == domain.EXCEPTION:
        ctx.record(make_event("logistics.ShipmentException", {**base, "reason": reason or "carrier exception"}))


# Stalls ----------------------------------------------------------------------------------------
def flag_stalled(ctx: Context, limit: int = 500) -> int:
    """Shipments with a carrier but no progress for LOGISTICS_STALL_HOURS go into the exception queue
    with logistics.ShipmentStalled. Safe to run twice: a flagged shipment is no longer a candidate,
    and the flag is a compare-and-set."""
    stall_hours = ctx.settings.stall_hours
    cutoff = ctx.now - timedelta(hours=stall_hours)
    candidates = (
        ctx.session.execute(
            sa.select(Shipment)
            .where(
                Shipment.status.in_([domain.DISPATCHED, domain.IN_TRANSIT, domain.OUT_FOR_DELIVERY]),
                Shipment.exception_open.is_(False),
                Shipment.last_progress_at <= cutoff,
            )
            .order_by(Shipment.last_progress_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    flagged = 0
    for s in candidates:
        last = aware(s.last_progress_at)
        if not domain.is_stalled(s.status, last, ctx.now, stall_hours, s.exception_open):
            continue
        hours = (ctx.now - last).total_seconds() / 3600
        reason = f"no carrier progress for {hours:.0f} h (since {iso(last)})"
        result = ctx.session.execute(
            sa.update(Shipment)
            .where(Shipment.id == s.id, Shipment.version == s.version, Shipment.exception_open.is_(False))
            .values(
                exception_open=True,
                exception_kind="stalled",
                exception_reason=reason,
                exception_since=ctx.now,
                version=Shipment.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue  # changed meanwhile (progress arrived): not stalled any more
        note(ctx, s.id, Entry("stalled", s.status, s.status, reason))
        payload = {"shipment_id": s.id, "order_id": s.order_id, "shop_id": s.shop_id, "last_progress_at": iso(last)}
        ctx.record(make_event("logistics.ShipmentStalled", payload))
        flagged += 1
    return flagged
