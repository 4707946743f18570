"""The price of an order: `POST /quotes`, asked by orders (role service) when an order is placed,
or by a buyer's checkout to preview. With `order_id`, the quote locks the coupon claims and points
it uses for that order (idempotent by order id: asked again, it answers the same quote)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import current_principal, requires
from ecom_common.errors import Forbidden, UnprocessableEntity
from ecom_common.http import Blueprint
from ecom_common.schemas import MAX_INT, BodySchema
from ecom_common.usecase import use_case

from .. import domain, operations
from ..settings import Settings
from .schemas import Fen

blp = Blueprint("quotes", __name__)


class QuoteLineIn(BodySchema):
    sku_code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Int(required=True, validate=validate.Range(min=1, max=10_000))
    list_price_fen = Fen(required=True)
    promo_price_fen = Fen(allow_none=True, load_default=None)
    member_price_fen = Fen(allow_none=True, load_default=None)
    category_id = fields.Str(allow_none=True, load_default=None, validate=validate.Length(max=64))


class QuoteIn(BodySchema):
    order_id = fields.Str(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "lock the coupons and points for this order (idempotent by it)"},
    )
    shop_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    buyer_id = fields.Str(
        validate=validate.Length(min=1, max=120), metadata={"description": "required for the service role"}
    )
    lines = fields.List(fields.Nested(QuoteLineIn), required=True, validate=validate.Length(min=1, max=100))
    coupon_claim_ids = fields.List(
        fields.Str(validate=validate.Length(min=1, max=40)),
        load_default=list,
        validate=validate.Length(max=2),
        metadata={"description": "at most one shop coupon and one platform coupon"},
    )
    points = fields.Int(load_default=0, validate=validate.Range(min=0, max=MAX_INT))


class QuoteLineOut(Schema):
    line = fields.Int(metadata={"description": "the line's index in the request"})
    sku_code = fields.Str()
    quantity = fields.Int()
    list_price_fen = fields.Int()
    unit_price_fen = fields.Int(metadata={"description": "single-item price: lowest of list, promo, timed, member"})
    discount_fen = fields.Int(metadata={"description": "the line's share of the order-level discounts"})
    payable_fen = fields.Int(metadata={"description": "what the line pays: refunds of this line read it"})


class DiscountRowOut(Schema):
    line = fields.Int()
    sku_code = fields.Str()
    source = fields.Str(metadata={"description": " | ".join(domain.SOURCES)})
    ref = fields.Str(allow_none=True, metadata={"description": "the promotion or coupon claim id"})
    amount_fen = fields.Int()
    funded_by = fields.Str(metadata={"description": "shop | platform"})


class QuoteOut(Schema):
    order_id = fields.Str(allow_none=True)
    shop_id = fields.Str()
    buyer_id = fields.Str()
    lines = fields.List(fields.Nested(QuoteLineOut))
    discounts = fields.List(fields.Nested(DiscountRowOut), metadata={"description": "one row per (line, source)"})
    list_total_fen = fields.Int()
    discount_fen = fields.Int()
    payable_fen = fields.Int()
    points_used = fields.Int()
    locked = fields.Bool(metadata={"description": "whether coupons and points are locked for order_id"})


@blp.route("/quotes", methods=["POST"])
@requires("service", "buyer")
@blp.arguments(QuoteIn)
@blp.response(200, QuoteOut)
def create_quote(body):
    """Price an order: single-item price (lowest of promo, active time-bound discount, member
    price for members), then the shop's 满减, the first-order discount, a shop coupon, a platform
    coupon, points (100 = 1 yuan, at most MARKETING_POINTS_MAX_PERCENT of what is payable); each
    capped at what is still payable, order-level discounts apportioned to lines by largest
    remainder. A buyer quotes for themselves. 422 naming the reason in `errors`:
    `coupon_claim_ids`: not_yours, other_shop, not_yet_valid, expired, below_threshold, locked,
    used, unknown, one_per_kind; `points`: not_enough_points. Nothing is locked then."""
    principal = current_principal()
    if "service" not in principal.roles:
        if body.get("buyer_id", principal.sub) != principal.sub:
            raise Forbidden("a buyer quotes for themselves")
        body["buyer_id"] = principal.sub
    elif not body.get("buyer_id"):
        raise UnprocessableEntity("buyer_id is required", {"buyer_id": ["Missing data for required field."]})
    with use_case(Settings) as ctx:
        return QuoteOut().dump(operations.quote(ctx, body))
