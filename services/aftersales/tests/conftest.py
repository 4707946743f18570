"""Fixtures of the aftersales unit/API tests: a SQLite database migrated by the real migration, the
memory bus (events stay in the outbox, read with recorded_events), an injectable clock (all three
from ecom_testkit.plugin), and a fake orders gateway in place of the HTTP call to orders."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from aftersales.app import SERVICE
from aftersales.banned_words import Lexicon
from aftersales.domain import OrderView
from aftersales.gateways import CATALOG, ORDERS
from ecom_common.clock import iso
from ecom_common.consumer import EventConsumer
from ecom_common.errors import ServiceUnavailable
from ecom_common.events import make_event
from ecom_common.peers import inject_gateway
from ecom_testkit import auth, recorded_events


class FakeOrders:
    """Answers like `GET orders /api/v1/orders/{id}`; `down = True` behaves like an unreachable peer."""

    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.down = False
        self.calls = 0

    def add(
        self,
        order_id="O1",
        buyer_id="bob",
        shop_id="S1",
        status="delivered",
        delivered_at=None,
        lines=None,
        payable_fen=None,
    ) -> dict:
        lines = lines or [
            {"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000, "category_id": "c1"},
            {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 8000, "category_id": "c1"},
        ]
        order = {
            "order_id": order_id,
            "buyer_id": buyer_id,
            "shop_id": shop_id,
            "status": status,
            "lines": lines,
            "payable_fen": payable_fen
            if payable_fen is not None
            else sum(l["quantity"] * l["unit_price_fen"] for l in lines),
            "delivered_at": delivered_at,
            "address": {"name": "张三", "phone": "13812345678", "province": "浙江省", "detail": "文一西路 1 号"},
        }
        self.orders[order_id] = order
        return order

    def latest_order_id(self, buyer_id):
        if self.down:
            raise ServiceUnavailable("orders is unreachable: ConnectionError")
        mine = [o for o in self.orders.values() if o["buyer_id"] == buyer_id]
        return mine[-1]["order_id"] if mine else None

    def get_order(self, order_id):
        self.calls += 1
        if self.down:
            raise ServiceUnavailable("orders is unreachable: ConnectionError")
        data = self.orders.get(order_id)
        return OrderView.from_json(data) if data else None


class FakeCatalog:
    """Answers catalog's word list as `CatalogGateway.banned_words` does; `down`: 503."""

    def __init__(self):
        self.lexicon = Lexicon(banned=("最", "第一", "全网第一", "顶级"), exemptions=("最近", "第一次"))
        self.down = False
        self.calls = 0

    def banned_words(self):
        self.calls += 1
        if self.down:
            raise ServiceUnavailable("catalog is unreachable: ConnectionError")
        return self.lexicon


class Api:
    def __init__(self, app, db, config, orders):
        self.client = app.test_client()
        self.db = db
        self.config = config
        self.clock = config.clock
        self.orders = orders
        self.consumer = EventConsumer(db, SERVICE.subscriptions[0])

    def _h(self, role, sub, shop_id, headers):
        h = dict(auth(role, sub, shop_id)) if role else {}
        h.update(headers or {})
        return h

    def get(self, path, role="buyer", sub="bob", shop_id=None, headers=None, **kw):
        return self.client.get(path, headers=self._h(role, sub, shop_id, headers), **kw)

    def post(self, path, json=None, role="buyer", sub="bob", shop_id=None, headers=None, **kw):
        return self.client.post(path, json=json, headers=self._h(role, sub, shop_id, headers), **kw)

    # Shortcuts -----------------------------------------------------------------------------------
    def now_iso(self, **delta):
        return iso(self.clock.now() + timedelta(**delta))

    def open_case(self, expect=201, **body):
        body.setdefault("order_id", "O1")
        body.setdefault("type", "return")
        body.setdefault("reason", "quality")
        body.setdefault("lines", [{"sku_code": "RED-M", "quantity": 1}])
        resp = self.post("/api/v1/cases", json=body)
        assert resp.status_code == expect, resp.get_json()
        return resp.get_json()

    def act(self, case_id, action, body=None, role="cs", sub="carol", shop_id="S1", expect=200):
        resp = self.post(f"/api/v1/cases/{case_id}/{action}", json=body or {}, role=role, sub=sub, shop_id=shop_id)
        assert resp.status_code == expect, resp.get_json()
        return resp.get_json()

    def case(self, case_id, role="buyer", sub="bob", shop_id=None):
        return self.get(f"/api/v1/cases/{case_id}", role=role, sub=sub, shop_id=shop_id).get_json()

    def events(self, routing_key=None):
        return recorded_events(self.db, routing_key)

    def deliver(self, routing_key, payload):
        """Hand an event to the aftersales consumer as the worker would (inbox, handler, commit)."""
        event = make_event(routing_key, payload)
        return self.consumer.handle(event), event

    def count(self, table):
        import sqlalchemy as sa

        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture
def service_name():
    return "aftersales"


@pytest.fixture
def service_settings():
    return {"AFTERSALES_RETURN_ADDRESSES": json.dumps({"S1": "浙江省杭州市余杭区文一西路 1 号 S1 退货仓"})}


@pytest.fixture
def api(app, db, config):
    """The plugin's app with a fake orders gateway knowing one order, delivered yesterday."""
    orders = FakeOrders()
    inject_gateway(app, ORDERS, orders)
    orders.add(delivered_at=iso(config.clock.now() - timedelta(days=1)))
    api = Api(app, db, config, orders)
    api.catalog = FakeCatalog()
    inject_gateway(app, CATALOG, api.catalog)
    return api
