"""Promotion periods (双11 and the like): orders paid within one have 48 h, not 24 h, to be
dispatched."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import requires
from ecom_common.http import Blueprint, BodySchema, PageArgs, UtcTime, current_db, paginate

from .. import operations as ops
from ..models import PromotionPeriod

blp = Blueprint("periods", __name__)


class PeriodSchema(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    starts_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    ends_at = fields.AwareDateTime(required=True, default_timezone=UTC)

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
    return {
        "items": [
            {"name": p.name, "starts_at": p.starts_at, "ends_at": p.ends_at} for p in ops.promotion_periods(session)
        ],
        "next_cursor": None,
    }


@blp.route("/promotion-periods", methods=["GET"])
@requires()
@blp.arguments(PageArgs, location="query")
@blp.response(200, PeriodPage)
def list_periods(args):
    """Declared big promotions, earliest first: orders paid within one have 48 h (not 24 h) to be dispatched."""
    with current_db().Session() as session:
        return paginate(
            session,
            sa.select(PromotionPeriod),
            [PromotionPeriod.starts_at, PromotionPeriod.id],
            args["limit"],
            args.get("cursor"),
            descending=False,
            to_item=lambda p: {"name": p.name, "starts_at": p.starts_at, "ends_at": p.ends_at},
        )


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
