"""The whole platform driven through its public HTTP surface, as merchants, buyers, reviewers and
warehouses do (the integration sagas and the reliability scenarios)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import requests

from .platform import HTTP_TIMEOUT, Platform
from .waiting import eventually

CARRIER_SECRET = "carrier-webhook-test-secret"
ADDRESS = {
    "name": "张三",
    "phone": "13812345678",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "street": "文三路",
    "detail": "100号3幢501",
}
ALL_SERVICES = [
    "catalog",
    "orders",
    "inventory",
    "aftersales",
    "logistics",
    "billing",
    "marketing",
    "analytics",
]


class Saga:
    """Drives the six real services over HTTP as merchants, buyers, reviewers and warehouses do."""

    def __init__(self, platform: Platform, shop: str = "S1"):
        self.p = platform
        self.shop = shop

    def __getitem__(self, name):
        return self.p[name]

    @staticmethod
    def ok(resp, status=200):
        assert resp.status_code == status, f"{resp.status_code} {resp.request.method} {resp.url}: {resp.text}"
        return resp.json() if resp.content else None

    # catalog + inventory ---------------------------------------------------------------------------
    def product(
        self,
        sku: str,
        price_fen: int = 9900,
        weight_g: int = 500,
        stock: int = 10,
        shop: str | None = None,
        promo_fen: int | None = None,
    ) -> str:
        """Create, submit and approve a phone with one SKU; wait for its stock item; receive `stock`."""
        shop = shop or self.shop
        body = {
            "category_id": "digital-phones",
            "title": f"轻薄5G手机 {sku}",
            "brand": "Acme",
            "description": "全新正品",
            "attributes": {"网络类型": "5G", "存储容量": ["128GB"]},
            "images": [{"url": "https://img.example/p.jpg", "width": 800, "height": 800}],
            "skus": [
                {
                    "sku_code": sku,
                    "spec": {"存储容量": "128GB"},
                    "list_price_fen": price_fen,
                    "promo_price_fen": promo_fen,
                    "weight_g": weight_g,
                    "low_stock_threshold": 2,
                }
            ],
        }
        if promo_fen is None:
            del body["skus"][0]["promo_price_fen"]
        catalog = self.p["catalog"]
        pid = self.ok(catalog.post("/api/v1/products", json=body, shop_id=shop), 201)["product_id"]
        self.ok(catalog.post(f"/api/v1/products/{pid}/submit", shop_id=shop))
        self.ok(catalog.post(f"/api/v1/products/{pid}/approve", role="reviewer", sub="rita"))
        eventually(
            lambda: (
                self.p["inventory"].get(f"/api/v1/stock/{sku}", role="service", params={"shop_id": shop}).status_code
                == 200
            ),
            message=f"stock item {sku}",
        )
        if stock:
            self.stock_in(sku, stock, shop)
        return pid

    def stock_in(self, sku: str, quantity: int, shop: str | None = None) -> dict:
        return self.ok(
            self.p["inventory"].post(
                f"/api/v1/stock/{sku}/adjustments",
                role="warehouse",
                sub="wang",
                shop_id=shop or self.shop,
                json={"kind": "inbound", "quantity": quantity, "reason": "采购入库"},
            ),
            201,
        )

    def stock(self, sku: str, shop: str | None = None) -> dict:
        return self.ok(
            self.p["inventory"].get(f"/api/v1/stock/{sku}", role="service", params={"shop_id": shop or self.shop})
        )

    # orders + billing ------------------------------------------------------------------------------
    def place(self, lines, buyer: str = "bob", shop: str | None = None, idempotency_key: str | None = None, **extra):
        """POST /orders; a client retrying the same order passes the same `idempotency_key`."""
        body = {"shop_id": shop or self.shop, "lines": lines, "address": ADDRESS, **extra}
        return self.p["orders"].post(
            "/api/v1/orders",
            role="buyer",
            sub=buyer,
            json=body,
            headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
        )

    def pay(
        self, order_id: str, buyer: str = "bob", method: str = "alipay", idempotency_key: str | None = None, **extra
    ):
        """POST /payments; a client retrying the same payment passes the same `idempotency_key`."""
        return self.p["billing"].post(
            "/api/v1/payments",
            role="buyer",
            sub=buyer,
            json={"order_id": order_id, "method": method, **extra},
            headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
        )

    def order(self, order_id: str) -> dict:
        return self.ok(self.p["orders"].get(f"/api/v1/orders/{order_id}", role="admin", sub="root"))

    def wait_status(self, order_id: str, *statuses: str, timeout: float = 30) -> dict:
        return eventually(
            lambda: (o := self.order(order_id))["status"] in statuses and o,
            timeout=timeout,
            message=f"order {order_id} in {statuses}",
        )

    def placed_and_paid(self, sku: str, quantity: int = 1, buyer: str = "bob", **extra) -> str:
        order = self.ok(self.place([{"sku_code": sku, "quantity": quantity}], buyer=buyer, **extra), 201)
        self.ok(self.pay(order["order_id"], buyer=buyer), 201)
        return order["order_id"]

    # logistics -------------------------------------------------------------------------------------
    def shipment_for(self, order_id: str) -> dict:
        def find():
            items = (
                self.p["logistics"]
                .get("/api/v1/shipments", role="warehouse", shop_id=self.shop, params={"order_id": order_id})
                .json()["items"]
            )
            return [s for s in items if not s.get("case_id")]

        return eventually(find, message=f"shipment of {order_id}")[0]

    def dispatch(self, shipment_id: str, tracking_no: str) -> dict:
        return self.ok(
            self.p["logistics"].post(
                f"/api/v1/shipments/{shipment_id}/dispatch",
                role="warehouse",
                sub="wang",
                shop_id=self.shop,
                json={"tracking_no": tracking_no},
            )
        )

    def delivered(self, sku: str, quantity: int = 1, buyer: str = "bob", tracking_no: str | None = None) -> str:
        """An order of `sku` taken all the way to `delivered`; returns its id."""
        oid = self.placed_and_paid(sku, quantity, buyer=buyer)
        self.wait_status(oid, "awaiting_shipment")
        tracking_no = tracking_no or f"SF{uuid.uuid4().int % 10**12:012d}"
        shipment = self.dispatch(self.shipment_for(oid)["shipment_id"], tracking_no)
        self.wait_status(oid, "shipped")
        assert self.carrier_reports(shipment["carrier"], tracking_no, "delivered").status_code == 200
        self.wait_status(oid, "delivered")
        return oid

    def carrier_reports(self, carrier: str, tracking_no: str, status: str, **extra):
        body = json.dumps(
            {
                "event_id": uuid.uuid4().hex,
                "carrier": carrier,
                "tracking_no": tracking_no,
                "status": status,
                "location": "杭州",
                **extra,
            }
        ).encode()
        sig = "sha256=" + hmac.new(CARRIER_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return requests.post(
            self.p["logistics"].url + "/api/v1/tracking/webhook",
            data=body,
            timeout=HTTP_TIMEOUT,
            headers={"Content-Type": "application/json", "X-Carrier-Signature": sig},
        )
