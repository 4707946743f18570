"""A buyer's membership of a shop: paid orders and the points they hold (the buyer reads their
own; the shop's staff and platform roles any of theirs); the re-purchase segment's coupons."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_write
from ecom_common.http import Blueprint
from ecom_common.schemas import BodySchema, UtcTime
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
    tier = fields.Str(metadata={"description": "new | active | high_value"})
    growth = fields.Int(metadata={"description": "growth value: whole yuan paid net of refunds"})
    level = fields.Int(metadata={"description": "by growth value (MARKETING_LEVEL_GROWTH)"})


@blp.route("/members/<buyer_id>", methods=["GET"])
@requires("buyer", "ops", "cs", "finance", "admin", "service")
@blp.arguments(MemberArgs, location="query")
@blp.response(200, MemberOut)
def get_member(args, buyer_id):
    """A buyer's membership of `shop_id` (zeros for a buyer who never paid there)."""
    with use_case(Settings) as ctx:
        return MemberOut().dump(operations.member(ctx, args["shop_id"], buyer_id))


class RepurchaseIn(BodySchema):
    shop_id = fields.Str(validate=validate.Length(min=1, max=64))


class RepurchaseOut(Schema):
    issued = fields.Int(metadata={"description": "coupons issued by this call"})
    claim_ids = fields.List(fields.Str())


@blp.route("/segments/repurchase/coupons", methods=["POST"])
@requires("ops", "admin")
@blp.arguments(RepurchaseIn)
@blp.response(200, RepurchaseOut)
def issue_repurchase_coupons(body):
    """Issue the re-purchase coupon (MARKETING_REPURCHASE_COUPON_FEN, no threshold) to your shop's
    buyers with one paid order more than MARKETING_REPURCHASE_AFTER_DAYS ago, no repeat and no
    refund, up to 100 a call; each buyer once (the job `issue-repurchase-coupons` does the same)."""
    shop_id = shop_for_write(body.get("shop_id"))
    with use_case(Settings) as ctx:
        claims = [
            operations.issue_repurchase(ctx, shop, buyer) for shop, buyer in operations.repurchase_segment(ctx, shop_id)
        ]
        ids = [c.claim_id for c in claims if c is not None]
        return {"issued": len(ids), "claim_ids": ids}
