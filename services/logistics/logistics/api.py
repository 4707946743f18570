"""logistics HTTP API: flask-smorest blueprint and marshmallow schemas.

Shipping templates and quotes, the shop's waybill sender, carriers and carrier rules, promotion
periods, shipments (list, detail, waybill, dispatch, carrier changes, stats, exception queue) and the
carriers' signed tracking webhook.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Response, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import (
    current_principal,
    list_filter,
    not_found_unless,
    requires,
    shop_for_read,
    shop_for_write,
    shop_or_all,
    visible,
)
from ecom_common.clock import aware, iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import (BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized,
                                UnprocessableEntity)
from ecom_common.http import MAX_INT, Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent

from . import domain
from . import operations as ops
from .models import (Carrier, CarrierRuleSet, PromotionPeriod, Shipment, ShipmentEvent, ShippingTemplate,
                     ShopSender, TrackingEvent)

blp = Blueprint("logistics", __name__, url_prefix="/api/v1",
                description="Shipping templates and quotes, carriers, shipments and tracking")

STAFF = ("warehouse", "ops", "admin", "cs")


def settings() -> ops.Settings:
    return ops.Settings.from_config(current_config())


def now() -> datetime:
    return current_config().clock.now()


class ShopQuery(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff use their own"})


# Shipping templates ----------------------------------------------------------------------------
class WeightRuleSchema(BodySchema):
    first_weight_g = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_INT))
    first_fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))
    additional_weight_g = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_INT))
    additional_fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))


class RegionRuleSchema(WeightRuleSchema):
    provinces = fields.List(fields.Str(), required=True, validate=validate.Length(min=1))


class FreeShippingSchema(BodySchema):
    provinces = fields.List(fields.Str(), load_default=list,
                            metadata={"description": "empty: everywhere (except never_free)"})
    min_goods_fen = fields.Int(load_default=0, validate=validate.Range(min=0, max=MAX_INT),
                               metadata={"description": "free when the goods total reaches this; 0 = always"})


class SurchargeSchema(BodySchema):
    provinces = fields.List(fields.Str(), required=True, validate=validate.Length(min=1))
    fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))
    label = fields.Str(load_default="surcharge", validate=validate.Length(min=1, max=50))


class TemplateSchema(BodySchema):
    name = fields.Str(load_default="shop template", validate=validate.Length(min=1, max=100))
    default_rule = fields.Nested(WeightRuleSchema, required=True)
    region_rules = fields.List(fields.Nested(RegionRuleSchema), load_default=list)
    free_shipping = fields.List(fields.Nested(FreeShippingSchema), load_default=list)
    surcharges = fields.List(fields.Nested(SurchargeSchema), load_default=list)
    never_free = fields.List(fields.Str(), load_default=list)
    not_served = fields.List(fields.Str(), load_default=list)


class TemplateOut(Schema):
    shop_id = fields.Str()
    source = fields.Str(metadata={"description": "shop (its own) or default (the platform's seed)"})
    template = fields.Nested(TemplateSchema)
    updated_at = UtcTime(allow_none=True)
    updated_by = fields.Str(allow_none=True)


def template_out(session, shop_id: str) -> dict:
    template, source = ops.template_for(session, settings(), shop_id)
    row = session.get(ShippingTemplate, shop_id)
    return {"shop_id": shop_id, "source": source, "template": template.to_dict(),
            "updated_at": iso(aware(row.updated_at)) if row else None, "updated_by": row.updated_by if row else None}


@blp.route("/shipping/templates", methods=["GET"])
@requires("ops", "admin", "warehouse", "cs", "service")
@blp.arguments(ShopQuery, location="query")
@blp.response(200, TemplateOut)
def get_template(args):
    """The shop's shipping template (the platform default if it has none of its own)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        return template_out(session, shop_id)


@blp.route("/shipping/templates", methods=["PUT"])
@requires("ops", "admin")
@blp.arguments(ShopQuery, location="query")
@blp.arguments(TemplateSchema)
@blp.response(200, TemplateOut)
def put_template(args, body):
    """Replace the shop's shipping template. Province names are normalised (江苏省 == 江苏); an
    unknown province is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    template = domain.Template.from_dict(body)  # unknown provinces -> 422 naming the field
    principal = current_principal()
    db = current_db()
    with db.uow() as uow:
        uow.session.merge(ShippingTemplate(shop_id=shop_id, body=template.to_dict(), updated_at=now(),
                                           updated_by=principal.sub))
        commit_or_conflict(uow)
        return template_out(uow.session, shop_id)


@blp.route("/shipping/templates", methods=["DELETE"])
@requires("ops", "admin")
@blp.arguments(ShopQuery, location="query")
@blp.response(204)
def delete_template(args):
    """Drop the shop's own template: the platform default applies again."""
    shop_id = shop_for_write(args.get("shop_id"))
    with current_db().uow() as uow:
        uow.session.execute(sa.delete(ShippingTemplate).where(ShippingTemplate.shop_id == shop_id))
        uow.commit()


