"""Fixtures for the orders unit and API tests: SQLite, the in-memory bus, fake peer gateways.

The fakes stand in for catalog and logistics behind the same methods as orders/gateways.py (put in
place with ecom_common.peers.inject_gateway); the integration tests exercise the real HTTP gateways.
"""

from __future__ import annotations

import uuid

import pytest

from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event
from ecom_common.peers import inject_gateway
from ecom_testkit import auth, recorded_events
from ecom_testkit.orders_support import FakeCatalog, FakeLogistics, FakeMarketing, order_body
from orders import handlers
from orders.gateways import PEERS, Gateways


@pytest.fixture
def service_name():
    return "orders"


@pytest.fixture
def fakes():
    return Gateways(FakeCatalog(), FakeLogistics(), FakeMarketing())


@pytest.fixture
def app(app, fakes):
    """The plugin's app, its peers replaced by the fakes."""
    inject_gateway(app, PEERS, fakes)
    return app


@pytest.fixture
def place(client):
    """Place an order as a buyer; returns the response JSON (asserts 201)."""

    def _place(buyer="bob", key=None, **body_overrides):
        resp = client.post(
            "/api/v1/orders",
            json=order_body(**body_overrides),
            headers={**auth("buyer", sub=buyer), "Idempotency-Key": key or uuid.uuid4().hex},
        )
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    return _place


@pytest.fixture
def deliver(db):
    """Hand an event to orders' consumer exactly as the worker does (inbox dedupe included)."""
    consumer = EventConsumer(db, handlers.SUBSCRIPTIONS[0])

    def _deliver(routing_key, payload, event=None):
        env = event or make_event(routing_key, payload)
        return consumer.handle(env)

    return _deliver


@pytest.fixture
def events(db):
    def _events(routing_key=None):
        return recorded_events(db, routing_key)

    return _events


@pytest.fixture
def saga(deliver):
    """Drive an order forward through the peers' events."""

    class Saga:
        @staticmethod
        def pay(order, payment_id=None, amount=None):
            return deliver(
                "billing.PaymentSucceeded",
                {
                    "order_id": order["order_id"],
                    "shop_id": order["shop_id"],
                    "payment_id": payment_id or "P1",
                    "amount_fen": order["payable_fen"] if amount is None else amount,
                    "method": "alipay",
                },
            )

        @staticmethod
        def reserve(order):
            return deliver(
                "inventory.StockReserved",
                {
                    "order_id": order["order_id"],
                    "shop_id": order["shop_id"],
                    "lines": [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in order["lines"]],
                },
            )

        @staticmethod
        def shortage(order, policy):
            return deliver(
                "inventory.StockShortage",
                {
                    "order_id": order["order_id"],
                    "shop_id": order["shop_id"],
                    "policy": policy,
                    "short": [{"sku_code": order["lines"][0]["sku_code"], "requested": 2, "available": 0, "short": 2}],
                },
            )

        @staticmethod
        def dispatch(order, case_id=None, carrier="顺丰", tracking_no="SF100"):
            return deliver(
                "logistics.ShipmentDispatched",
                {
                    "order_id": order["order_id"],
                    "shop_id": order["shop_id"],
                    "shipment_id": "S1",
                    "carrier": carrier,
                    "tracking_no": tracking_no,
                    "case_id": case_id,
                    "lines": [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in order["lines"]],
                },
            )

        @staticmethod
        def deliver_parcel(order, case_id=None):
            return deliver(
                "logistics.ShipmentDelivered",
                {"order_id": order["order_id"], "shop_id": order["shop_id"], "shipment_id": "S1", "case_id": case_id},
            )

    return Saga()
