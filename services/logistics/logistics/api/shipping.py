"""A shop's shipping settings, under /shipping: its template (the fee rules) and the quotes computed
from it, and the sender printed on its waybills."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_read, shop_for_write
from ecom_common.clock import aware, iso
from ecom_common.http import Blueprint
from ecom_common.schemas import MAX_INT, BodySchema, UtcTime
from ecom_common.usecase import use_case

from .. import domain, operations
from ..models import ShippingTemplate
from ..settings import Settings
from .context import ShopArgs, conflict_on_unique

blp = Blueprint("shipping", __name__)


# Shipping templates ----------------------------------------------------------------------------
class WeightRuleIn(BodySchema):
    first_weight_g = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_INT))
    first_fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))
    additional_weight_g = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_INT))
    additional_fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))


class RegionRuleIn(WeightRuleIn):
    provinces = fields.List(fields.Str(), required=True, validate=validate.Length(min=1))


class FreeShippingIn(BodySchema):
    provinces = fields.List(
        fields.Str(), load_default=list, metadata={"description": "empty: everywhere (except never_free)"}
    )
    min_goods_fen = fields.Int(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_INT),
        metadata={"description": "free when the goods total reaches this; 0 = always"},
    )


class SurchargeIn(BodySchema):
    provinces = fields.List(fields.Str(), required=True, validate=validate.Length(min=1))
    fen = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))
    label = fields.Str(load_default="surcharge", validate=validate.Length(min=1, max=50))


class TemplateIn(BodySchema):
    name = fields.Str(load_default="shop template", validate=validate.Length(min=1, max=100))
    default_rule = fields.Nested(WeightRuleIn, required=True)
    region_rules = fields.List(fields.Nested(RegionRuleIn), load_default=list)
    free_shipping = fields.List(fields.Nested(FreeShippingIn), load_default=list)
    surcharges = fields.List(fields.Nested(SurchargeIn), load_default=list)
    never_free = fields.List(fields.Str(), load_default=list)
    not_served = fields.List(fields.Str(), load_default=list)


class TemplateOut(Schema):
    shop_id = fields.Str()
    source = fields.Str(metadata={"description": "shop (its own) or default (the platform's seed)"})
    template = fields.Nested(TemplateIn)
    updated_at = UtcTime(allow_none=True)
    updated_by = fields.Str(allow_none=True)


def template_out(shop_id: str, found: tuple[domain.Template, str, ShippingTemplate | None]) -> dict:
    template, source, row = found
    return {
        "shop_id": shop_id,
        "source": source,
        "template": template.to_dict(),
        "updated_at": iso(aware(row.updated_at)) if row else None,
        "updated_by": row.updated_by if row else None,
    }


@blp.route("/shipping/templates", methods=["GET"])
@requires("ops", "admin", "warehouse", "cs", "service")
@blp.arguments(ShopArgs, location="query")
@blp.response(200, TemplateOut)
def get_template(args):
    """The shop's shipping template (the platform default if it has none of its own)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return template_out(shop_id, operations.shop_template(ctx, shop_id))


@blp.route("/shipping/templates", methods=["PUT"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.arguments(TemplateIn)
@blp.response(200, TemplateOut)
def put_template(args, body):
    """Replace the shop's shipping template. Province names are normalised (江苏省 == 江苏); an
    unknown province is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    with conflict_on_unique(), use_case(Settings) as ctx:
        return template_out(shop_id, operations.replace_template(ctx, shop_id, body))


@blp.route("/shipping/templates", methods=["DELETE"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.response(204)
def delete_template(args):
    """Drop the shop's own template: the platform default applies again."""
    shop_id = shop_for_write(args.get("shop_id"))
    with use_case(Settings) as ctx:
        operations.drop_template(ctx, shop_id)


class QuoteIn(BodySchema):
    shop_id = fields.Str(required=True, validate=validate.Length(min=1))
    province = fields.Str(required=True, validate=validate.Length(min=1))
    weight_g = fields.Int(required=True, validate=validate.Range(min=0, max=MAX_INT))
    goods_fen = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))


class BreakdownOut(Schema):
    item = fields.Str()
    fen = fields.Int()


class QuoteOut(Schema):
    shop_id = fields.Str()
    province = fields.Str()
    fee_fen = fields.Int()
    served = fields.Bool()
    free = fields.Bool()
    breakdown = fields.List(fields.Nested(BreakdownOut))
    template = fields.Str(metadata={"description": "shop or default"})


@blp.route("/shipping/quote", methods=["POST"])
@requires()
@blp.arguments(QuoteIn)
@blp.response(200, QuoteOut)
def shipping_quote(body):
    """The shipping fee of a parcel for a shop and province, with its breakdown (sums to fee_fen).
    A region the shop does not serve answers 422 naming the province."""
    parcel = domain.Parcel(body["province"], body["weight_g"], body.get("goods_fen"))
    with use_case(Settings) as ctx:
        q, source = operations.quote(ctx, body["shop_id"], parcel)
    return {"shop_id": body["shop_id"], "template": source, **q.to_dict()}


# Waybill sender --------------------------------------------------------------------------------
class SenderIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=50))
    phone = fields.Str(required=True, validate=validate.Length(min=5, max=30))
    province = fields.Str(required=True)
    city = fields.Str(load_default=None, allow_none=True)
    district = fields.Str(load_default=None, allow_none=True)
    detail = fields.Str(required=True, validate=validate.Length(min=1, max=200))


class SenderOut(Schema):
    shop_id = fields.Str()
    source = fields.Str()
    sender = fields.Nested(SenderIn)


@blp.route("/shipping/sender", methods=["GET"])
@requires("ops", "admin", "warehouse")
@blp.arguments(ShopArgs, location="query")
@blp.response(200, SenderOut)
def get_sender(args):
    """The sender printed on the shop's waybills (the documented default if it set none)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        sender, source = operations.sender_for(ctx, shop_id)
    return {"shop_id": shop_id, "source": source, "sender": sender}


@blp.route("/shipping/sender", methods=["PUT"])
@requires("ops", "admin", "warehouse")
@blp.arguments(ShopArgs, location="query")
@blp.arguments(SenderIn)
@blp.response(200, SenderOut)
def put_sender(args, body):
    """Replace the shop's sender address; an unknown province is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    with conflict_on_unique(), use_case(Settings) as ctx:
        sender = operations.replace_sender(ctx, shop_id, body)
    return {"shop_id": shop_id, "source": "shop", "sender": sender}