def commit_or_conflict(uow) -> None:
    try:
        uow.commit()
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict("changed concurrently by another request; retry")
        raise


class QuoteIn(BodySchema):
    shop_id = fields.Str(required=True, validate=validate.Length(min=1))
    province = fields.Str(required=True, validate=validate.Length(min=1))
    weight_g = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))
    goods_fen = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))


class BreakdownItem(Schema):
    item = fields.Str()
    fen = fields.Int()


class QuoteOut(Schema):
    shop_id = fields.Str()
    province = fields.Str()
    fee_fen = fields.Int()
    served = fields.Bool()
    free = fields.Bool()
    breakdown = fields.List(fields.Nested(BreakdownItem))
    template = fields.Str(metadata={"description": "shop or default"})


@blp.route("/shipping/quote", methods=["POST"])
@requires()
@blp.arguments(QuoteIn)
@blp.response(200, QuoteOut)
def shipping_quote(body):
    """The shipping fee of a parcel for a shop and province, with its breakdown (sums to fee_fen).
    A region the shop does not serve answers 422 naming the province."""
    with current_db().Session() as session:
        template, source = ops.template_for(session, settings(), body["shop_id"])
    q = domain.quote(template, body["province"], body["weight_g"], body.get("goods_fen"))
    return {"shop_id": body["shop_id"], "template": source, **q.to_dict()}


# Waybill sender --------------------------------------------------------------------------------
class SenderSchema(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=50))
    phone = fields.Str(required=True, validate=validate.Length(min=5, max=30))
    province = fields.Str(required=True)
    city = fields.Str(load_default=None, allow_none=True)
    district = fields.Str(load_default=None, allow_none=True)
    detail = fields.Str(required=True, validate=validate.Length(min=1, max=200))


class SenderOut(Schema):
    shop_id = fields.Str()
    source = fields.Str()
    sender = fields.Nested(SenderSchema)


@blp.route("/shipping/sender", methods=["GET"])
@requires("ops", "admin", "warehouse")
@blp.arguments(ShopQuery, location="query")
@blp.response(200, SenderOut)
def get_sender(args):
    """The sender printed on the shop's waybills (the documented default if it set none)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        sender, source = ops.sender_for(session, settings(), shop_id)
    return {"shop_id": shop_id, "source": source, "sender": sender}


@blp.route("/shipping/sender", methods=["PUT"])
@requires("ops", "admin", "warehouse")
@blp.arguments(ShopQuery, location="query")
@blp.arguments(SenderSchema)
@blp.response(200, SenderOut)
def put_sender(args, body):
    """Replace the shop's sender address; an unknown province is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    body["province"] = domain.require_province(body["province"])
    with current_db().uow() as uow:
        uow.session.merge(ShopSender(shop_id=shop_id, body=body, updated_at=now(), updated_by=current_principal().sub))
        commit_or_conflict(uow)
    return {"shop_id": shop_id, "source": "shop", "sender": body}


# Carriers and carrier rules --------------------------------------------------------------------
class CarrierSchema(BodySchema):
    code = fields.Str(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{2,32}$"))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    active = fields.Bool(load_default=True)
    services = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))


class CarrierList(BodySchema):
    items = fields.List(fields.Nested(CarrierSchema), required=True)


class CarrierPage(Schema):
    items = fields.List(fields.Nested(CarrierSchema))
    next_cursor = fields.Str(allow_none=True)


def carrier_dict(c: Carrier) -> dict:
    return {"code": c.code, "name": c.name, "active": c.active, "services": c.services}


def carriers_out(session) -> dict:
    """Every carrier (the answer to a replacement: what is stored now)."""
    rows = session.execute(sa.select(Carrier).order_by(Carrier.code)).scalars().all()
    return {"items": [carrier_dict(c) for c in rows], "next_cursor": None}


