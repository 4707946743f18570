"""billing's HTTP API: one blueprint per resource, each in its own module, with what several views
share (who reads money, which shop a money read covers) in context.py.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "billing"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import commission, invoices, ledger, payments, reconciliation, refunds, settlements, webhook

blp = Blueprint(
    "billing", __name__, url_prefix="/api/v1", description="Payments, refunds, the merchant ledger and T+7 settlement"
)
for resource in (payments, webhook, refunds, ledger, settlements, reconciliation, commission, invoices):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
