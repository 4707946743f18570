"""What the resources of inventory's API share: field rules and the stock row and ledger row answers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.schemas import UtcTime

from .. import domain

WAREHOUSE_CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="1-32 letters, digits, '-' or '_'.")
SHOP_ID = validate.Length(min=1, max=64)

# shop_for_read / shop_for_write: a platform role without shop_id is 422 (documented, as the spec
# cannot make a parameter required for some roles only)
PLATFORM_NAMES_SHOP = "required for platform roles (else 422); merchant staff use their own"


class StockItemOut(Schema):
    sku_code = fields.Str()
    warehouse_code = fields.Str()
    shop_id = fields.Str(allow_none=True)
    on_hand = fields.Int()
    reserved = fields.Int()
    available = fields.Int()
    low_stock_threshold = fields.Int()
    low = fields.Method("is_low")
    sellable = fields.Bool()
    updated_at = UtcTime()

    def is_low(self, item) -> bool:
        return domain.is_low(item.on_hand - item.reserved, item.low_stock_threshold)


class MovementOut(Schema):
    movement_id = fields.Int(attribute="id")
    shop_id = fields.Str()
    sku_code = fields.Str()
    warehouse_code = fields.Str()
    kind = fields.Str()
    on_hand_delta = fields.Int()
    reserved_delta = fields.Int()
    cause = fields.Str()
    by = fields.Str(allow_none=True, attribute="actor")
    reason = fields.Str(allow_none=True)
    reference = fields.Str(allow_none=True)
    created_at = UtcTime()