@blp.route("/carriers", methods=["GET"])
@requires("admin", "warehouse", "ops", "cs", "service")
@blp.arguments(PageArgs, location="query")
@blp.response(200, CarrierPage)
def list_carriers(args):
    """The platform's carriers by code (inactive ones are never chosen)."""
    with current_db().Session() as session:
        return paginate(session, sa.select(Carrier), [Carrier.code], args["limit"], args.get("cursor"),
                        descending=False, to_item=carrier_dict)


@blp.route("/carriers", methods=["PUT"])
@requires("admin")
@blp.arguments(CarrierList)
@blp.response(200, CarrierPage)
def put_carriers(body):
    """Replace the carrier list: listed carriers are created or updated, unlisted ones deactivated
    (never deleted: shipments keep referring to them). Platform-wide, so admin only. Each code
    once (422)."""
    codes = [c["code"] for c in body["items"]]
    if len(codes) != len(set(codes)):
        raise UnprocessableEntity("each carrier code once", {"items": ["Duplicate carrier code."]})
    with current_db().uow() as uow:
        t = now()
        for item in body["items"]:
            uow.session.merge(Carrier(code=item["code"], name=item["name"], active=item["active"],
                                      services=item.get("services"), updated_at=t))
        uow.session.execute(sa.update(Carrier).where(Carrier.code.not_in(codes)).values(active=False, updated_at=t))
        commit_or_conflict(uow)
        return carriers_out(uow.session)


class CarrierRuleSchema(BodySchema):
    name = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=100))
    carrier = fields.Str(required=True)
    provinces = fields.List(fields.Str(), load_default=list, metadata={"description": "empty: any region"})
    min_weight_g = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))
    max_weight_g = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))

    @validates_schema
    def _weights(self, data, **kwargs):
        lo, hi = data.get("min_weight_g"), data.get("max_weight_g")
        if lo is not None and hi is not None and lo > hi:
            raise ValidationError("must not be above max_weight_g", "min_weight_g")


class CarrierRulesIn(BodySchema):
    rules = fields.List(fields.Nested(CarrierRuleSchema), required=True)
    default_carrier = fields.Str(load_default=None, allow_none=True)


class CarrierRulesOut(Schema):
    shop_id = fields.Str()
    source = fields.Str()
    rules = fields.List(fields.Nested(CarrierRuleSchema))
    default_carrier = fields.Str(allow_none=True)


@blp.route("/carrier-rules", methods=["GET"])
@requires("admin", "warehouse", "ops")
@blp.arguments(ShopQuery, location="query")
@blp.response(200, CarrierRulesOut)
def get_carrier_rules(args):
    """Which carrier a new shipment of this shop gets: the first rule that applies, in order."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        rules, default, source = ops.carrier_rules_for(session, settings(), shop_id)
    return {"shop_id": shop_id, "source": source, "rules": [r.to_dict() for r in rules], "default_carrier": default}


@blp.route("/carrier-rules", methods=["PUT"])
@requires("admin", "warehouse")
@blp.arguments(ShopQuery, location="query")
@blp.arguments(CarrierRulesIn)
@blp.response(200, CarrierRulesOut)
def put_carrier_rules(args, body):
    """Replace the shop's carrier rules; a rule's min_weight_g above its max_weight_g is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    rules = [domain.CarrierRule.from_dict(r) for r in body["rules"]]
    with current_db().uow() as uow:
        known = set(uow.session.execute(sa.select(Carrier.code)).scalars())
        unknown = sorted({r.carrier for r in rules} - known)
        if unknown:
            raise UnprocessableEntity("unknown carrier", {"rules": [f"Unknown carrier {c!r}." for c in unknown]})
        if body.get("default_carrier") and body["default_carrier"] not in known:
            raise UnprocessableEntity("unknown carrier", {"default_carrier": [f"Unknown carrier {body['default_carrier']!r}."]})
        uow.session.merge(CarrierRuleSet(shop_id=shop_id, rules=[r.to_dict() for r in rules],
                                         default_carrier=body.get("default_carrier"), updated_at=now(),
                                         updated_by=current_principal().sub))
        commit_or_conflict(uow)
    default = body.get("default_carrier") or settings().default_carrier
    return {"shop_id": shop_id, "source": "shop", "rules": [r.to_dict() for r in rules], "default_carrier": default}


