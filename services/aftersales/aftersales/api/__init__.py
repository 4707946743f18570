"""aftersales' HTTP API: one blueprint per resource, each in its own module, with the schemas and
helpers they share in schemas.py and context.py.

Who may do what (CONTRACTS.md roles): a buyer opens cases and complaints on their own orders, ships
returns and gives feedback; `cs` of the shop approves, rejects, retries refunds and handles
complaints; `warehouse` of the shop inspects returns; `admin` may act for any shop. A buyer sees only
their own cases, shop staff only their shop's; anyone else's answers 404.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "aftersales"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import cases, complaints, dashboard, disputes, feedback, messages, reviews, service

blp = Blueprint(
    "aftersales",
    __name__,
    url_prefix="/api/v1",
    description="Return, exchange and refund-only cases, complaints, SLAs and feedback",
)
for resource in (cases, feedback, complaints, dashboard, messages, reviews, service, disputes):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
