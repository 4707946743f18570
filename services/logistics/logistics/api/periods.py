"""Promotion periods (双11 and the like): orders paid within one have 48 h, not 24 h, to be
dispatched."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import domain, operations
from ..models import PromotionPeriod
from ..settings import Settings

blp = Blueprint("periods", __name__)


class PeriodIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    starts_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    ends_at = fields.AwareDateTime(required=True, default_timezone=UTC)

    @validates_schema
    def _order(self, data, **kwargs):
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")


class PeriodListIn(BodySchema):
    items = fields.List(fields.Nested(PeriodIn), required=True)


class PeriodOut(Schema):
    name = fields.Str()
    starts_at = UtcTime()
    ends_at = UtcTime()


PeriodPage = page_of(PeriodOut)


@blp.route("/promotion-periods", methods=["GET"])
@requires()
@blp.arguments(PageArgs, location="query")
@blp.response(200, PeriodPage)
def list_periods(args):
    """Declared big promotions, earliest first: orders paid within one have 48 h (not 24 h) to be dispatched."""
    with use_case(Settings) as ctx:
        return paginate(
            ctx.session,
            sa.select(PromotionPeriod).where(PromotionPeriod.cancelled.is_(False)),
            [PromotionPeriod.starts_at, PromotionPeriod.id],
            args["limit"],
            args.get("cursor"),
            descending=False,
        )


@blp.route("/promotion-periods", methods=["PUT"])
@requires("admin")
@blp.arguments(PeriodListIn)
@blp.response(200, PeriodPage)
def put_periods(body):
    """Replace the declared periods. Shipments keep the deadline they were given when created.
    A period's ends_at must be after its starts_at (422)."""
    periods = [domain.PromotionPeriod(p["name"], p["starts_at"], p["ends_at"]) for p in body["items"]]
    with use_case(Settings) as ctx:
        return {"items": operations.replace_periods(ctx, periods), "next_cursor": None}
