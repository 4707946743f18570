"""Fixtures for the orders unit and API tests: SQLite, the in-memory bus, fake peer gateways.

The fakes stand in for catalog and logistics behind the same methods as orders/gateways.py; the
integration tests exercise the real HTTP gateways.
"""
from __future__ import annotations

import uuid

import pytest

from ecom_common.consumer import EventConsumer
from ecom_common.db import Database
from ecom_common.errors import ServiceUnavailable
from ecom_common.events import make_event
from ecom_common.testing import auth, recorded_events, unit_config
from orders import handlers
from orders.app import SERVICE, create_app
from orders.gateways import Gateways, Quote, RegionNotServed

SHOP = "S1"
OTHER_SHOP = "S2"


def sku(code, price_fen, list_price_fen=None, weight_g=500, sellable=True, category_id="C-dress", status="listed"):
    return {
        "sku_code": code, "shop_id": SHOP, "product_id": "P1", "title": f"商品 {code}", "category_id": category_id,
        "product_status": status, "sellable": sellable, "list_price_fen": list_price_fen or price_fen,
        "promo_price_fen": None, "member_price_fen": None, "price_fen": price_fen, "weight_g": weight_g,
        "low_stock_threshold": 10, "spec": {},
    }


class FakeCatalog:
    def __init__(self):
        self.down = False
        self.calls = []
        self.by_shop = {
            SHOP: {
                "RED-M": sku("RED-M", 9900, list_price_fen=12900),   # on promotion: 30 yuan off
                "BLUE-L": sku("BLUE-L", 5000, weight_g=1500),
                "BIG": sku("BIG", 600000, weight_g=2000),             # 6000 yuan: always reviewed
                "MID": sku("MID", 100000, weight_g=1000),             # 1000 yuan: between thresholds
                "OLD": sku("OLD", 3000, sellable=False, status="delisted"),
            },
            OTHER_SHOP: {"GREEN-S": sku("GREEN-S", 2000)},
        }

    def skus(self, shop_id, sku_codes):
        self.calls.append((shop_id, list(sku_codes)))
        if self.down:
            raise ServiceUnavailable("catalog is unreachable: ConnectionError")
        known = self.by_shop.get(shop_id, {})
        return {c: known[c] for c in sku_codes if c in known}


class FakeLogistics:
    """10 yuan flat, free from 99 yuan of goods; 台湾 not served."""

    def __init__(self):
        self.down = False
        self.calls = []

    def quote(self, shop_id, province, weight_g, goods_fen):
        self.calls.append((shop_id, province, weight_g, goods_fen))
        if self.down:
            raise ServiceUnavailable("logistics is unreachable: ConnectionError")
        if province == "台湾":
            raise RegionNotServed(province)
        fee = 0 if goods_fen >= 9900 else 1000
        return Quote(fee, [{"item": "base", "fee_fen": fee}])


ADDRESS = {"name": "张三", "phone": "13812345678", "province": "浙江", "city": "杭州", "district": "西湖区",
           "street": "文三路", "detail": "100号3幢501"}


def order_body(lines=None, **overrides):
    body = {"shop_id": SHOP, "lines": lines or [{"sku_code": "RED-M", "quantity": 2}], "address": dict(ADDRESS),
            "note": ""}
    body.update(overrides)
    return body


@pytest.fixture
def config(tmp_path):
    return unit_config("orders", tmp_path)


@pytest.fixture
def db(config):
    SERVICE.migrate(config)
    database = Database(config)
    yield database
    database.dispose()


@pytest.fixture
def fakes():
    return Gateways(FakeCatalog(), FakeLogistics())


@pytest.fixture
def app(config, db, fakes):
    application = create_app(config, db)
    application.extensions["orders.gateways"] = fakes
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def clock(config):
    return config.clock


@pytest.fixture
def place(client):
    """Place an order as a buyer; returns the response JSON (asserts 201)."""

    def _place(buyer="bob", key=None, **body_overrides):
        resp = client.post("/api/v1/orders", json=order_body(**body_overrides),
                           headers={**auth("buyer", sub=buyer), "Idempotency-Key": key or uuid.uuid4().hex})
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
            return deliver("billing.PaymentSucceeded", {
                "order_id": order["order_id"], "shop_id": order["shop_id"], "payment_id": payment_id or "P1",
                "amount_fen": order["payable_fen"] if amount is None else amount, "method": "alipay"})

        @staticmethod
        def reserve(order):
            return deliver("inventory.StockReserved", {
                "order_id": order["order_id"], "shop_id": order["shop_id"],
                "lines": [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in order["lines"]]})

        @staticmethod
        def shortage(order, policy):
            return deliver("inventory.StockShortage", {
                "order_id": order["order_id"], "shop_id": order["shop_id"], "policy": policy,
                "short": [{"sku_code": order["lines"][0]["sku_code"], "requested": 2, "available": 0, "short": 2}]})

        @staticmethod
        def dispatch(order, case_id=None, carrier="顺丰", tracking_no="SF100"):
            return deliver("logistics.ShipmentDispatched", {
                "order_id": order["order_id"], "shop_id": order["shop_id"], "shipment_id": "S1",
                "carrier": carrier, "tracking_no": tracking_no, "case_id": case_id,
                "lines": [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in order["lines"]]})

        @staticmethod
        def deliver_parcel(order, case_id=None):
            return deliver("logistics.ShipmentDelivered", {
                "order_id": order["order_id"], "shop_id": order["shop_id"], "shipment_id": "S1", "case_id": case_id})

    return Saga()
