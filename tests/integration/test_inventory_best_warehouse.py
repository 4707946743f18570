"""自动匹配最优仓库 over the real RabbitMQ and PostgreSQL: warehouses registered over HTTP, stock
received into each, an orders.OrderPaid published for real with the receiver's province, and the
order reserved in the one warehouse nearest the receiver that can serve every line (StockReserved
names it)."""

from __future__ import annotations

import json

import pytest
from kombu import Connection, Producer, Queue

from ecom_common import bus
from ecom_common.events import make_event
from ecom_common.topology import Topology
from ecom_testkit import Platform, eventually

pytestmark = pytest.mark.integration

SHOP = "S1"


@pytest.fixture
def platform():
    with Platform(["inventory"]) as p:
        yield p


def test_an_order_is_reserved_in_the_best_warehouse(platform):
    inv = platform["inventory"]
    topology = Topology(f"{platform.prefix}.")
    conn = Connection(platform.broker_url, transport_options={"confirm_publish": True})
    try:
        channel = conn.channel()
        topology.declare(channel)
        capture = Queue(
            f"{platform.prefix}.test.best-warehouse",
            exchange=topology.exchange,
            routing_key="inventory.StockReserved",
            exclusive=True,
            durable=False,
        )
        capture_channel = conn.channel()
        capture(capture_channel).declare()

        def publish(routing_key, payload):
            envelope = make_event(routing_key, payload)
            bus.publish_raw(
                Producer(channel), topology.exchange, routing_key, envelope.to_json(), message_id=envelope.event_id
            )

        for code, province in (("BJ", "北京"), ("HZ", "浙江"), ("SH", "上海")):
            resp = inv.post(
                "/api/v1/warehouses",
                role="ops",
                shop_id=SHOP,
                json={"code": code, "name": code, "province": province, "costs": {"*": 800}},
            )
            assert resp.status_code == 201, resp.text
        publish(
            "catalog.ProductListed",
            {
                "product_id": "P1",
                "shop_id": SHOP,
                "skus": [{"sku_code": s, "list_price_fen": 100, "low_stock_threshold": 0} for s in ("A", "B")],
            },
        )
        eventually(
            lambda: inv.get("/api/v1/stock/B", role="warehouse", shop_id=SHOP).status_code == 200,
            timeout=60,
            message="stock items created",
        )
        # HZ is nearest to a 浙江 receiver but has no B; SH (华东 too) has both; BJ has more of both
        for sku, code, qty in (("A", "HZ", 5), ("A", "SH", 5), ("B", "SH", 5), ("A", "BJ", 50), ("B", "BJ", 50)):
            resp = inv.post(
                f"/api/v1/stock/{sku}/adjustments",
                role="warehouse",
                shop_id=SHOP,
                json={"kind": "inbound", "quantity": qty, "warehouse_code": code},
            )
            assert resp.status_code == 201, resp.text
        publish(
            "orders.OrderPaid",
            {
                "order_id": "O1",
                "shop_id": SHOP,
                "payable_fen": 300,
                "paid_at": "2026-11-11T00:00:00Z",
                "lines": [{"sku_code": "A", "quantity": 2}, {"sku_code": "B", "quantity": 1}],
                "receiver_province": "浙江省",
            },
        )

        seen: list[dict] = []

        def reserved():
            message = capture(capture_channel).get(no_ack=True)
            if message is not None:
                seen.append(json.loads(message.body)["payload"])
            return seen or None

        eventually(reserved, timeout=60, message="StockReserved for O1")
        assert seen[0]["order_id"] == "O1"
        assert {line["sku_code"]: line["warehouse_code"] for line in seen[0]["lines"]} == {"A": "SH", "B": "SH"}
        got = inv.get("/api/v1/reservations/O1", role="warehouse", shop_id=SHOP).json()
        assert {line["sku_code"]: line["warehouse_code"] for line in got["lines"]} == {"A": "SH", "B": "SH"}
        sh = inv.get("/api/v1/stock?warehouse_code=SH", role="warehouse", shop_id=SHOP).json()["items"]
        assert {row["sku_code"]: row["reserved"] for row in sh} == {"A": 2, "B": 1}
    finally:
        conn.release()