# Promotion periods -----------------------------------------------------------------------------
class PeriodSchema(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    starts_at = fields.AwareDateTime(required=True, default_timezone=timezone.utc)
    ends_at = fields.AwareDateTime(required=True, default_timezone=timezone.utc)

    @validates_schema
    def _order(self, data, **kwargs):
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")


class PeriodList(BodySchema):
    items = fields.List(fields.Nested(PeriodSchema), required=True)


class PeriodOut(Schema):
    name = fields.Str()
    starts_at = UtcTime()
    ends_at = UtcTime()


class PeriodPage(Schema):
    items = fields.List(fields.Nested(PeriodOut))
    next_cursor = fields.Str(allow_none=True)


def periods_out(session) -> dict:
    """Every period (the answer to a replacement: what is stored now)."""
    return {"items": [{"name": p.name, "starts_at": p.starts_at, "ends_at": p.ends_at}
                      for p in ops.promotion_periods(session)], "next_cursor": None}


@blp.route("/promotion-periods", methods=["GET"])
@requires()
@blp.arguments(PageArgs, location="query")
@blp.response(200, PeriodPage)
def list_periods(args):
    """Declared big promotions, earliest first: orders paid within one have 48 h (not 24 h) to be dispatched."""
    with current_db().Session() as session:
        return paginate(session, sa.select(PromotionPeriod), [PromotionPeriod.starts_at, PromotionPeriod.id],
                        args["limit"], args.get("cursor"), descending=False,
                        to_item=lambda p: {"name": p.name, "starts_at": p.starts_at, "ends_at": p.ends_at})


@blp.route("/promotion-periods", methods=["PUT"])
@requires("admin")
@blp.arguments(PeriodList)
@blp.response(200, PeriodPage)
def put_periods(body):
    """Replace the declared periods. Shipments keep the deadline they were given when created.
    A period's ends_at must be after its starts_at (422)."""
    with current_db().uow() as uow:
        uow.session.execute(sa.delete(PromotionPeriod))
        for p in body["items"]:
            uow.session.add(PromotionPeriod(name=p["name"], starts_at=p["starts_at"], ends_at=p["ends_at"]))
        uow.commit()
        return periods_out(uow.session)


# Shipments -------------------------------------------------------------------------------------
class LineSchema(Schema):
    sku_code = fields.Str()
    quantity = fields.Int()


class ShipmentSchema(Schema):
    shipment_id = fields.Str()
    shop_id = fields.Str()
    order_id = fields.Str()
    case_id = fields.Str(allow_none=True)
    status = fields.Str()
    carrier = fields.Str(allow_none=True)
    carrier_reason = fields.Str(allow_none=True)
    tracking_no = fields.Str(allow_none=True)
    pick_list = fields.List(fields.Nested(LineSchema))
    receiver = fields.Dict()
    province = fields.Str(allow_none=True)
    weight_g = fields.Int(allow_none=True)
    priority = fields.Bool()
    paid_at = UtcTime(allow_none=True)
    dispatch_due_at = UtcTime()
    promotion = fields.Str(allow_none=True)
    overdue = fields.Bool()
    dispatched_late = fields.Bool()
    created_at = UtcTime()
    dispatched_at = UtcTime(allow_none=True)
    delivered_at = UtcTime(allow_none=True)
    cancelled_at = UtcTime(allow_none=True)
    last_progress_at = UtcTime(allow_none=True)
    exception_open = fields.Bool()
    exception_kind = fields.Str(allow_none=True)
    exception_reason = fields.Str(allow_none=True)
    exception_since = UtcTime(allow_none=True)
    time_in_exception_s = fields.Int(allow_none=True)
    order_cancelled_after_dispatch = fields.Bool()


class TimelineEntry(Schema):
    """The timeline entry every service returns; `details` carries what logistics has to add (carriers)."""
    at = UtcTime()
    by = fields.Str()
    action = fields.Str()
    from_status = fields.Str(allow_none=True)
    status = fields.Str(allow_none=True, metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)
    details = fields.Dict(allow_none=True)


class TrackingEntry(Schema):
    carrier_event_id = fields.Str()
    carrier = fields.Str()
    tracking_no = fields.Str()
    status = fields.Str()
    location = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
    occurred_at = UtcTime(allow_none=True)
    received_at = UtcTime()


class ShipmentDetail(ShipmentSchema):
    timeline = fields.List(fields.Nested(TimelineEntry))
    tracking = fields.List(fields.Nested(TrackingEntry))
    carrier_history = fields.List(fields.Dict())


def shipment_dict(s: Shipment, at: datetime) -> dict:
    since = aware(s.exception_since)
    return {
        "shipment_id": s.id, "shop_id": s.shop_id, "order_id": s.order_id, "case_id": s.case_id, "status": s.status,
        "carrier": s.carrier, "carrier_reason": s.carrier_reason, "tracking_no": s.tracking_no,
        "pick_list": s.lines, "receiver": s.receiver, "province": s.province, "weight_g": s.weight_g,
        "priority": s.priority, "paid_at": iso(aware(s.paid_at)), "dispatch_due_at": iso(aware(s.dispatch_due_at)),
        "promotion": s.promotion, "overdue": domain.is_overdue(s.status, aware(s.dispatch_due_at), at),
        "dispatched_late": s.dispatched_late, "created_at": iso(aware(s.created_at)),
        "dispatched_at": iso(aware(s.dispatched_at)), "delivered_at": iso(aware(s.delivered_at)),
        "cancelled_at": iso(aware(s.cancelled_at)), "last_progress_at": iso(aware(s.last_progress_at)),
        "exception_open": s.exception_open, "exception_kind": s.exception_kind if s.exception_open else None,
        "exception_reason": s.exception_reason if s.exception_open else None,
        "exception_since": iso(since) if s.exception_open else None,
        "time_in_exception_s": int((at - since).total_seconds()) if s.exception_open and since else None,
        "order_cancelled_after_dispatch": s.order_cancelled_after_dispatch,
    }


def load_visible(session, shipment_id: str) -> Shipment:
    s = session.get(Shipment, shipment_id)
    not_found_unless(s is not None and visible(s.shop_id), "shipment")
    return s


def scoped(stmt, shop_id_arg: str | None):
    """Confine a query over shipments to what the caller may see (the one rule in ecom_common.auth)."""
    return stmt.where(list_filter(Shipment.shop_id, shop_id=shop_id_arg))


class ShipmentListArgs(PageArgs):
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(domain.STATUSES))
    carrier = fields.Str()
    order_id = fields.Str()
    case_id = fields.Str()
    overdue = fields.Bool(metadata={"description": "pending past its dispatch deadline"})
    exception = fields.Bool(metadata={"description": "in the exception queue (carrier exception or stalled)"})
    priority = fields.Bool()


