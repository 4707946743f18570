"""What carriers cost and how they perform: the actual cost of a shipment, per-carrier figures, and
a monthly carrier statement reconciled against the recorded shipments."""

from __future__ import annotations

from datetime import UTC, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import requires, shop_or_all
from ecom_common.errors import UnprocessableEntity
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import MAX_INT, BodySchema
from ecom_common.usecase import use_case

from .. import fulfilment, operations
from ..settings import Settings
from .context import STAFF
from .shipments import ShipmentOut, shipment_dict

blp = Blueprint("carrier_figures", __name__)

# Who records costs and reconciles bills: the shop's warehouse, ops and finance, the platform's admin.
COST_KEEPERS = ("warehouse", "ops", "finance", "admin")
MAX_STATEMENT_LINES = 5000
MAX_WINDOW_DAYS = 366


class CostIn(BodySchema):
    cost_fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))


@blp.route("/shipments/<shipment_id>/carrier-cost", methods=["PUT"])
@requires(*COST_KEEPERS)
@idempotent()
@blp.arguments(CostIn)
@blp.response(200, ShipmentOut)
def record_cost(body, shipment_id):
    """The carrier's actual charge for a dispatched parcel (409 before dispatch); the carrier's
    webhook may report it too (`cost_fen`)."""
    with use_case(Settings) as ctx:
        return shipment_dict(operations.record_cost(ctx, shipment_id, body["cost_fen"]), ctx.now)


class StatsArgs(Schema):
    shop_id = fields.Str(metadata={"description": "platform roles: one shop, or every shop without it"})
    date_from = fields.AwareDateTime(
        data_key="from", default_timezone=UTC, metadata={"description": "default: `to` - 30 days"}
    )
    date_to = fields.AwareDateTime(
        data_key="to", default_timezone=UTC, metadata={"description": "default: the end of today (UTC)"}
    )

    @validates_schema
    def _window(self, data, **kwargs):
        since, until = data.get("date_from"), data.get("date_to")
        if since and until and not since < until:
            raise ValidationError("`from` must be before `to`", "from")


class CarrierFigureOut(Schema):
    carrier = fields.Str()
    shipments = fields.Int(metadata={"description": "dispatched in the window"})
    delivered = fields.Int()
    on_time = fields.Int(metadata={"description": "delivered within on_time_hours of the dispatch"})
    on_time_rate = fields.Float(allow_none=True)
    mean_transit_hours = fields.Float(allow_none=True)
    costed = fields.Int(metadata={"description": "shipments with a recorded actual cost"})
    cost_total_fen = fields.Int()
    cost_per_parcel_fen = fields.Int(allow_none=True)


class CarrierStatsOut(Schema):
    shop_id = fields.Str(allow_none=True)
    date_from = fields.Str(data_key="from")
    date_to = fields.Str(data_key="to")
    on_time_hours = fields.Float()
    carriers = fields.List(fields.Nested(CarrierFigureOut))


@blp.route("/carriers/stats", methods=["GET"])
@requires(*STAFF, "finance", "service")
@blp.arguments(StatsArgs, location="query")
@blp.response(200, CarrierStatsOut)
def carrier_stats(args):
    """Per carrier, over the shipments dispatched in [from, to) (at most 366 days, `from` before `to`,
    else 422): on-time rate, mean transit time, cost per parcel."""
    shop = shop_or_all(args.get("shop_id"))
    with use_case(Settings) as ctx:
        # by default the 30 whole UTC days through today (the same window all day long)
        today = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
        until = args.get("date_to") or today + timedelta(days=1)
        since = args.get("date_from") or until - timedelta(days=30)
        if until - since > timedelta(days=MAX_WINDOW_DAYS):
            raise UnprocessableEntity("the window is at most 366 days", {"from": ["Window too long."]})
        out = operations.carrier_stats(ctx, operations.Window(shop, since, until))
        return {**out, "date_from": out.pop("from"), "date_to": out.pop("to")}


class StatementLineIn(BodySchema):
    tracking_no = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    charged_fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))


class StatementIn(BodySchema):
    carrier = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    month = fields.Str(
        required=True, validate=validate.Regexp(r"^(19|20)\d\d-(0[1-9]|1[0-2])$"), metadata={"example": "2026-11"}
    )
    shop_id = fields.Str(load_default=None, metadata={"description": "required for platform roles"})
    lines = fields.List(
        fields.Nested(StatementLineIn), required=True, validate=validate.Length(max=MAX_STATEMENT_LINES)
    )


class MismatchOut(Schema):
    kind = fields.Str(metadata={"description": "missing | extra | amount_differs | no_recorded_cost | duplicate"})
    tracking_no = fields.Str()
    shipment_id = fields.Str(allow_none=True)
    charged_fen = fields.Int(allow_none=True)
    recorded_fen = fields.Int(allow_none=True)
    difference_fen = fields.Int(metadata={"description": "charged - recorded, on amount_differs"})


class ReconciliationOut(Schema):
    shop_id = fields.Str()
    carrier = fields.Str()
    month = fields.Str()
    lines = fields.Int()
    matched = fields.Int()
    charged_total_fen = fields.Int()
    recorded_total_fen = fields.Int(metadata={"description": "recorded costs of the shipments dispatched in the month"})
    mismatch_counts = fields.Dict(keys=fields.Str(), values=fields.Int())
    mismatches = fields.List(fields.Nested(MismatchOut))


@blp.route("/carrier-statements", methods=["POST"])
@requires(*COST_KEEPERS)
@blp.arguments(StatementIn)
@blp.response(200, ReconciliationOut)
def reconcile_statement(body):
    """A carrier's monthly statement (at most 5000 lines) reconciled against the shop's shipments of
    that carrier: every line that differs and every shipment of the month it does not charge. Stores
    nothing. 422 for an unknown carrier, or when a platform role names no `shop_id`."""
    shop = shop_or_all(body.get("shop_id"))
    if not shop:
        raise UnprocessableEntity(
            "name the shop the statement is for", {"shop_id": ["Missing data for required field."]}
        )
    lines = [fulfilment.StatementLine(line["tracking_no"], line["charged_fen"]) for line in body["lines"]]
    with use_case(Settings) as ctx:
        statement = operations.Statement(shop, body["carrier"], body["month"], lines)
        return operations.reconcile_statement(ctx, statement)
