"""What several aftersales views need: who counts as staff, and the buyer's order read from orders."""

from __future__ import annotations

from ecom_common.auth import current_principal, not_found_unless

from .. import domain, gateways

# The roles that read cases and complaints (each confined to their shop; a buyer to their own).
STAFF = ("cs", "ops", "warehouse", "finance", "admin", "service")


def buyers_order(order_id: str) -> domain.OrderView:
    """The order from orders (service token), or 404 when it is unknown or someone else's. Read
    before the unit of work opens: orders unreachable -> 503 with nothing written and no database
    connection held while waiting."""
    order = gateways.orders().get_order(order_id)
    not_found_unless(order is not None and current_principal().owns(order.buyer_id), "order")
    return order
