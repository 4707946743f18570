"""catalog's events."""

from __future__ import annotations

from marshmallow import fields

from . import Payload, SkuPrice, event


class ProductRef(Payload):
    product_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)


@event("catalog.ProductSubmitted")
class ProductSubmitted(ProductRef):
    title = fields.Str()


@event("catalog.ProductApproved")
class ProductApproved(ProductRef):
    reviewer = fields.Str()


@event("catalog.ProductRejected")
class ProductRejected(ProductRef):
    reason = fields.Str()


@event("catalog.ProductListed")
class ProductListed(ProductRef):
    title = fields.Str()
    category_id = fields.Str(allow_none=True)
    skus = fields.List(fields.Nested(SkuPrice), required=True)


@event("catalog.ProductDelisted")
class ProductDelisted(ProductRef):
    reason = fields.Str()
    sku_codes = fields.List(fields.Str())


@event("catalog.ProductDeleted")
class ProductDeleted(ProductRef):
    sku_codes = fields.List(fields.Str())


@event("catalog.ProductRestored")
class ProductRestored(ProductRef):
    pass


@event("catalog.PriceChanged")
class PriceChanged(ProductRef):
    skus = fields.List(fields.Nested(SkuPrice), required=True)
