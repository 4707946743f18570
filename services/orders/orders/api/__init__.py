"""orders' HTTP API: one blueprint per resource, each in its own module (orders.py: the orders and
their transitions; notes.py: merchant notes and the contact log; bulk.py: bulk review; sla.py: GET /sla;
audit_rules.py: a shop's audit rules), with the schemas in schemas.py and how an
order is shown, to whom, in render.py.

Who sees what (CONTRACTS.md "Auth"): a buyer their own orders; merchant staff (ops, cs, warehouse,
finance with a shop_id) their shop's; admin, service and platform finance every shop. Another
tenant's order answers 404. The full receiver address only on a single order, to the roles that ship
or serve it (ops, cs, warehouse, admin, service) and to the buyer themself; lists carry the masked one.

The resources are nested in one blueprint, `blp`, so that every path stays under /api/v1 and
/openapi.json keeps one tag, "orders"; app.py registers `BLUEPRINTS`.
"""

from __future__ import annotations

from ecom_common.http import Blueprint

from . import audit_rules, bulk, notes, orders, sla

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders, their audit and timeline")
for resource in (bulk, orders, notes, audit_rules, sla):
    blp.register_blueprint(resource.blp)

BLUEPRINTS = [blp]
