"""Fixtures for the logistics unit and API tests: `config`, `db`, `app`, `client` and `clock` come from
ecom_testkit.plugin (SQLite file + in-memory bus, injectable clock); this file names the service and
its carrier webhook secret."""

from __future__ import annotations

import pytest

WEBHOOK_SECRET = "carrier-secret-for-tests"


@pytest.fixture
def service_name():
    return "logistics"


@pytest.fixture
def service_settings():
    return {"LOGISTICS_CARRIER_WEBHOOK_SECRET": WEBHOOK_SECRET}


class Flow:
    """Drives shipments for the newer test modules: an order ready to ship (through the real consumer),
    the warehouse's dispatch, a signed carrier report."""

    ADDRESS = {"name": "张三", "phone": "13812345678", "province": "江苏省", "city": "南京市", "detail": "中山路 1 号"}

    def __init__(self, client, db):
        from ecom_testkit import auth

        self.client, self.db = client, db
        self.wh = auth("warehouse", sub="wang", shop_id="S1")
        self.ops = auth("ops", sub="ops1", shop_id="S1")

    def deliver(self, routing_key: str, payload: dict) -> str:
        from ecom_common.consumer import EventConsumer
        from ecom_common.events import make_event
        from logistics import handlers

        return EventConsumer(self.db, handlers.SUBSCRIPTIONS[0]).handle(make_event(routing_key, payload))

    def ready(self, order_id="O1", shop_id="S1", **extra) -> dict:
        lines = [{"sku_code": "SKU-A", "quantity": 2}, {"sku_code": "SKU-B", "quantity": 1}]
        payload = {"order_id": order_id, "shop_id": shop_id, "lines": lines, "address": self.ADDRESS, **extra}
        self.deliver("orders.OrderReadyToShip", payload)
        from ecom_testkit import auth

        headers = self.wh if shop_id == "S1" else auth("warehouse", shop_id=shop_id)
        return self.client.get(f"/api/v1/shipments?order_id={order_id}", headers=headers).get_json()["items"][0]

    def dispatched(self, order_id="O1", tracking_no="SF0001", **extra) -> dict:
        s = self.ready(order_id, **extra)
        resp = self.client.post(
            f"/api/v1/shipments/{s['shipment_id']}/dispatch", headers=self.wh, json={"tracking_no": tracking_no}
        )
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def track(self, shipment: dict, status: str, event_id: str, **extra):
        import json

        from logistics import domain

        body = {
            "event_id": event_id,
            "carrier": shipment["carrier"],
            "tracking_no": shipment["tracking_no"],
            "status": status,
            **extra,
        }
        raw = json.dumps(body).encode()
        return self.client.post(
            "/api/v1/tracking/webhook",
            data=raw,
            content_type="application/json",
            headers={domain.SIGNATURE_HEADER: domain.sign(WEBHOOK_SECRET, raw)},
        )

    def get(self, shipment_id: str, headers=None) -> dict:
        return self.client.get(f"/api/v1/shipments/{shipment_id}", headers=headers or self.ops).get_json()


@pytest.fixture
def flow(client, db):
    return Flow(client, db)
