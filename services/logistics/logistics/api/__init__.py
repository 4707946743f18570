"""logistics' HTTP API: one blueprint per resource, each in its own module, with what every view
reads (settings, the time, the shop query) in context.py.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "logistics"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import (
    bulk,
    carrier_figures,
    carriers,
    dispatch,
    exceptions,
    periods,
    shipments,
    shipping,
    sla,
    tracking,
    waybill,
)

blp = Blueprint(
    "logistics",
    __name__,
    url_prefix="/api/v1",
    description="Shipping templates and quotes, carriers, shipments and tracking",
)
for resource in (
    shipping,
    bulk,
    carrier_figures,
    carriers,
    periods,
    shipments,
    sla,
    waybill,
    dispatch,
    exceptions,
    tracking,
):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
