"""marketing's HTTP API: one blueprint per resource, each in its own module, with the schemas they
share in schemas.py.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "marketing"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import campaigns, coupons, members, periods, promotions, quotes

blp = Blueprint(
    "marketing",
    __name__,
    url_prefix="/api/v1",
    description="Promotions, coupons, members and points, and the price of every order",
)
for resource in (promotions, campaigns, coupons, quotes, members, periods):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