class ShipmentPage(Schema):
    items = fields.List(fields.Nested(ShipmentSchema))
    next_cursor = fields.Str(allow_none=True)


@blp.route("/shipments", methods=["GET"])
@requires(*STAFF, "service")
@blp.arguments(ShipmentListArgs, location="query")
@blp.response(200, ShipmentPage)
def list_shipments(args):
    """Shipments, newest first; merchant staff see their own shop's only. Receivers are masked."""
    at = now()
    stmt = scoped(sa.select(Shipment), args.get("shop_id"))
    for name in ("status", "carrier", "order_id", "case_id"):
        if args.get(name):
            stmt = stmt.where(getattr(Shipment, name) == args[name])
    if "overdue" in args:
        cond = sa.and_(Shipment.status == domain.PENDING, Shipment.dispatch_due_at < at)
        stmt = stmt.where(cond if args["overdue"] else sa.not_(cond))
    if "exception" in args:
        stmt = stmt.where(Shipment.exception_open.is_(bool(args["exception"])))
    if "priority" in args:
        stmt = stmt.where(Shipment.priority.is_(bool(args["priority"])))
    with current_db().Session() as session:
        return paginate(session, stmt, [Shipment.created_at, Shipment.id], args["limit"], args.get("cursor"),
                        to_item=lambda s: shipment_dict(s, at))


class StatsOut(Schema):
    shop_id = fields.Str(allow_none=True)
    by_status = fields.Dict(keys=fields.Str(), values=fields.Int())
    overdue = fields.Int(metadata={"description": "pending past the dispatch deadline"})
    dispatched_late = fields.Int()
    exceptions_open = fields.Int()
    exceptions_by_kind = fields.Dict(keys=fields.Str(), values=fields.Int())
    at = UtcTime()


@blp.route("/shipments/stats", methods=["GET"])
@requires(*STAFF, "service")
@blp.arguments(ShopQuery, location="query")
@blp.response(200, StatsOut)
def shipment_stats(args):
    """Counts for the shipping dashboard: by status, overdue, dispatched late, open exceptions."""
    at = now()
    shop = shop_or_all(args.get("shop_id"))

    def count(*conds, group=None):
        stmt = sa.select(*( [group] if group is not None else []), sa.func.count()).select_from(Shipment)
        if shop:
            stmt = stmt.where(Shipment.shop_id == shop)
        stmt = stmt.where(*conds)
        if group is not None:
            return {k: n for k, n in session.execute(stmt.group_by(group)).all()}
        return session.execute(stmt).scalar_one()

    with current_db().Session() as session:
        by_status = {s: 0 for s in domain.STATUSES}
        by_status.update(count(group=Shipment.status))
        return {
            "shop_id": shop,
            "by_status": by_status,
            "overdue": count(Shipment.status == domain.PENDING, Shipment.dispatch_due_at < at),
            "dispatched_late": count(Shipment.dispatched_late.is_(True)),
            "exceptions_open": count(Shipment.exception_open.is_(True)),
            "exceptions_by_kind": count(Shipment.exception_open.is_(True), group=Shipment.exception_kind),
            "at": iso(at),
        }


