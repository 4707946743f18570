"""catalog's HTTP API: one blueprint per resource, each in its own module, with the schemas they
share in schemas.py and what every view renders with (a product or SKU as its caller may see it,
the merchant's shop) in context.py. Each view parses, calls one use case of operations.py inside
`use_case(Settings)` and renders.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "catalog"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import bulk, categories, compliance, products, review, skus, transitions, words

blp = Blueprint(
    "catalog",
    __name__,
    url_prefix="/api/v1",
    description="Categories, products and SKUs, the compliance scan and the review workflow",
)
for resource in (products, transitions, bulk, review, skus, categories, words, compliance):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
