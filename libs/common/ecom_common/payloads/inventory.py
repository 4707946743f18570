"""inventory's events."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Line, OrderRef, Payload, event


@event("inventory.StockReserved")
class StockReserved(OrderRef):
    lines = fields.List(fields.Nested(Line), required=True)


@event("inventory.StockShortage")
class StockShortage(OrderRef):
    # Which lines are short and by how many; policy says whether the order waits or is cancelled.
    short = fields.List(fields.Dict(), required=True)
    policy = fields.Str(validate=validate.OneOf(["wait", "cancel"]), required=True)


@event("inventory.StockReleased")
class StockReleased(OrderRef):
    lines = fields.List(fields.Nested(Line))


@event("inventory.StockDeducted")
class StockDeducted(OrderRef):
    lines = fields.List(fields.Nested(Line))


@event("inventory.LowStock")
class LowStock(Payload):
    sku_code = fields.Str(required=True)
    shop_id = fields.Str(allow_none=True)
    available = fields.Int(required=True)
    threshold = fields.Int(required=True)


@event("inventory.StockItemCreated")
class StockItemCreated(Payload):
    sku_code = fields.Str(required=True)
    shop_id = fields.Str(allow_none=True)


@event("inventory.SafetyStockLow")
class SafetyStockLow(Payload):
    """A SKU's available stock (all warehouses) fell to its safety stock: average daily sales over
    `window_days` x `cover_days` (3). Once per crossing (raised again after it rose above)."""

    shop_id = fields.Str(required=True)
    sku_code = fields.Str(required=True)
    available = fields.Int(required=True)
    average_daily_sales = fields.Float(required=True)
    safety_stock = fields.Float(required=True)
    days_of_cover = fields.Float(allow_none=True)
    window_days = fields.Int(required=True)
    cover_days = fields.Int(required=True)