class ExceptionArgs(PageArgs):
    shop_id = fields.Str()
    kind = fields.Str(validate=validate.OneOf(["carrier", "stalled"]))


@blp.route("/shipments/exceptions", methods=["GET"])
@requires(*STAFF, "service")
@blp.arguments(ExceptionArgs, location="query")
@blp.response(200, ShipmentPage)
def exception_queue(args):
    """The exception queue for ops: carrier exceptions and stalled parcels, longest waiting first,
    each with `time_in_exception_s`. An entry leaves the queue when the carrier reports progress."""
    at = now()
    stmt = scoped(sa.select(Shipment).where(Shipment.exception_open.is_(True)), args.get("shop_id"))
    if args.get("kind"):
        stmt = stmt.where(Shipment.exception_kind == args["kind"])
    with current_db().Session() as session:
        return paginate(session, stmt, [Shipment.exception_since, Shipment.id], args["limit"], args.get("cursor"),
                        descending=False, to_item=lambda s: shipment_dict(s, at))


@blp.route("/shipments/<shipment_id>", methods=["GET"])
@requires(*STAFF, "service")
@blp.response(200, ShipmentDetail)
def get_shipment(shipment_id):
    """One shipment with its timeline, carrier reports and carrier history."""
    at = now()
    with current_db().Session() as session:
        s = load_visible(session, shipment_id)
        events = session.execute(sa.select(ShipmentEvent).where(ShipmentEvent.shipment_id == s.id)
                                 .order_by(ShipmentEvent.id)).scalars().all()
        tracking = session.execute(sa.select(TrackingEvent).where(TrackingEvent.shipment_id == s.id)
                                   .order_by(TrackingEvent.id)).scalars().all()
    out = shipment_dict(s, at)
    out["timeline"] = [{"at": iso(aware(e.at)), "by": e.actor, "action": e.action, "from_status": e.from_status,
                        "status": e.to_status if e.to_status is not None else e.from_status, "reason": e.reason,
                        "details": e.data} for e in events]
    out["tracking"] = [{"carrier_event_id": t.carrier_event_id, "carrier": t.carrier, "tracking_no": t.tracking_no,
                        "status": t.status, "location": t.location, "reason": t.reason,
                        "occurred_at": iso(aware(t.occurred_at)), "received_at": iso(aware(t.received_at))}
                       for t in tracking]
    out["carrier_history"] = [{"at": iso(aware(e.at)), "by": e.actor, "reason": e.reason, **(e.data or {})}
                              for e in events if e.action in ("carrier_changed", "carrier_assigned", "dispatch")]
    return out


# Waybill ---------------------------------------------------------------------------------------
@blp.route("/shipments/<shipment_id>/waybill", methods=["GET"])
@requires("warehouse", "ops", "admin", "service")
@blp.doc(responses={200: {"description": "JSON by default; `?format=html` or `Accept: text/html` gives a "
                                         "printable page"}})
def waybill(shipment_id):
    """The waybill: sender, masked receiver, order number, carrier, tracking number, SKU lines."""
    with current_db().Session() as session:
        s = load_visible(session, shipment_id)
        sender, _ = ops.sender_for(session, settings(), s.shop_id)
        carrier = session.get(Carrier, s.carrier) if s.carrier else None
    bill = {
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
        "printed_at": iso(now()),
    }
    fmt = request.args.get("format")
    if fmt not in (None, "html", "json"):
        raise UnprocessableEntity("format must be json or html", {"format": ["Must be one of: json, html."]})
    accept = request.accept_mimetypes
    wants_html = fmt == "html" or (fmt is None and accept["text/html"] > accept["application/json"])
    if wants_html:
        return Response(waybill_html(bill), mimetype="text/html")
    return bill


