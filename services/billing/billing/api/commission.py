"""Commission rates per category (basis points): read by finance and admin, set by admin."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import Blueprint, current_config, current_db
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime
from ecom_common.settings import settings_of
from ecom_common.usecase import use_case

from .. import domain, operations
from ..models import CommissionRate
from ..settings import Settings

blp = Blueprint("commission", __name__)


class CommissionRateIn(BodySchema):
    category_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    rate_bps = fields.Int(required=True, validate=validate.Range(min=0, max=domain.BPS))
    updated_at = UtcTime(dump_only=True)
    updated_by = fields.Str(dump_only=True)


class CommissionRatesIn(BodySchema):
    rates = fields.List(fields.Nested(CommissionRateIn), required=True, validate=validate.Length(min=1, max=500))


class CommissionRatesOut(Schema):
    default_bps = fields.Int()
    items = fields.List(fields.Nested(CommissionRateIn))
    next_cursor = fields.Str(allow_none=True)


def _default_bps() -> int:
    return settings_of(current_config(), Settings).default_commission_bps


@blp.route("/commission-rates", methods=["GET"])
@requires("admin", "finance")
@blp.arguments(PageArgs, location="query")
@blp.response(200, CommissionRatesOut)
def get_commission_rates(args):
    """Commission per category in basis points (500 = 5%), by category; categories not listed pay the default."""
    with current_db().Session() as session:
        page = paginate(
            session,
            sa.select(CommissionRate),
            [CommissionRate.category_id],
            args["limit"],
            args.get("cursor"),
            descending=False,
        )
        page["default_bps"] = _default_bps()
        return page


@blp.route("/commission-rates", methods=["PUT"])
@requires("admin")
@blp.arguments(CommissionRatesIn)
@blp.response(200, CommissionRatesOut)
def put_commission_rates(args):
    """Set rates for the categories given (others unchanged). Applies to settlements made from now."""
    try:
        with use_case(Settings) as ctx:
            operations.set_commission_rates(ctx, args["rates"])
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict("the rates were changed at the same time; retry", {"rates": ["concurrent change"]}) from exc
    with current_db().Session() as session:
        # Every rate (the answer to a change: what is stored now).
        rows = session.execute(sa.select(CommissionRate).order_by(CommissionRate.category_id)).scalars().all()
        return {"default_bps": _default_bps(), "items": rows, "next_cursor": None}
