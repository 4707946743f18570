"""billing's outside world, behind small classes that unit tests replace with fakes.

- `OrdersGateway`: the one HTTP call billing makes, `GET orders /api/v1/orders/{order_id}` with a
  service token (ecom_common.peers.PeerClient): orders is authoritative for an order's status, buyer
  and payable amount when a payment is made.
- the sandbox provider (`sandbox.SandboxProvider`).

Views reach both through `orders()` / `payment_provider()`: the app's one instance of each
(ecom_common.peers.gateway); unit tests put fakes in their place with `inject_gateway(app, ORDERS, fake)`.
"""

from __future__ import annotations

from urllib.parse import quote

from ecom_common.config import Config
from ecom_common.errors import BadGateway
from ecom_common.http import current_db
from ecom_common.peers import PeerClient, gateway

from .sandbox import SandboxProvider

ORDERS = "billing.orders"
PROVIDER = "billing.provider"


class OrdersGateway:
    def __init__(self, config: Config, timeout: float = 5.0):
        self.client = PeerClient(config, "orders", timeout=timeout)

    def order(self, order_id: str) -> dict | None:
        """The order as orders sees it now, or None when orders does not know it."""
        resp = self.client.get(f"/api/v1/orders/{quote(order_id, safe='')}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise BadGateway(f"orders answered {resp.status_code} for order {order_id}")
        return resp.json()


def orders() -> OrdersGateway:
    return gateway(ORDERS, OrdersGateway)


def payment_provider() -> SandboxProvider:
    # The provider works on billing's database (its own `sandbox_*` tables), not from the config alone.
    return gateway(PROVIDER, lambda _config: SandboxProvider(current_db()))
