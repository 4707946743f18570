"""SKUs, as orders and the other services read them: one SKU of a shop, or many at once."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import current_scope, not_found_unless, requires
from ecom_common.errors import UnprocessableEntity
from ecom_common.http import Blueprint
from ecom_common.schemas import BodySchema
from ecom_common.usecase import Ctx, use_case

from .. import store
from ..models import Product, Sku
from ..settings import Settings
from .context import sku_view
from .schemas import BULK_MAX

blp = Blueprint("skus", __name__)


class SkuOut(Schema):
    sku_code = fields.Str()
    shop_id = fields.Str()
    product_id = fields.Str()
    title = fields.Str()
    category_id = fields.Str()
    product_status = fields.Str()
    sellable = fields.Bool(metadata={"description": "true only when the product is listed"})
    list_price_fen = fields.Int()
    promo_price_fen = fields.Int(allow_none=True)
    member_price_fen = fields.Int(allow_none=True)
    price_fen = fields.Int(metadata={"description": "effective selling price: promo if set, else list"})
    weight_g = fields.Int(allow_none=True)
    low_stock_threshold = fields.Int()
    spec = fields.Dict()
    barcode = fields.Str(allow_none=True)
    no_7day_return = fields.Bool(metadata={"description": "custom-made or fresh: no 7-day no-reason return"})
    presale_ship_days = fields.Int(allow_none=True, metadata={"description": "presale: days to ship (1..60)"})


class SkuArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff default to their own"})


class SkuBatchIn(BodySchema):
    shop_id = fields.Str()
    sku_codes = fields.List(
        fields.Str(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=BULK_MAX),
    )


class SkuBatchOut(Schema):
    items = fields.List(fields.Nested(SkuOut))
    missing = fields.List(fields.Str())


def _sku_shop(requested: str | None) -> str:
    shop = requested or store.own_shop(current_scope())
    if not shop:
        raise UnprocessableEntity("shop_id is required", {"shop_id": ["Missing data for required field."]})
    return shop


def _visible_skus(ctx: Ctx[Settings], shop_id: str, codes: list[str]) -> dict[str, dict]:
    """The SKU read model of each of `codes` in `shop_id` that the caller may see (store.can_read)."""
    scope = store.scope_of(ctx)
    rows = ctx.session.execute(
        sa.select(Sku, Product)
        .join(Product, Sku.product_id == Product.id)
        .where(Sku.shop_id == shop_id, Sku.sku_code.in_(codes))
    ).all()
    return {sku.sku_code: sku_view(product, sku) for sku, product in rows if store.can_read(scope, product)}


@blp.route("/skus/<sku_code>", methods=["GET"])
@requires()
@blp.arguments(SkuArgs, location="query")
@blp.response(200, SkuOut)
def get_sku(args, sku_code):
    """One SKU of a shop, as orders reads it.

    sellable is true only when the product is listed; price_fen is what a buyer pays (promo if
    set, else list). Merchant staff of another shop and buyers see listed products' SKUs only."""
    shop_id = _sku_shop(args.get("shop_id"))
    with use_case(Settings) as ctx:
        found = _visible_skus(ctx, shop_id, [sku_code])
    not_found_unless(sku_code in found, "SKU")
    return found[sku_code]


@blp.route("/skus/batch", methods=["POST"])
@requires()
@blp.arguments(SkuBatchIn)
@blp.response(200, SkuBatchOut)
def sku_batch(body):
    """Many SKUs of one shop at once.

    {items, missing}; missing also lists SKUs you may not see."""
    shop_id = _sku_shop(body.get("shop_id"))
    codes = list(dict.fromkeys(body["sku_codes"]))
    with use_case(Settings) as ctx:
        found = _visible_skus(ctx, shop_id, codes)
    return {"items": [found[c] for c in codes if c in found], "missing": [c for c in codes if c not in found]}
