"""analytics' HTTP API: one blueprint per resource, each in its own module.

Who may do what (CONTRACTS.md roles): the storefront (a `service` token) posts visits; `ops` and
`finance` read their shop's KPIs, another shop's answer 404; `admin` (and finance without a shop)
read any shop's, or the platform totals when no shop is named.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "analytics"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import campaigns, experiments, kpis, visits

blp = Blueprint(
    "analytics",
    __name__,
    url_prefix="/api/v1",
    description="Facts and rollups projected from events, visits and the shop's KPIs",
)
for resource in (visits, kpis, campaigns, experiments):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
