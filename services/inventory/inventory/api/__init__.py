"""inventory's HTTP API: one blueprint per resource, each in its own module, with the schemas they
share in schemas.py.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "inventory"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import policy, reports, reservations, stock, transfers, warehouses

blp = Blueprint("inventory", __name__, url_prefix="/api/v1", description="Stock per SKU and warehouse")
for resource in (stock, policy, reservations, warehouses, transfers, reports):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
