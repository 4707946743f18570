"""Use cases shared by the HTTP API and the event handlers: load, call the domain, save, record.

Nothing here commits: API views commit their unit of work, the consumer commits for handlers.
Every status change is a compare-and-set on the shipment's `version` (UPDATE ... WHERE id = :id AND
version = :seen), so two warehouse clerks or a clerk and a carrier webhook can never both win.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ecom_common.clock import aware, iso
from ecom_common.config import Config
from ecom_common.db import UnitOfWork
from ecom_common.errors import ConflictError, RuleViolation
from ecom_common.events import make_event

from . import domain
from .models import Carrier, CarrierRuleSet, PromotionPeriod, Shipment, ShipmentEvent, ShippingTemplate, ShopSender

DEFAULT_SENDER = {
    "name": "发货仓",
    "phone": "400-800-0000",
    "province": "浙江",
    "city": "杭州市",
    "district": "余杭区",
    "detail": "仓前街道文一西路 1 号 电商物流园 A 仓",
}


@dataclass(frozen=True)
class Settings:
    """Every figure of the service, from `LOGISTICS_*` settings (README "Settings")."""

    remote: tuple[str, ...]
    free: tuple[str, ...]
    rule: domain.WeightRule
    remote_surcharge_fen: int
    dispatch_hours: float
    promo_dispatch_hours: float
    stall_hours: float
    heavy_g: int
    next_day_provinces: tuple[str, ...]
    next_day_carrier: str
    remote_carrier: str
    heavy_carrier: str
    default_carrier: str
    webhook_secret: str | None
    default_sender: dict

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        s = config.setting
        sender = dict(DEFAULT_SENDER)
        raw_sender = s("LOGISTICS_DEFAULT_SENDER_JSON", "")
        if raw_sender:
            sender.update(json.loads(raw_sender))
        return cls(
            remote=tuple(domain.parse_province_list(s("LOGISTICS_REMOTE_PROVINCES", "新疆,西藏,内蒙古"))),
            free=tuple(domain.parse_province_list(s("LOGISTICS_FREE_PROVINCES", "江苏,浙江,上海"))),
            rule=domain.WeightRule(
                s("LOGISTICS_FIRST_WEIGHT_G", 1000, int),
                s("LOGISTICS_FIRST_WEIGHT_FEN", 1000, int),
                s("LOGISTICS_ADDITIONAL_WEIGHT_G", 1000, int),
                s("LOGISTICS_ADDITIONAL_WEIGHT_FEN", 500, int),
            ),
            remote_surcharge_fen=s("LOGISTICS_REMOTE_SURCHARGE_FEN", 1500, int),
            dispatch_hours=s("LOGISTICS_DISPATCH_HOURS", 24.0, float),
            promo_dispatch_hours=s("LOGISTICS_PROMO_DISPATCH_HOURS", 48.0, float),
            stall_hours=s("LOGISTICS_STALL_HOURS", 48.0, float),
            heavy_g=s("LOGISTICS_HEAVY_PARCEL_G", 20000, int),
            next_day_provinces=tuple(domain.parse_province_list(s("LOGISTICS_NEXT_DAY_PROVINCES", "江苏,浙江,上海"))),
            next_day_carrier=s("LOGISTICS_NEXT_DAY_CARRIER", "SF"),
            remote_carrier=s("LOGISTICS_REMOTE_CARRIER", "EMS"),
            heavy_carrier=s("LOGISTICS_HEAVY_CARRIER", "DBL"),
            default_carrier=s("LOGISTICS_DEFAULT_CARRIER", "ZTO"),
            webhook_secret=s("LOGISTICS_CARRIER_WEBHOOK_SECRET", None),
            default_sender=sender,
        )

    def default_template(self) -> domain.Template:
        return domain.default_template(self.remote, self.free, self.rule, self.remote_surcharge_fen)

    def default_rules(self) -> list[domain.CarrierRule]:
        return domain.default_carrier_rules(
            self.remote,
            self.next_day_provinces,
            self.heavy_g,
            self.remote_carrier,
            self.heavy_carrier,
            self.next_day_carrier,
        )


# Templates, rules, carriers, periods -----------------------------------------------------------
def template_for(session: Session, settings: Settings, shop_id: str) -> tuple[domain.Template, str]:
    row = session.get(ShippingTemplate, shop_id)
    if row is None:
        return settings.default_template(), "default"
    return domain.Template.from_dict(row.body), "shop"


def carrier_rules_for(session: Session, settings: Settings, shop_id: str) -> tuple[list[domain.CarrierRule], str, str]:
    row = session.get(CarrierRuleSet, shop_id)
    if row is None:
        return settings.default_rules(), settings.default_carrier, "default"
    rules = [domain.CarrierRule.from_dict(r) for r in row.rules]
    return rules, row.default_carrier or settings.default_carrier, "shop"


def active_carriers(session: Session) -> set[str]:
    return set(session.execute(sa.select(Carrier.code).where(Carrier.active.is_(True))).scalars())


def require_active_carrier(session: Session, code: str, field_name: str = "carrier") -> Carrier:
    carrier = session.get(Carrier, code)
    if carrier is None or not carrier.active:
        raise RuleViolation(
            f"carrier {code!r} is unknown or inactive", {field_name: [f"Unknown or inactive carrier {code!r}."]}
        )
    return carrier


def promotion_periods(session: Session) -> list[domain.PromotionPeriod]:
    rows = session.execute(sa.select(PromotionPeriod).order_by(PromotionPeriod.starts_at)).scalars()
    return [domain.PromotionPeriod(r.name, aware(r.starts_at), aware(r.ends_at)) for r in rows]


def sender_for(session: Session, settings: Settings, shop_id: str) -> tuple[dict, str]:
    row = session.get(ShopSender, shop_id)
    if row is None:
        return dict(settings.default_sender), "default"
    return dict(row.body), "shop"


# Shipments -------------------------------------------------------------------------------------
def new_shipment_id() -> str:
    # "S" + milliseconds (hex, sortable) + random: docs/interfaces.md "Identity of things".
    return f"S{int(time.time() * 1000):011x}{secrets.token_hex(4)}"


def timeline(
    session: Session,
    shipment_id: str,
    at: datetime,
    actor: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict | None = None,
) -> None:
    session.add(
        ShipmentEvent(
            shipment_id=shipment_id,
            at=at,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=(reason or None) and reason[:500],
            data=data,
        )
    )


def find_by_key(session: Session, key: str) -> Shipment | None:
    return session.execute(sa.select(Shipment).where(Shipment.dedupe_key == key)).scalar_one_or_none()


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def create_shipment(
    uow: UnitOfWork,
    settings: Settings,
    *,
    shop_id: str,
    order_id: str,
    lines: list[dict],
    address: dict | None,
    weight_g: int | None,
    paid_at: datetime | None,
    priority: bool,
    case_id: str | None,
    actor: str,
) -> Shipment | None:
    """A `pending` shipment with its pick list and automatically chosen carrier, plus
    logistics.ShipmentCreated. None if this order (or this case's replacement) already has one."""
    session = uow.session
    key = f"case:{case_id}" if case_id else f"order:{order_id}"
    if find_by_key(session, key) is not None:
        return None
    now = uow.db.config.clock.now()
    receiver = domain.masked_receiver(address)
    province = domain.normalise_province(receiver.get("province"))
    rules, default_carrier, rules_source = carrier_rules_for(session, settings, shop_id)
    choice = domain.choose_carrier(rules, active_carriers(session), province, weight_g, default_carrier)
    # Replacements are not paid for again: their clock starts when the exchange asks for them.
    due_at, promotion = domain.dispatch_deadline(
        paid_at or now, promotion_periods(session), settings.dispatch_hours, settings.promo_dispatch_hours
    )
    shipment = Shipment(
        id=new_shipment_id(),
        dedupe_key=key,
        shop_id=shop_id,
        order_id=order_id,
        case_id=case_id,
        status=domain.PENDING,
        carrier=choice.carrier,
        carrier_reason=f"{choice.reason} ({rules_source} rules)",
        tracking_no=None,
        lines=domain.pick_list(lines),
        receiver=receiver,
        province=province,
        weight_g=weight_g,
        priority=bool(priority),
        paid_at=paid_at,
        dispatch_due_at=due_at,
        promotion=promotion,
        created_at=now,
        dispatched_late=False,
        exception_open=False,
        order_cancelled_after_dispatch=False,
        version=1,
    )
    session.add(shipment)
    session.flush()  # the unique dedupe_key refuses a concurrent twin here (the event is retried, then skipped)
    timeline(
        session,
        shipment.id,
        now,
        actor,
        "created",
        None,
        domain.PENDING,
        reason=f"replacement for case {case_id}" if case_id else "order ready to ship",
        data={
            "carrier": choice.carrier,
            "carrier_reason": choice.reason,
            "dispatch_due_at": iso(due_at),
            "promotion": promotion,
        },
    )
    payload = {"shipment_id": shipment.id, "order_id": order_id, "shop_id": shop_id, "carrier": choice.carrier}
    if case_id:
        payload["case_id"] = case_id
    uow.record(make_event("logistics.ShipmentCreated", payload))
    return shipment


def compare_and_set(session: Session, shipment: Shipment, values: dict) -> None:
    """Apply `values` only if nobody changed the shipment since it was read; 409 otherwise."""
    result = session.execute(
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
    session.refresh(shipment)


def transition(
    session: Session,
    shipment: Shipment,
    action: str,
    now: datetime,
    actor: str,
    reason: str | None = None,
    values: dict | None = None,
    data: dict | None = None,
    timeline_action: str | None = None,
) -> str:
    """Guarded status change (IllegalTransition -> 409) written to the timeline."""
    before = shipment.status
    after = domain.next_status(before, action)
    compare_and_set(session, shipment, {"status": after, **(values or {})})
    timeline(session, shipment.id, now, actor, timeline_action or action.split(" ")[0], before, after, reason, data)
    return after


def dispatched_payload(s: Shipment) -> dict:
    return {
        "shipment_id": s.id,
        "order_id": s.order_id,
        "shop_id": s.shop_id,
        "carrier": s.carrier,
        "tracking_no": s.tracking_no,
        "case_id": s.case_id,
        "lines": [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in s.lines],
    }


def dispatch(uow: UnitOfWork, shipment: Shipment, carrier: str | None, tracking_no: str, actor: str) -> Shipment:
    session = uow.session
    now = uow.db.config.clock.now()
    domain.next_status(shipment.status, "dispatch")  # 409 before any other check
    code = carrier or shipment.carrier
    if not code:
        raise RuleViolation(
            "no carrier chosen for this shipment; name one", {"carrier": ["Missing data for required field."]}
        )
    require_active_carrier(session, code)
    ensure_tracking_free(session, code, tracking_no, shipment.id)
    overridden = code != shipment.carrier
    late = now > aware(shipment.dispatch_due_at)
    transition(
        session,
        shipment,
        "dispatch",
        now,
        actor,
        reason=f"carrier overridden by warehouse (was {shipment.carrier})" if overridden else None,
        values={
            "carrier": code,
            "tracking_no": tracking_no,
            "dispatched_at": now,
            "dispatched_late": late,
            "last_progress_at": now,
            **({"carrier_reason": f"chosen by warehouse {actor}"} if overridden else {}),
        },
        data={"carrier": code, "tracking_no": tracking_no, "late": late},
    )
    uow.record(make_event("logistics.ShipmentDispatched", dispatched_payload(shipment)))
    return shipment


def ensure_tracking_free(session: Session, carrier: str, tracking_no: str, shipment_id: str) -> None:
    other = session.execute(
        sa.select(Shipment.id).where(
            Shipment.carrier == carrier, Shipment.tracking_no == tracking_no, Shipment.id != shipment_id
        )
    ).scalar_one_or_none()
    if other is not None:
        raise ConflictError(
            f"tracking number {tracking_no} of {carrier} is already used by another shipment",
            {"tracking_no": ["Already used by another shipment."]},
        )


def order_cancelled(uow: UnitOfWork, order_id: str, shop_id: str, reason: str | None) -> Shipment | None:
    """Cancel the order's shipment if it is still pending; a shipment already with a carrier is left
    (the parcel is moving; after-sales handles it) and the late cancellation is recorded on it."""
    from .models import CancelledOrder

    session = uow.session
    now = uow.db.config.clock.now()
    if session.get(CancelledOrder, order_id) is None:
        session.add(CancelledOrder(order_id=order_id, shop_id=shop_id, cancelled_at=now, reason=reason))
    shipment = find_by_key(session, f"order:{order_id}")
    if shipment is None:
        return None
    why = f"order cancelled: {reason}" if reason else "order cancelled"
    if shipment.status == domain.PENDING:
        transition(session, shipment, "cancel", now, "orders", reason=why, values={"cancelled_at": now})
    elif shipment.status != domain.CANCELLED and not shipment.order_cancelled_after_dispatch:
        compare_and_set(session, shipment, {"order_cancelled_after_dispatch": True})
        timeline(
            session,
            shipment.id,
            now,
            "orders",
            "order_cancelled_after_dispatch",
            shipment.status,
            shipment.status,
            reason=f"{why}; already {shipment.status}, left as is",
        )
    return shipment


# Tracking --------------------------------------------------------------------------------------
def apply_tracking(
    uow: UnitOfWork, shipment: Shipment, status: str, now: datetime, reason: str | None, data: dict
) -> None:
    """A carrier report: move the status, note progress, open or close the exception queue entry,
    and record ShipmentDelivered / ShipmentException."""
    session = uow.session
    action = domain.tracking_action(status)
    domain.next_status(shipment.status, action)
    values: dict = {"last_progress_at": now}
    was_open = shipment.exception_open
    if status == domain.EXCEPTION:
        values.update(
            exception_open=True,
            exception_kind="carrier",
            exception_reason=reason or "carrier exception",
            exception_since=now if not was_open else shipment.exception_since,
        )
    else:
        # Progress closes whatever was open (a carrier exception or a stall): the parcel moves again.
        values.update(exception_open=False)
    if status == domain.DELIVERED:
        values["delivered_at"] = now
    transition(
        session,
        shipment,
        action,
        now,
        f"carrier:{shipment.carrier}",
        reason=reason,
        values=values,
        data=data,
        timeline_action=f"tracking:{status}",
    )
    if was_open and status != domain.EXCEPTION:
        timeline(
            session,
            shipment.id,
            now,
            f"carrier:{shipment.carrier}",
            "exception_closed",
            status,
            status,
            reason=f"progress reported ({status}); the exception is resolved",
        )
    base = {"shipment_id": shipment.id, "order_id": shipment.order_id, "shop_id": shipment.shop_id}
    if status == domain.DELIVERED:
        uow.record(
            make_event("logistics.ShipmentDelivered", {**base, "delivered_at": iso(now), "case_id": shipment.case_id})
        )
    elif status == domain.EXCEPTION:
        uow.record(make_event("logistics.ShipmentException", {**base, "reason": reason or "carrier exception"}))


def flag_stalled(uow: UnitOfWork, settings: Settings, limit: int = 500) -> int:
    """Shipments with a carrier but no progress for LOGISTICS_STALL_HOURS go into the exception queue
    with logistics.ShipmentStalled. Safe to run twice: a flagged shipment is no longer a candidate,
    and the flag is a compare-and-set."""
    from datetime import timedelta

    session = uow.session
    now = uow.db.config.clock.now()
    cutoff = now - timedelta(hours=settings.stall_hours)
    candidates = (
        session.execute(
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
        if not domain.is_stalled(s.status, last, now, settings.stall_hours, s.exception_open):
            continue
        hours = (now - last).total_seconds() / 3600
        reason = f"no carrier progress for {hours:.0f} h (since {iso(last)})"
        result = session.execute(
            sa.update(Shipment)
            .where(Shipment.id == s.id, Shipment.version == s.version, Shipment.exception_open.is_(False))
            .values(
                exception_open=True,
                exception_kind="stalled",
                exception_reason=reason,
                exception_since=now,
                version=Shipment.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue  # changed meanwhile (progress arrived): not stalled any more
        timeline(session, s.id, now, "job:flag_stalled_shipments", "stalled", s.status, s.status, reason)
        uow.record(
            make_event(
                "logistics.ShipmentStalled",
                {
                    "shipment_id": s.id,
                    "order_id": s.order_id,
                    "shop_id": s.shop_id,
                    "last_progress_at": iso(last),
                },
            )
        )
        flagged += 1
    return flagged
