"""The registry of every event type on the bus: one marshmallow schema per routing key.

Every event any service publishes is declared here, one module per producer
(`payloads/orders.py`, ...), so that a reader sees the whole vocabulary of the platform in one
package and a producer cannot publish a payload that breaks the contract (`events.make_event`
validates). Consumers read payloads as dicts and may rely on the required fields declared here.

Routing key = `<producer>.<Type>` (CONTRACTS.md, "Events").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from marshmallow import INCLUDE, Schema, fields, validate


class Payload(Schema):
    # Producers may add fields without a registry change; consumers ignore what they do not know.
    class Meta:
        unknown = INCLUDE


REGISTRY: dict[str, type[Schema]] = {}
_S = TypeVar("_S", bound=type[Schema])


def event(routing_key: str) -> Callable[[_S], _S]:
    producer, _, name = routing_key.partition(".")
    if not producer or not name:
        raise ValueError(f"routing key must be <producer>.<Type>: {routing_key!r}")

    def register(schema_cls: _S) -> _S:
        REGISTRY[routing_key] = schema_cls
        return schema_cls

    return register


# Reusable pieces ------------------------------------------------------------------------------
class Line(Payload):
    sku_code = fields.Str(required=True)
    quantity = fields.Int(required=True, validate=validate.Range(min=1))


class PricedLine(Line):
    unit_price_fen = fields.Int()
    category_id = fields.Str(allow_none=True)
    list_price_fen = fields.Int()
    # The line's share of the order-level discounts and what it paid (unit x quantity - discount):
    # refunds of the line read paid_fen (orders placed before marketing priced them lack both).
    discount_fen = fields.Int(validate=validate.Range(min=0))
    paid_fen = fields.Int(validate=validate.Range(min=0))
    # Custom-made or fresh goods (catalog's SKU at placing): no 7-day no-reason return.
    no_7day_return = fields.Bool(load_default=False)
    # OrderReadyToShip only, for logistics' pick list: the title of the line's snapshot (catalog's
    # at placing). `spec` ({name: value} or text) and `handling` (["fragile", "liquid"]) are read by
    # logistics when present; orders' lines keep neither today, so orders sends neither.
    title = fields.Str()
    spec = fields.Raw(allow_none=True)
    handling = fields.List(fields.Str(validate=validate.OneOf(["fragile", "liquid"])), allow_none=True)


class Discount(Payload):
    """One (line, source) deduction of marketing's quote, with who funds it."""

    line = fields.Int(required=True, validate=validate.Range(min=0))
    sku_code = fields.Str(required=True)
    source = fields.Str(required=True)
    ref = fields.Str(allow_none=True)
    amount_fen = fields.Int(required=True, validate=validate.Range(min=1))
    funded_by = fields.Str(required=True, validate=validate.OneOf(["shop", "platform"]))


class SkuPrice(Payload):
    sku_code = fields.Str(required=True)
    list_price_fen = fields.Int(required=True)
    promo_price_fen = fields.Int(allow_none=True)
    member_price_fen = fields.Int(allow_none=True)
    low_stock_threshold = fields.Int(load_default=10)
    weight_g = fields.Int(allow_none=True)


class OrderRef(Payload):
    order_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)


# The producers' modules register their events on import.
from . import aftersales, analytics, billing, catalog, inventory, logistics, marketing, orders  # noqa: E402, F401
