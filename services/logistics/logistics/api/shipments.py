"""Shipments as shipping staff read them: the list, the dashboard's counts, the exception queue and
one shipment with its timeline and carrier reports. Warehouse actions are in dispatch.py, the
waybill in waybill.py."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires, shop_or_all
from ecom_common.clock import aware, iso
from ecom_common.http import Blueprint
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import domain, fulfilment, operations
from ..models import Shipment
from ..settings import Settings
from . import export
from .context import STAFF, ShopArgs

blp = Blueprint("shipments", __name__)


class LineOut(Schema):
    sku_code = fields.Str()
    quantity = fields.Int()
    # from the order line's snapshot, when it carries them (orders does not send them yet: README)
    title = fields.Str(metadata={"description": "the product's title"})
    spec = fields.Raw(metadata={"description": "the SKU's spec (text or {name: value})"})
    handling = fields.List(fields.Str(), metadata={"description": "handling marks: fragile, liquid"})
    # only on a gift marketing granted the order (marketing.GiftGranted)
    gift = fields.Bool(metadata={"description": "a gift: in the parcel, not paid for"})
    promotion_id = fields.Str(metadata={"description": "the promotion that granted the gift"})
    charge_fen = fields.Int(metadata={"description": "0: a gift is charged nothing"})


class ShipmentOut(Schema):
    shipment_id = fields.Str()
    shop_id = fields.Str()
    order_id = fields.Str()
    case_id = fields.Str(allow_none=True)
    status = fields.Str()
    carrier = fields.Str(allow_none=True)
    carrier_reason = fields.Str(allow_none=True)
    tracking_no = fields.Str(allow_none=True)
    pick_list = fields.List(fields.Nested(LineOut))
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
    pickup_due_at = UtcTime(
        allow_none=True, metadata={"description": "揽收 due (LOGISTICS_PICKUP_HOURS after dispatch)"}
    )
    picked_up_at = UtcTime(allow_none=True, metadata={"description": "the carrier's first report"})
    pickup_late = fields.Bool(metadata={"description": "picked up after pickup_due_at, or not yet and past it"})
    estimated_arrival_at = UtcTime(allow_none=True)
    exception_resolved_at = UtcTime(allow_none=True)
    exception_resolution = fields.Str(allow_none=True)
    carrier_cost_fen = fields.Int(allow_none=True, metadata={"description": "the carrier's actual charge"})
    printed_at = UtcTime(allow_none=True, metadata={"description": "the waybill's first printing"})


class ShipmentTimelineEntry(TimelineOut):
    """The timeline entry every service returns; `details` carries what logistics has to add (carriers)."""

    details = fields.Dict(allow_none=True)


class TrackingReportOut(Schema):
    carrier_event_id = fields.Str()
    carrier = fields.Str()
    tracking_no = fields.Str()
    status = fields.Str()
    location = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
    occurred_at = UtcTime(allow_none=True)
    received_at = UtcTime()


class ShipmentDetailOut(ShipmentOut):
    timeline = fields.List(fields.Nested(ShipmentTimelineEntry))
    tracking = fields.List(fields.Nested(TrackingReportOut))
    carrier_history = fields.List(fields.Dict())
    exception_notes = fields.List(fields.Dict(), metadata={"description": "`{at, by, text}`, oldest first"})


def shipment_dict(s: Shipment, at: datetime) -> dict:
    since = aware(s.exception_since)
    return {
        "shipment_id": s.id,
        "shop_id": s.shop_id,
        "order_id": s.order_id,
        "case_id": s.case_id,
        "status": s.status,
        "carrier": s.carrier,
        "carrier_reason": s.carrier_reason,
        "tracking_no": s.tracking_no,
        "pick_list": operations.pick_list(s),
        "receiver": s.receiver,
        "province": s.province,
        "weight_g": s.weight_g,
        "priority": s.priority,
        "paid_at": iso(aware(s.paid_at)),
        "dispatch_due_at": iso(aware(s.dispatch_due_at)),
        "promotion": s.promotion,
        "overdue": domain.is_overdue(s.status, aware(s.dispatch_due_at), at),
        "dispatched_late": s.dispatched_late,
        "created_at": iso(aware(s.created_at)),
        "dispatched_at": iso(aware(s.dispatched_at)),
        "delivered_at": iso(aware(s.delivered_at)),
        "cancelled_at": iso(aware(s.cancelled_at)),
        "last_progress_at": iso(aware(s.last_progress_at)),
        "exception_open": s.exception_open,
        "exception_kind": s.exception_kind if s.exception_open else None,
        "exception_reason": s.exception_reason if s.exception_open else None,
        "exception_since": iso(since) if s.exception_open else None,
        "time_in_exception_s": int((at - since).total_seconds()) if s.exception_open and since else None,
        "order_cancelled_after_dispatch": s.order_cancelled_after_dispatch,
        "pickup_due_at": iso(aware(s.pickup_due_at)),
        "picked_up_at": iso(aware(s.picked_up_at)),
        "pickup_late": fulfilment.pickup_late(aware(s.pickup_due_at), aware(s.picked_up_at), at),
        "estimated_arrival_at": iso(aware(s.estimated_arrival_at)),
        "exception_resolved_at": iso(aware(s.exception_resolved_at)),
        "exception_resolution": s.exception_resolution,
        "carrier_cost_fen": s.carrier_cost_fen,
        "printed_at": iso(aware(s.printed_at)),
    }


def scoped(stmt, shop_id_arg: str | None):
    """Confine a query over shipments to what the caller may see (the one rule in ecom_common.auth)."""
    return stmt.where(list_filter(Shipment.shop_id, shop_id=shop_id_arg))


FORMAT = fields.Str(
    load_default="json",
    validate=validate.OneOf(["json", "csv"]),
    metadata={"description": "`csv`: every matching row as a streamed CSV (UTF-8 with BOM); limit/cursor ignored"},
)


# The lists answer JSON, or with `format=csv` a streamed CSV file: both documented.
PAGE_OR_CSV = {
    "description": "the page as JSON; `format=csv`: every matching row as a streamed CSV attachment",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ShipmentPage"}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


class ShipmentArgs(PageArgs):
    format = FORMAT
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(domain.STATUSES))
    carrier = fields.Str()
    order_id = fields.Str()
    case_id = fields.Str()
    overdue = fields.Bool(metadata={"description": "pending past its dispatch deadline"})
    exception = fields.Bool(metadata={"description": "in the exception queue (carrier exception or stalled)"})
    priority = fields.Bool()


ShipmentPage = page_of(ShipmentOut)


@blp.route("/shipments", methods=["GET"])
@requires(*STAFF, "service")
@blp.arguments(ShipmentArgs, location="query")
@blp.response(200, ShipmentPage)
@blp.doc(responses={"200": PAGE_OR_CSV})
def list_shipments(args):
    """Shipments, newest first; merchant staff see their own shop's only. Receivers are masked.
    `format=csv` streams every matching shipment (newest first) as a CSV file."""
    stmt = scoped(sa.select(Shipment), args.get("shop_id"))
    for name in ("status", "carrier", "order_id", "case_id"):
        if args.get(name):
            stmt = stmt.where(getattr(Shipment, name) == args[name])
    if "exception" in args:
        stmt = stmt.where(Shipment.exception_open.is_(bool(args["exception"])))
    if "priority" in args:
        stmt = stmt.where(Shipment.priority.is_(bool(args["priority"])))

    def filtered(now):
        if "overdue" not in args:
            return stmt
        cond = sa.and_(Shipment.status == domain.PENDING, Shipment.dispatch_due_at < now)
        return stmt.where(cond if args["overdue"] else sa.not_(cond))

    def newest_first(now):
        return filtered(now).order_by(Shipment.created_at.desc(), Shipment.id.desc())

    if args["format"] == "csv":
        return export.export("shipments.csv", export.SHIPMENT_COLUMNS, newest_first, shipment_dict)
    with use_case(Settings) as ctx:
        stmt = filtered(ctx.now)
        keys = [Shipment.created_at, Shipment.id]
        return paginate(
            ctx.session, stmt, keys, args["limit"], args.get("cursor"), to_item=lambda s: shipment_dict(s, ctx.now)
        )


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
@blp.arguments(ShopArgs, location="query")
@blp.response(200, StatsOut)
def shipment_stats(args):
    """Counts for the shipping dashboard: by status, overdue, dispatched late, open exceptions."""
    shop = shop_or_all(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return operations.shipment_stats(ctx, shop)


class ExceptionArgs(PageArgs):
    format = FORMAT
    shop_id = fields.Str()
    kind = fields.Str(validate=validate.OneOf(["carrier", "stalled"]))


@blp.route("/shipments/exceptions", methods=["GET"])
@requires(*STAFF, "service")
@blp.arguments(ExceptionArgs, location="query")
@blp.response(200, ShipmentPage)
@blp.doc(responses={"200": PAGE_OR_CSV})
def exception_queue(args):
    """The exception queue for ops: carrier exceptions and stalled parcels, longest waiting first,
    each with `time_in_exception_s`. An entry leaves the queue when the carrier reports progress
    or is resolved. `format=csv` streams the whole queue (longest waiting first) as a CSV file."""
    stmt = scoped(sa.select(Shipment).where(Shipment.exception_open.is_(True)), args.get("shop_id"))
    if args.get("kind"):
        stmt = stmt.where(Shipment.exception_kind == args["kind"])
    if args["format"] == "csv":
        oldest = stmt.order_by(Shipment.exception_since, Shipment.id)
        return export.export("exceptions.csv", export.EXCEPTION_COLUMNS, lambda now: oldest, shipment_dict)
    with use_case(Settings) as ctx:
        return paginate(
            ctx.session,
            stmt,
            [Shipment.exception_since, Shipment.id],
            args["limit"],
            args.get("cursor"),
            descending=False,
            to_item=lambda s: shipment_dict(s, ctx.now),
        )


@blp.route("/shipments/<shipment_id>", methods=["GET"])
@requires(*STAFF, "service")
@blp.response(200, ShipmentDetailOut)
def get_shipment(shipment_id):
    """One shipment with its timeline, carrier reports and carrier history."""
    with use_case(Settings) as ctx:
        return detail_out(operations.shipment_detail(ctx, shipment_id), ctx.now)


def detail_out(detail: operations.ShipmentDetail, at: datetime) -> dict:
    events = detail.timeline
    out = shipment_dict(detail.shipment, at)
    out["timeline"] = [
        {
            "at": iso(aware(e.at)),
            "by": e.actor,
            "action": e.action,
            "from_status": e.from_status,
            "status": e.to_status if e.to_status is not None else e.from_status,
            "reason": e.reason,
            "details": e.data,
        }
        for e in events
    ]
    out["tracking"] = [
        {
            "carrier_event_id": t.carrier_event_id,
            "carrier": t.carrier,
            "tracking_no": t.tracking_no,
            "status": t.status,
            "location": t.location,
            "reason": t.reason,
            "occurred_at": iso(aware(t.occurred_at)),
            "received_at": iso(aware(t.received_at)),
        }
        for t in detail.tracking
    ]
    out["carrier_history"] = [
        {"at": iso(aware(e.at)), "by": e.actor, "reason": e.reason, **(e.data or {})}
        for e in events
        if e.action in ("carrier_changed", "carrier_assigned", "dispatch")
    ]
    out["exception_notes"] = [
        {"at": iso(aware(e.at)), "by": e.actor, "text": e.reason} for e in events if e.action == "exception_note"
    ]
    return out
