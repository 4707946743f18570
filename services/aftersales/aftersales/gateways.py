"""The one call aftersales makes to another service: `GET orders /api/v1/orders/{order_id}`.

Behind this small class so that unit tests inject a fake (`app.extensions[GATEWAY_KEY]`), and so
that the rest of the service sees an `OrderView`, not orders' JSON.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import current_app

from ecom_common.errors import BadGateway
from ecom_common.http import current_config
from ecom_common.peers import PeerClient

from .domain import OrderView

GATEWAY_KEY = "aftersales.orders_gateway"


class OrdersGateway:
    def __init__(self, config):
        self.client = PeerClient(config, "orders")

    def get_order(self, order_id: str) -> OrderView | None:
        """The order, or None when orders does not know it. Orders unreachable -> 503 (PeerClient)."""
        resp = self.client.get(f"/api/v1/orders/{quote(order_id, safe='')}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise BadGateway(f"orders answered {resp.status_code} for order {order_id}")
        try:
            return OrderView.from_json(resp.json())
        except (KeyError, TypeError, ValueError) as exc:
            raise BadGateway(f"orders answered an order aftersales cannot read: {exc!r}") from exc


def orders_gateway():
    gw = current_app.extensions.get(GATEWAY_KEY)
    if gw is None:
        gw = current_app.extensions[GATEWAY_KEY] = OrdersGateway(current_config())
    return gw
