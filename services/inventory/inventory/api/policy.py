"""A shop's shortage policy: what happens to a paid order that cannot be reserved in full."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_read, shop_for_write
from ecom_common.http import Blueprint
from ecom_common.schemas import BodySchema, UtcTime
from ecom_common.usecase import use_case

from .. import operations, queries
from ..domain import ShortagePolicy
from ..settings import Settings
from .schemas import PLATFORM_NAMES_SHOP, SHOP_ID

blp = Blueprint("stock_policy", __name__)


class PolicyArgs(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})


class PolicyIn(BodySchema):
    shortage_policy = fields.Str(required=True, validate=validate.OneOf(ShortagePolicy.ALL))


class PolicyOut(Schema):
    shop_id = fields.Str()
    shortage_policy = fields.Str()
    is_default = fields.Bool()
    updated_by = fields.Str(allow_none=True)
    updated_at = UtcTime(allow_none=True)


@blp.route("/stock-policy", methods=["GET"])
@requires("ops", "warehouse", "admin", "service")
@blp.arguments(PolicyArgs, location="query")
@blp.response(200, PolicyOut)
def get_policy(args):
    """A shop's shortage policy: wait (presale, reserved when stock arrives) or cancel (refund)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return queries.policy_of(ctx, shop_id)


@blp.route("/stock-policy", methods=["PUT"])
@requires("ops", "warehouse", "admin")
@blp.arguments(PolicyArgs, location="query")
@blp.arguments(PolicyIn)
@blp.response(200, PolicyOut)
def put_policy(query, args):
    """Set a shop's shortage policy; applies to orders paid from now on (waiting orders keep waiting)."""
    shop_id = shop_for_write(query.get("shop_id"))
    with use_case(Settings) as ctx:
        return operations.set_policy(ctx, shop_id, args["shortage_policy"])
