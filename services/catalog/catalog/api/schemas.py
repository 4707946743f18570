"""The schemas more than one catalog resource speaks: a product in (created, edited, scanned) and out
(every product answer: products, transitions, the review queue), its SKUs, images, findings."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.schemas import MAX_INT, BodySchema, UtcTime

from .. import domain

# The most products (bulk) or SKUs (batch) one request names.
BULK_MAX = 200


class ImageSchema(BodySchema):
    url = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    width = fields.Int(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))
    height = fields.Int(allow_none=True, validate=validate.Range(min=1, max=MAX_INT))


class VideoSchema(BodySchema):
    url = fields.Str(required=True, validate=validate.Length(min=1, max=500))
    duration_s = fields.Float(allow_none=True, validate=validate.Range(min=0))


# Python's `\s`, spelled out: the spec carries this pattern, and `\s` means other characters in the
# regex dialects of OpenAPI clients (ECMA) than in Python's, so that each refused what the other took.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
SKU_CODE = rf"^[^{WHITESPACE}/?#%]+$"


class SkuIn(BodySchema):
    sku_code = fields.Str(
        required=True,
        validate=[validate.Length(min=1, max=64), validate.Regexp(SKU_CODE, error="No spaces, /, ?, # or %.")],
    )
    spec = fields.Dict(
        keys=fields.Str(),
        values=fields.Raw(),
        load_default=dict,
        metadata={"description": 'spec values, e.g. {"颜色": "红色", "尺码": "M"}'},
    )
    barcode = fields.Str(allow_none=True, validate=validate.Length(max=32))
    weight_g = fields.Int(allow_none=True, validate=validate.Range(min=0, max=MAX_INT))
    list_price_fen = fields.Int(required=True, validate=validate.Range(max=MAX_INT))
    promo_price_fen = fields.Int(allow_none=True, validate=validate.Range(max=MAX_INT))
    member_price_fen = fields.Int(allow_none=True, validate=validate.Range(max=MAX_INT))
    low_stock_threshold = fields.Int(load_default=10, validate=validate.Range(min=0, max=MAX_INT))
    no_7day_return = fields.Bool(
        load_default=False, metadata={"description": "custom-made or fresh goods: no 7-day no-reason return"}
    )
    presale_ship_days = fields.Int(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=domain.PRESALE_MAX_SHIP_DAYS),
        metadata={"description": "presale: days to ship from payment (预计N天内发货), 1..60; null: in stock"},
    )


class ProductIn(BodySchema):
    shop_id = fields.Str(metadata={"description": "optional; merchant staff act for the shop in their token"})
    category_id = fields.Str(required=True)
    title = fields.Str(required=True, validate=validate.Length(max=200))
    brand = fields.Str(allow_none=True, validate=validate.Length(max=100))
    description = fields.Str(allow_none=True, validate=validate.Length(max=20000))
    attributes = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)
    images = fields.List(
        fields.Nested(ImageSchema), load_default=list, metadata={"description": "main image first, then detail images"}
    )
    video = fields.Nested(VideoSchema, allow_none=True)
    skus = fields.List(fields.Nested(SkuIn), required=True)


class ProductSkuOut(Schema):
    sku_code = fields.Str()
    spec = fields.Dict()
    barcode = fields.Str(allow_none=True)
    weight_g = fields.Int(allow_none=True)
    list_price_fen = fields.Int()
    promo_price_fen = fields.Int(allow_none=True)
    member_price_fen = fields.Int(allow_none=True)
    price_fen = fields.Int(metadata={"description": "effective selling price: promo if set, else list"})
    low_stock_threshold = fields.Int()
    no_7day_return = fields.Bool()
    presale_ship_days = fields.Int(allow_none=True)
    low_stock_available = fields.Int(allow_none=True, metadata={"description": "from the last inventory.LowStock"})
    low_stock_alert_at = UtcTime(allow_none=True)


class FindingSchema(Schema):
    field = fields.Str()
    rule = fields.Str()
    text = fields.Str()
    message = fields.Str()
    severity = fields.Str(metadata={"description": "error (blocks saving) or warning (advice)"})


class ProductOut(Schema):
    """A product. Its review trail (created_by, review_required, submitted_at, review_due_at,
    review_overdue, reviewed_at, reviewed_by, reject_reason) is left out for callers other than the
    product's shop staff and platform roles (admin, reviewer, service)."""

    product_id = fields.Str()
    shop_id = fields.Str()
    category_id = fields.Str()
    category_path = fields.List(fields.Str())
    title = fields.Str()
    brand = fields.Str(allow_none=True)
    description = fields.Str(allow_none=True)
    attributes = fields.Dict()
    images = fields.List(fields.Dict())
    video = fields.Dict(allow_none=True)
    status = fields.Str(metadata={"description": ", ".join(domain.STATUSES)})
    version = fields.Int()
    delist_reason = fields.Str(allow_none=True)
    review_required = fields.Bool()
    sellable = fields.Bool()
    attribute_completeness = fields.Int(metadata={"description": "percent of the category's attributes filled"})
    submitted_at = UtcTime(allow_none=True)
    review_due_at = UtcTime(allow_none=True)
    review_overdue = fields.Bool()
    reviewed_at = UtcTime(allow_none=True)
    reviewed_by = fields.Str(allow_none=True)
    reject_reason = fields.Str(allow_none=True)
    listed_at = UtcTime(allow_none=True)
    deleted_at = UtcTime(allow_none=True)
    restorable_until = UtcTime(allow_none=True)
    created_by = fields.Str()
    created_at = UtcTime()
    updated_at = UtcTime()
    skus = fields.List(fields.Nested(ProductSkuOut))
    findings = fields.List(fields.Nested(FindingSchema), metadata={"description": "warnings of the last scan"})


class DelistIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.OneOf(domain.DELIST_REASONS))
    note = fields.Str(validate=validate.Length(max=500))
