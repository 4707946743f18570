"""The platform's promotion periods (双11, 618...): declared here once, copied by logistics,
aftersales and inventory from marketing's events. Platform reference data: any authenticated caller
reads them; only admin declares, changes or cancels (a period changes every shop's deadlines)."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import requires
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import operations
from ..models import PromotionPeriod
from ..settings import Settings
from .schemas import Time

blp = Blueprint("promotion_periods", __name__)


class PeriodIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    starts_at = Time(required=True)
    ends_at = Time(required=True)

    @validates_schema
    def _order(self, data, **_kwargs):
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after starts_at.", "ends_at")


class PeriodPatch(BodySchema):
    name = fields.Str(validate=validate.Length(min=1, max=100))
    starts_at = Time()
    ends_at = Time()


class PeriodOut(Schema):
    period_id = fields.Str()
    name = fields.Str()
    starts_at = UtcTime()
    ends_at = UtcTime()
    status = fields.Str(metadata={"description": "active | cancelled"})
    version = fields.Int(metadata={"description": "grows with every change (carried by the events)"})
    updated_by = fields.Str()
    created_at = UtcTime()
    updated_at = UtcTime()


PeriodPage = page_of(PeriodOut)


class PeriodArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(["active", "cancelled"]))


@blp.route("/promotion-periods", methods=["POST"])
@requires("admin")
@idempotent()
@blp.arguments(PeriodIn)
@blp.response(201, PeriodOut)
def declare_period(body):
    """Declare a promotion period (emits marketing.PromotionPeriodDeclared). 422 when it ends before it starts."""
    with use_case(Settings) as ctx:
        return operations.declare_period(ctx, body["name"], body["starts_at"], body["ends_at"])


@blp.route("/promotion-periods", methods=["GET"])
@requires()
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, PeriodPage)
def list_periods(args):
    """Declared periods, earliest start first (cancelled ones too unless `status=active`)."""
    stmt = sa.select(PromotionPeriod)
    if args.get("status"):
        stmt = stmt.where(PromotionPeriod.status == args["status"])
    with current_db().Session() as session:
        keys = [PromotionPeriod.starts_at, PromotionPeriod.period_id]
        return paginate(session, stmt, keys, args["limit"], args.get("cursor"), descending=False)


@blp.route("/promotion-periods/<period_id>", methods=["PATCH"])
@requires("admin")
@blp.arguments(PeriodPatch)
@blp.response(200, PeriodOut)
def change_period(body, period_id):
    """Change an active period's name or times (PromotionPeriodDeclared again, next version); 409 once cancelled."""
    with use_case(Settings) as ctx:
        return operations.change_period(ctx, period_id, body)


@blp.route("/promotion-periods/<period_id>/cancel", methods=["POST"])
@requires("admin")
@blp.response(200, PeriodOut)
def cancel_period(period_id):
    """Call a period off (marketing.PromotionPeriodCancelled); cancelling again changes nothing."""
    with use_case(Settings) as ctx:
        return operations.cancel_period(ctx, period_id)
