"""Fixtures for billing's unit and API tests: SQLite, the in-memory bus (`config`, `db`, `app` from
ecom_testkit.plugin), a fake orders gateway and the sandbox provider delivering its webhooks
through the Flask test client (no threads, no network)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from billing import gateways
from billing.handlers import SUBSCRIPTIONS
from billing.sandbox import SandboxProvider
from ecom_common.consumer import EventConsumer
from ecom_common.errors import ServiceUnavailable
from ecom_common.events import make_event
from ecom_common.peers import inject_gateway
from ecom_testkit import auth, recorded_events

WEBHOOK_SECRET = "whsec_unit_test"


class FakeOrders:
    """Stands in for `GET orders /api/v1/orders/{id}`."""

    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.down = False
        self.calls = 0

    def add(
        self,
        order_id="O1",
        shop_id="S1",
        buyer_id="bob",
        payable_fen=10_000,
        status="pending_payment",
        lines=None,
        discounts=(),
    ) -> dict:
        lines = (
            lines
            if lines is not None
            else [
                {"sku_code": "SKU-A", "quantity": 2, "unit_price_fen": 3_000, "category_id": "C-dress"},
                {"sku_code": "SKU-B", "quantity": 1, "unit_price_fen": 4_000, "category_id": "C-mask"},
            ]
        )
        self.orders[order_id] = {
            "order_id": order_id,
            "shop_id": shop_id,
            "buyer_id": buyer_id,
            "status": status,
            "payable_fen": payable_fen,
            "lines": lines,
            "discounts": list(discounts),
        }
        return self.orders[order_id]

    def order(self, order_id):
        self.calls += 1
        if self.down:
            raise ServiceUnavailable("orders is unreachable: ConnectionError")
        found = self.orders.get(order_id)
        return copy.deepcopy(found) if found else None


@dataclass
class Billing:
    """Billing under test: its app and test client, database, fakes, and the steps of a payment."""

    app: object
    client: object
    db: object
    config: object
    orders: FakeOrders
    provider: SandboxProvider
    consumer: EventConsumer

    def event(self, routing_key: str, payload: dict):
        """Deliver one event through the real consumer path (inbox dedupe, handler, commit)."""
        env = make_event(routing_key, payload)
        return self.consumer.handle(env), env

    def redeliver(self, env):
        return self.consumer.handle(env)

    def events(self, routing_key=None):
        return recorded_events(self.db, routing_key)

    def placed(
        self,
        order_id="O1",
        shop_id="S1",
        buyer_id="bob",
        payable_fen=10_000,
        lines=None,
        status="pending_payment",
        discounts=(),
    ):
        """An order placed at orders (the fake answers for it) and announced by OrderPlaced."""
        order = self.orders.add(order_id, shop_id, buyer_id, payable_fen, status, lines, discounts)
        keys = ("order_id", "shop_id", "buyer_id", "payable_fen", "lines", "discounts")
        self.event("orders.OrderPlaced", {k: order[k] for k in keys})
        return order

    def pay(self, order_id="O1", buyer="bob", method="alipay", card_number=None, headers=None, **extra):
        body = {"order_id": order_id, "method": method, **extra}
        if card_number:
            body["card_number"] = card_number
        return self.client.post("/api/v1/payments", json=body, headers={**auth("buyer", sub=buyer), **(headers or {})})

    def confirm(self, payment: dict) -> bool:
        """The provider settles the intent and calls the webhook (synchronously here)."""
        return self.provider.resolve_and_deliver(payment["intent_id"])

    def paid(self, order_id="O1", **kwargs) -> dict:
        order = self.placed(order_id, **kwargs)
        resp = self.pay(order_id, buyer=order["buyer_id"])
        assert resp.status_code == 201, resp.get_json()
        assert self.confirm(resp.get_json())
        self.orders.orders[order_id]["status"] = "paid"
        return resp.get_json()

    def get(self, path, role="finance", sub="fiona", shop_id=None, **kwargs):
        return self.client.get(path, headers=auth(role, sub=sub, shop_id=shop_id), **kwargs)


@pytest.fixture
def service_name():
    return "billing"


@pytest.fixture
def service_settings():
    return {"BILLING_SANDBOX_AUTO_CONFIRM": "false", "BILLING_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def billing(app, db, config):
    """The plugin's app with a fake orders gateway, and the sandbox provider delivering its webhooks
    through the test client."""
    client = app.test_client()
    fake = FakeOrders()
    inject_gateway(app, gateways.ORDERS, fake)

    def transport(url, body, headers):
        return client.post("/api/v1/payments/webhook", data=body, headers=headers).status_code

    provider = SandboxProvider(db, transport)
    inject_gateway(app, gateways.PROVIDER, provider)
    return Billing(
        app=app,
        client=client,
        db=db,
        config=config,
        orders=fake,
        provider=provider,
        consumer=EventConsumer(db, SUBSCRIPTIONS[0]),
    )
