"""A/B experiments: a shop defines one, the storefront asks which variant a visitor sees (and sends
it back on the visits), the report names a winner by the SOP's rule."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_write
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema, UtcTime
from ecom_common.usecase import use_case

from .. import domain, operations
from ..settings import Settings

blp = Blueprint("experiments", __name__)

_NAME = validate.Length(min=1, max=64)


class VariantIn(BodySchema):
    name = fields.Str(required=True, validate=_NAME)
    weight = fields.Int(load_default=1, validate=validate.Range(min=1, max=1000))


class ExperimentIn(BodySchema):
    shop_id = fields.Str(metadata={"description": "platform roles: the shop (staff: their own)"})
    name = fields.Str(required=True, validate=validate.Length(min=1, max=120))
    target = fields.Str(required=True, validate=_NAME, metadata={"description": "what is varied, e.g. banner"})
    variants = fields.List(
        fields.Nested(VariantIn),
        required=True,
        validate=validate.Length(min=2, max=10),
        metadata={"description": "the first is the control; names unique (422 otherwise)"},
    )
    starts_on = fields.Date(load_default=None, metadata={"description": "default: today (the shop's day)"})
    ends_on = fields.Date(load_default=None, metadata={"description": "not before starts_on (422 otherwise)"})


class VariantOut(Schema):
    name = fields.Str()
    weight = fields.Int()


class ExperimentOut(Schema):
    experiment_id = fields.Str(attribute="id")
    shop_id = fields.Str()
    name = fields.Str()
    target = fields.Str()
    metric = fields.Str()
    variants = fields.List(fields.Nested(VariantOut))
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    created_at = UtcTime()
    created_by = fields.Str()


class AssignmentArgs(Schema):
    visitor_id = fields.Str(required=True, validate=_NAME)


class AssignmentOut(Schema):
    experiment_id = fields.Str()
    visitor_id = fields.Str()
    variant = fields.Str()


class VariantResultOut(Schema):
    variant = fields.Str()
    visitors = fields.Int()
    buyers = fields.Int()
    conversion = fields.Float(allow_none=True)
    lift = fields.Float(allow_none=True, metadata={"description": "over the control (0.05 = +5%)"})
    p_value = fields.Float(allow_none=True, metadata={"description": "two-sided two-proportion z-test"})
    significant = fields.Bool()


class ExperimentReportOut(Schema):
    experiment_id = fields.Str()
    shop_id = fields.Str()
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    control = fields.Str()
    variants = fields.List(fields.Nested(VariantResultOut))
    winner = fields.Str(allow_none=True, metadata={"description": "lift >= 5% and p < 0.05, else null"})


@blp.route("/experiments", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(ExperimentIn)
@blp.response(201, ExperimentOut)
def create_experiment(body):
    """Define an experiment of the shop on conversion; the first variant is the control."""
    spec = operations.ExperimentIn(
        shop_id=shop_for_write(body.get("shop_id")),
        name=body["name"],
        target=body["target"],
        variants=tuple(domain.Variant(v["name"], v["weight"]) for v in body["variants"]),
        starts_on=body.get("starts_on"),
        ends_on=body.get("ends_on"),
    )
    with use_case(Settings) as ctx:
        return operations.create_experiment(ctx, spec)


@blp.route("/experiments/<experiment_id>", methods=["GET"])
@requires("ops", "finance", "admin", "service")
@blp.response(200, ExperimentOut)
def get_experiment(experiment_id):
    with use_case(Settings) as ctx:
        return operations.get_experiment(ctx, experiment_id)


@blp.route("/experiments/<experiment_id>/assignment", methods=["GET"])
@requires("service", "admin", "ops")
@blp.arguments(AssignmentArgs, location="query")
@blp.response(200, AssignmentOut)
def get_assignment(args, experiment_id):
    """The variant a visitor sees: a hash of (experiment, visitor), the same on every call."""
    with use_case(Settings) as ctx:
        return operations.assignment(ctx, experiment_id, args["visitor_id"])


@blp.route("/experiments/<experiment_id>/report", methods=["GET"])
@requires("ops", "finance", "admin")
@blp.response(200, ExperimentReportOut)
def get_report(experiment_id):
    """Visitors, buyers, conversion, lift and p-value per variant; the winner only when its lift is
    at least 5% and p < 0.05."""
    with use_case(Settings) as ctx:
        report = operations.experiment_report(ctx, experiment_id)
    return {**report, "start": report["from"], "end": report["to"]}
