"""A buyer's membership of a shop: paid orders and the points they hold. The buyer reads their
own; the shop's staff and platform roles read any of theirs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint, UtcTime
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings

blp = Blueprint("members", __name__)


class MemberArgs(Schema):
    shop_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class MemberOut(Schema):
    shop_id = fields.Str()
    buyer_id = fields.Str()
    first_paid_at = UtcTime(allow_none=True)
    last_paid_at = UtcTime(allow_none=True)
    paid_orders = fields.Int()
    total_paid_fen = fields.Int()
    completed_orders = fields.Int()
    refunds = fields.Int()
    refunded_fen = fields.Int()
    points = fields.Int(metadata={"description": "100 points = 1 yuan at checkout"})


@blp.route("/members/<buyer_id>", methods=["GET"])
@requires("buyer", "ops", "cs", "finance", "admin", "service")
@blp.arguments(MemberArgs, location="query")
@blp.response(200, MemberOut)
def get_member(args, buyer_id):
    """A buyer's membership of `shop_id` (zeros for a buyer who never paid there)."""
    with use_case(Settings) as ctx:
        return MemberOut().dump(operations.member(ctx, args["shop_id"], buyer_id))