def waybill_html(b: dict) -> str:
    e = lambda v: html.escape("" if v is None else str(v))  # noqa: E731 - every value is escaped

    def party(p: dict) -> str:
        place = " ".join(e(p.get(k)) for k in ("province", "city", "district", "detail") if p.get(k))
        return f"{e(p.get('name'))} {e(p.get('phone'))}<br>{place}"

    carrier = b["carrier"] or {}
    rows = "".join(f"<tr><td>{e(line['sku_code'])}</td><td class=q>{e(line['quantity'])}</td><td>&#9744;</td></tr>"
                   for line in b["lines"])
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>运单 {e(b['shipment_id'])}</title>
<style>
body {{ font-family: sans-serif; width: 100mm; margin: 4mm; }}
h1 {{ font-size: 16pt; margin: 0 0 2mm; }} table {{ width: 100%; border-collapse: collapse; }}
td, th {{ border: 1px solid #000; padding: 1mm; font-size: 10pt; }} .q {{ text-align: right; }}
.big {{ font-size: 14pt; font-weight: bold; }} @media print {{ .noprint {{ display: none; }} }}
</style></head><body>
<h1>{e(carrier.get('name') or '未指定承运商')} {'<span class=big>加急</span>' if b['priority'] else ''}</h1>
<table>
<tr><th>运单号</th><td class=big>{e(b['tracking_no'] or '待分配')}</td></tr>
<tr><th>订单号</th><td>{e(b['order_id'])}{(' / 售后单 ' + e(b['case_id'])) if b['case_id'] else ''}</td></tr>
<tr><th>收件人</th><td>{party(b['receiver'])}</td></tr>
<tr><th>寄件人</th><td>{party(b['sender'])}</td></tr>
</table>
<h2 style="font-size:12pt">拣货清单 (共 {e(b['total_quantity'])} 件)</h2>
<table><tr><th>SKU</th><th>数量</th><th>核对</th></tr>{rows}</table>
<p style="font-size:8pt">{e(b['shipment_id'])} · 打印于 {e(b['printed_at'])}</p>
<button class=noprint onclick="window.print()">打印</button>
</body></html>"""


# Warehouse actions -----------------------------------------------------------------------------
class DispatchIn(BodySchema):
    carrier = fields.Str(load_default=None, allow_none=True,
                         metadata={"description": "omit to use the automatically chosen carrier"})
    tracking_no = fields.Str(required=True, validate=validate.Length(min=4, max=64))


class AssignCarrierIn(BodySchema):
    carrier = fields.Str(required=True)
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ChangeCarrierIn(BodySchema):
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True, validate=validate.Length(min=4, max=64))
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


def act_on(shipment_id: str, action):
    """Run a warehouse action on one visible shipment in one unit of work; returns the shipment."""
    principal = current_principal()
    with current_db().uow() as uow:
        s = load_visible(uow.session, shipment_id)
        action(uow, s, principal.sub)
        try:
            uow.commit()
        except sa.exc.IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict("tracking number already used by another shipment",
                               {"tracking_no": ["Already used by another shipment."]})
            raise
        return shipment_dict(s, now())


@blp.route("/shipments/<shipment_id>/dispatch", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(DispatchIn)
@blp.response(200, ShipmentSchema)
def dispatch_shipment(body, shipment_id):
    """Hand the parcel to a carrier: `pending -> dispatched` and logistics.ShipmentDispatched.
    Naming another carrier than the chosen one overrides the choice (recorded)."""
    return act_on(shipment_id, lambda uow, s, who: ops.dispatch(uow, s, body.get("carrier"), body["tracking_no"], who))


@blp.route("/shipments/<shipment_id>/carrier", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(AssignCarrierIn)
@blp.response(200, ShipmentSchema)
def assign_carrier(body, shipment_id):
    """Override the automatically chosen carrier of a pending shipment (before printing). An
    unknown or inactive carrier is 422."""

    def run(uow, s, who):
        ops.require_active_carrier(uow.session, body["carrier"])
        t = now()
        before = s.carrier
        ops.transition(uow.session, s, "assign carrier to", t, who, reason=body.get("reason"),
                       values={"carrier": body["carrier"], "carrier_reason": f"chosen by warehouse {who}"},
                       data={"old_carrier": before, "carrier": body["carrier"]}, timeline_action="carrier_assigned")

    return act_on(shipment_id, run)


@blp.route("/shipments/<shipment_id>/change-carrier", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(ChangeCarrierIn)
@blp.response(200, ShipmentSchema)
def change_carrier(body, shipment_id):
    """A failed pickup: another carrier and tracking number for a dispatched parcel (history kept).
    An unknown or inactive carrier is 422."""

    def run(uow, s, who):
        domain.next_status(s.status, "change the carrier of")
        ops.require_active_carrier(uow.session, body["carrier"])
        ops.ensure_tracking_free(uow.session, body["carrier"], body["tracking_no"], s.id)
        t = now()
        old = {"old_carrier": s.carrier, "old_tracking_no": s.tracking_no}
        ops.transition(uow.session, s, "change the carrier of", t, who, reason=body["reason"],
                       values={"carrier": body["carrier"], "tracking_no": body["tracking_no"], "last_progress_at": t,
                               "carrier_reason": f"changed by warehouse {who}: {body['reason']}"[:200]},
                       data={**old, "carrier": body["carrier"], "tracking_no": body["tracking_no"]},
                       timeline_action="carrier_changed")

    return act_on(shipment_id, run)


# Carrier webhook -------------------------------------------------------------------------------
class TrackingIn(BodySchema):
    event_id = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(domain.TRACKING_STATUSES))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=timezone.utc)
    location = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))

    @validates_schema
    def _reason(self, data, **kwargs):
        if data.get("status") == domain.EXCEPTION and not data.get("reason"):
            raise ValidationError("an exception report needs its reason", "reason")


class TrackingOut(Schema):
    shipment_id = fields.Str()
    status = fields.Str()
    duplicate = fields.Bool()


@blp.route("/tracking/webhook", methods=["POST"])
@blp.doc(security=[], parameters=[{"in": "header", "name": domain.SIGNATURE_HEADER, "required": True,
                                    "schema": {"type": "string", "pattern": "^(sha256=)?[0-9a-fA-F]{64}$"},
                                    "description": "sha256=<hex HMAC-SHA256 of the raw body with the shared secret>"}],
         # read by hand after the signature check, so that an unsigned caller learns nothing of it
         requestBody={"required": True, "content": {"application/json": {"schema": TrackingIn}}})
@blp.response(200, TrackingOut)
def tracking_webhook():
    """Carrier progress reports, signed with LOGISTICS_CARRIER_WEBHOOK_SECRET; idempotent per
    (carrier, event_id). A resent event, or a report of the final state the shipment already reached
    (delivered again under a new event id), answers 200 with `duplicate: true` and changes nothing."""
    secret = settings().webhook_secret
    if not secret:
        raise ServiceUnavailable("the carrier webhook is not configured (LOGISTICS_CARRIER_WEBHOOK_SECRET)")
    raw = request.get_data()
    if not domain.signature_valid(secret, raw, request.headers.get(domain.SIGNATURE_HEADER)):
        raise Unauthorized(f"missing or invalid {domain.SIGNATURE_HEADER}")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object", {"body": ["Invalid JSON body."]})
    try:
        body = TrackingIn().load(data)
    except ValidationError as exc:
        raise UnprocessableEntity("the request failed validation", exc.messages)
    with current_db().uow() as uow:
        session = uow.session
        seen = session.execute(sa.select(TrackingEvent.shipment_id).where(
            TrackingEvent.carrier == body["carrier"], TrackingEvent.carrier_event_id == body["event_id"])).scalar()
        if seen is not None:
            return {"shipment_id": seen, "status": session.get(Shipment, seen).status, "duplicate": True}
        s = session.execute(sa.select(Shipment).where(Shipment.carrier == body["carrier"],
                                                      Shipment.tracking_no == body["tracking_no"])).scalar_one_or_none()
        if s is None:
            raise NotFound(f"no shipment with {body['carrier']} tracking number {body['tracking_no']}")
        if domain.repeats_reached_status(s.status, body["status"]):
            # Already reached and announced once: write nothing (no second tracking row, no event).
            return {"shipment_id": s.id, "status": s.status, "duplicate": True}
        t = now()
        session.add(TrackingEvent(shipment_id=s.id, carrier=body["carrier"], carrier_event_id=body["event_id"],
                                  tracking_no=body["tracking_no"], status=body["status"], location=body["location"],
                                  reason=body["reason"], occurred_at=body["occurred_at"], received_at=t))
        try:
            session.flush()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            # The same event raced in on another connection and won: this one is the duplicate.
            uow.rollback()
            return {"shipment_id": s.id, "status": session.get(Shipment, s.id).status, "duplicate": True}
        ops.apply_tracking(uow, s, body["status"], t, body["reason"],
                           {"event_id": body["event_id"], "location": body["location"],
                            "occurred_at": iso(body["occurred_at"])})
        uow.commit()
        return {"shipment_id": s.id, "status": s.status, "duplicate": False}
