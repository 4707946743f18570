"""The one call aftersales makes to another service: `GET orders /api/v1/orders/{order_id}`.

Behind this small class so that the rest of the service sees an `OrderView`, not orders' JSON. Views
reach the app's instance with `orders()` (ecom_common.peers.gateway); unit tests put a fake in its
place with `peers.inject_gateway(app, ORDERS, fake)`.
"""

from __future__ import annotations

from urllib.parse import quote

from ecom_common.config import Config
from ecom_common.errors import BadGateway
from ecom_common.peers import PeerClient, gateway

from .domain import OrderView

ORDERS = "orders"


class OrdersGateway:
    def __init__(self, config: Config):
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

    def latest_order_id(self, buyer_id: str) -> str | None:
        """The buyer's newest order (to reach a buyer a message names without an order), or None."""
        resp = self.client.get("/api/v1/orders", params={"buyer_id": buyer_id, "limit": 1})
        if resp.status_code != 200:
            raise BadGateway(f"orders answered {resp.status_code} for buyer {buyer_id}'s orders")
        items = resp.json().get("items") or []
        return str(items[0]["order_id"]) if items else None


def orders() -> OrdersGateway:
    """The app's orders gateway (a fake in unit tests)."""
    return gateway(ORDERS, OrdersGateway)
