"""orders over the real RabbitMQ, PostgreSQL and HTTP (issue 4 "Orders", issue 5 "Orders (continued)").

Platform(["orders"]) runs the orders service (HTTP + worker) on its own schema and bus namespace.
The peers' events (billing, inventory, logistics, aftersales) are published for real onto the
test's exchange `<prefix>.ecom.events`, exactly as those services' relays would; what orders emits
is read back from a queue of the test's own bound to `orders.#`. Catalog and logistics are not
started here, nor marketing (the cross-service tests run them): a small HTTP server answers their
three calls with the shapes of docs/interfaces.md, so that orders' real HTTP gateways are exercised.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from flask import Flask, jsonify, request
from kombu import Connection, Producer, Queue
from werkzeug.serving import make_server

from ecom_common import bus
from ecom_common.events import make_event
from ecom_common.peers import inject_gateway
from ecom_common.topology import Topology
from ecom_testkit import Platform, eventually
from orders.gateways import PEERS, Gateways

pytestmark = pytest.mark.integration

SHOP = "S1"
ADDRESS = {
    "name": "张三",
    "phone": "13812345678",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "street": "文三路",
    "detail": "100号3幢501",
}
SKUS = {
    "RED-M": {"price_fen": 9900, "list_price_fen": 12900, "weight_g": 500, "sellable": True},
    "BIG": {"price_fen": 600000, "list_price_fen": 600000, "weight_g": 2000, "sellable": True},
    "OLD": {"price_fen": 100, "list_price_fen": 100, "weight_g": 100, "sellable": False},
    # presale: catalog's presale_ship_days, ships within 5 days of payment
    "PRE": {"price_fen": 5000, "list_price_fen": 5000, "weight_g": 300, "sellable": True, "presale_ship_days": 5},
}


# Catalog's and logistics' two answers, per docs/interfaces.md ----------------------------------------------
def peer_stub():
    app = Flask("peer-stub")
    seen = []

    @app.post("/api/v1/skus/batch")
    def batch():
        seen.append(("catalog", request.headers.get("Authorization", "")[:7], request.get_json()))
        body = request.get_json()
        items, missing = [], []
        for code in body["sku_codes"]:
            if code in SKUS and body["shop_id"] == SHOP:
                s = SKUS[code]
                items.append(
                    {
                        "sku_code": code,
                        "shop_id": SHOP,
                        "product_id": "P1",
                        "title": code,
                        "category_id": "C-dress",
                        "product_status": "listed" if s["sellable"] else "delisted",
                        "promo_price_fen": None,
                        "member_price_fen": None,
                        "low_stock_threshold": 10,
                        "spec": {},
                        **s,
                    }
                )
            else:
                missing.append(code)
        return jsonify({"items": items, "missing": missing})

    @app.post("/api/v1/shipping/quote")
    def quote():
        body = request.get_json()
        seen.append(("logistics", request.headers.get("Authorization", "")[:7], body))
        if body["province"] == "台湾":
            return jsonify(
                {
                    "type": "about:blank",
                    "title": "Unprocessable Entity",
                    "status": 422,
                    "detail": "region not served",
                    "errors": {"province": ["Not served."]},
                }
            ), 422
        fee = (
            0 if body["province"] in ("江苏", "浙江", "上海") else 1000 + 500 * max(0, -(-body["weight_g"] // 1000) - 1)
        )
        return jsonify({"fee_fen": fee, "served": True, "breakdown": [{"item": "template", "fee_fen": fee}]})

    @app.post("/api/v1/quotes")
    def marketing_quote():
        # marketing without promotions or coupons: the single-item price is the promotional one
        body = request.get_json()
        seen.append(("marketing", request.headers.get("Authorization", "")[:7], body))
        lines, rows = [], []
        for i, line in enumerate(body["lines"]):
            unit = line.get("promo_price_fen") or line["list_price_fen"]
            lines.append(
                {
                    "line": i,
                    "sku_code": line["sku_code"],
                    "quantity": line["quantity"],
                    "list_price_fen": line["list_price_fen"],
                    "unit_price_fen": unit,
                    "discount_fen": 0,
                    "payable_fen": unit * line["quantity"],
                }
            )
            saved = (line["list_price_fen"] - unit) * line["quantity"]
            if saved:
                rows.append(
                    {
                        "line": i,
                        "sku_code": line["sku_code"],
                        "source": "promo_price",
                        "ref": None,
                        "amount_fen": saved,
                        "funded_by": "shop",
                    }
                )
        return jsonify({"order_id": body.get("order_id"), "lines": lines, "discounts": rows, "points_used": 0})

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", seen


class Bus:
    """Publishes peers' events onto the test's exchange and collects what orders publishes."""

    def __init__(self, platform: Platform):
        self.topology = Topology(f"{platform.prefix}.")
        self.conn = Connection(platform.broker_url, transport_options={"confirm_publish": True})
        channel = self.conn.channel()
        self.topology.declare(channel)
        self.queue = Queue(
            f"{platform.prefix}.test-tap",
            exchange=self.topology.exchange,
            routing_key="orders.#",
            exclusive=True,
            durable=False,
        )  # gone when the connection closes
        self.queue(channel).declare()
        self.producer = Producer(self.conn.channel())
        self.seen: list[dict] = []
        self._consumer_channel = self.conn.channel()

    def publish(self, routing_key: str, payload: dict, event=None):
        env = event or make_event(routing_key, payload)
        bus.publish_raw(self.producer, self.topology.exchange, env.routing_key, env.to_json(), message_id=env.event_id)
        return env

    def _drain(self):
        while True:
            message = self.queue(self._consumer_channel).get(no_ack=True)
            if message is None:
                return
            self.seen.append(json.loads(message.body))

    def emitted(self, routing_key: str, order_id: str | None = None) -> list[dict]:
        self._drain()
        return [
            e
            for e in self.seen
            if f"{e['producer']}.{e['type']}" == routing_key
            and (order_id is None or e["payload"].get("order_id") == order_id)
        ]

    def wait_for(self, routing_key: str, order_id: str, count: int = 1) -> list[dict]:
        return eventually(
            lambda: len(self.emitted(routing_key, order_id)) >= count and self.emitted(routing_key, order_id),
            message=f"{count} x {routing_key}",
        )

    def close(self):
        self.conn.release()


@pytest.fixture
def platform():
    server, url, seen = peer_stub()
    with Platform(["orders"]) as p:
        p.seen = seen
        p.stub_url = url
        tap = Bus(p)
        p.bus = tap
        try:
            yield p
        finally:
            tap.close()
    server.shutdown()


def use_stub_peers(p):
    orders = p["orders"]
    peers = {**orders.config.peers, "catalog": p.stub_url, "logistics": p.stub_url, "marketing": p.stub_url}
    inject_gateway(orders.app, PEERS, Gateways.from_config(orders.config.with_(peers=peers)))


def place(p, lines=None, buyer="bob", **extra):
    body = {"shop_id": SHOP, "lines": lines or [{"sku_code": "RED-M", "quantity": 2}], "address": ADDRESS, **extra}
    return p["orders"].post(
        "/api/v1/orders", role="buyer", sub=buyer, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def order_of(p, order_id, role="ops"):
    resp = p["orders"].get(f"/api/v1/orders/{order_id}", role=role, shop_id=SHOP if role == "ops" else None)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_status(p, order_id, status):
    return eventually(
        lambda: (o := order_of(p, order_id))["status"] == status and o, message=f"order {order_id} {status}"
    )


def lines_of(order):
    return [{"sku_code": line["sku_code"], "quantity": line["quantity"]} for line in order["lines"]]


def test_place_pay_reserve_ship_deliver_confirm(platform):
    p = platform
    # Before the peers answer: catalog is unreachable -> 503, nothing written, nothing published.
    down = place(p)
    assert down.status_code == 503 and down.headers["Content-Type"].startswith("application/problem+json")
    assert p["orders"].get("/api/v1/orders", role="admin").json()["items"] == []

    use_stub_peers(p)
    resp = place(p)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    oid = order["order_id"]
    assert order["payable_fen"] == 19800 and order["shipping_fen"] == 0 and order["discount_fen"] == 6000
    assert [call[0] for call in p.seen] == ["catalog", "marketing", "logistics"] and p.seen[0][1] == "Bearer "
    (placed,) = p.bus.wait_for("orders.OrderPlaced", oid)
    assert placed["payload"]["lines"][0]["unit_price_fen"] == 9900
    assert "13812345678" not in json.dumps(placed)

    # billing: the payment succeeds; delivered twice (same event id) and reported once more -> paid once.
    paid_event = make_event(
        "billing.PaymentSucceeded",
        {"order_id": oid, "shop_id": SHOP, "payment_id": "P1", "amount_fen": 19800, "method": "alipay"},
    )
    p.bus.publish(None, None, event=paid_event)
    p.bus.publish(None, None, event=paid_event)
    p.bus.publish(
        "billing.PaymentSucceeded", {"order_id": oid, "shop_id": SHOP, "payment_id": "P1", "amount_fen": 19800}
    )
    wait_status(p, oid, "paid")
    (order_paid,) = p.bus.wait_for("orders.OrderPaid", oid)
    assert order_paid["payload"]["payable_fen"] == 19800 and order_paid["causation_id"] == paid_event.event_id

    # inventory reserves -> audit passes -> ready to ship.
    p.bus.publish("inventory.StockReserved", {"order_id": oid, "shop_id": SHOP, "lines": lines_of(order)})
    wait_status(p, oid, "awaiting_shipment")
    (ready,) = p.bus.wait_for("orders.OrderReadyToShip", oid)
    assert ready["payload"]["address"]["phone"] == "138****5678"

    # logistics: an exchange's replacement is ignored, the order's own shipment moves it.
    p.bus.publish(
        "logistics.ShipmentDispatched",
        {
            "order_id": oid,
            "shop_id": SHOP,
            "shipment_id": "S9",
            "carrier": "顺丰",
            "tracking_no": "SFX",
            "lines": lines_of(order),
            "case_id": "C-other",
        },
    )
    p.bus.publish(
        "logistics.ShipmentDispatched",
        {
            "order_id": oid,
            "shop_id": SHOP,
            "shipment_id": "S1",
            "carrier": "中通",
            "tracking_no": "ZT1",
            "lines": lines_of(order),
        },
    )
    shipped = wait_status(p, oid, "shipped")
    assert (shipped["carrier"], shipped["tracking_no"]) == ("中通", "ZT1")
    p.bus.publish("logistics.ShipmentDelivered", {"order_id": oid, "shop_id": SHOP, "shipment_id": "S1"})
    wait_status(p, oid, "delivered")
    p.bus.wait_for("orders.OrderDelivered", oid)

    confirm = p["orders"].post(f"/api/v1/orders/{oid}/confirm-receipt", role="buyer", sub="bob")
    assert confirm.status_code == 200 and confirm.json()["status"] == "completed"
    (done,) = p.bus.wait_for("orders.OrderCompleted", oid)
    assert done["payload"]["payable_fen"] == 19800 and done["payload"]["lines"][0]["category_id"] == "C-dress"

    final = order_of(p, oid, role="admin")
    assert [(t["from_status"], t["status"]) for t in final["timeline"]] == [
        (None, "pending_payment"),
        ("pending_payment", "paid"),
        ("paid", "awaiting_shipment"),
        ("awaiting_shipment", "shipped"),
        ("shipped", "delivered"),
        ("delivered", "completed"),
    ]
    assert len(p.bus.emitted("orders.OrderPaid", oid)) == 1


def test_held_review_shortage_and_timeouts(platform):
    p = platform
    use_stub_peers(p)
    bad = place(p, [{"sku_code": "OLD", "quantity": 1}])
    assert bad.status_code == 422 and "lines.0.sku_code" in bad.json()["errors"]
    not_served = p["orders"].post(
        "/api/v1/orders",
        role="buyer",
        sub="bob",
        headers={"Idempotency-Key": "ns"},
        json={
            "shop_id": SHOP,
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
            "address": {**ADDRESS, "province": "台湾"},
        },
    )
    assert not_served.status_code == 422 and "address.province" in not_served.json()["errors"]

    big = place(p, [{"sku_code": "BIG", "quantity": 1}], address={**ADDRESS, "province": "四川"}).json()
    short = place(p, buyer="carol").json()
    unpaid = place(p, buyer="dave").json()
    assert big["shipping_fen"] == 1500  # 2 kg outside 江浙沪: 10 + 5 yuan
    for o in (big, short):
        p.bus.publish(
            "billing.PaymentSucceeded",
            {
                "order_id": o["order_id"],
                "shop_id": SHOP,
                "payment_id": "P-" + o["order_id"],
                "amount_fen": o["payable_fen"],
            },
        )
        wait_status(p, o["order_id"], "paid")

    # A 6000-yuan order is held for review, then approved by ops.
    p.bus.publish("inventory.StockReserved", {"order_id": big["order_id"], "shop_id": SHOP, "lines": lines_of(big)})
    held = wait_status(p, big["order_id"], "on_hold")
    assert held["held_reasons"] == ["amount_over_limit"] and held["review"]["overdue"] is False
    (held_event,) = p.bus.wait_for("orders.OrderHeld", big["order_id"])
    assert held_event["payload"]["reasons"] == ["amount_over_limit"]
    listed = p["orders"].get("/api/v1/orders?held_reason=amount_over_limit", role="ops", shop_id=SHOP).json()
    assert [o["order_id"] for o in listed["items"]] == [big["order_id"]]
    approved = p["orders"].post(
        f"/api/v1/orders/{big['order_id']}/review",
        role="ops",
        shop_id=SHOP,
        json={"decision": "approve", "reason": "电话核实"},
    )
    assert approved.status_code == 200 and approved.json()["status"] == "awaiting_shipment"
    p.bus.wait_for("orders.OrderReadyToShip", big["order_id"])

    # Stock is short and the shop cancels such orders: cancelled, and billing is told to refund.
    p.bus.publish(
        "inventory.StockShortage",
        {
            "order_id": short["order_id"],
            "shop_id": SHOP,
            "policy": "cancel",
            "short": [{"sku_code": "RED-M", "short": 2}],
        },
    )
    wait_status(p, short["order_id"], "cancelled")
    (cancelled,) = p.bus.wait_for("orders.OrderCancelled", short["order_id"])
    assert cancelled["payload"]["was_paid"] is True
    p.bus.publish(
        "billing.RefundSucceeded",
        {"order_id": short["order_id"], "shop_id": SHOP, "refund_id": "R1", "amount_fen": short["payable_fen"]},
    )
    eventually(lambda: order_of(p, short["order_id"])["timeline"][-1]["action"] == "refund_succeeded")

    # The unpaid order closes itself once the clock passes 30 minutes.
    assert p.run_job("orders", "close-unpaid-orders") == 0
    p.clock.advance(minutes=31)
    assert p.run_job("orders", "close-unpaid-orders") == 1
    assert order_of(p, unpaid["order_id"])["status"] == "cancelled"
    (closed,) = p.bus.wait_for("orders.OrderCancelled", unpaid["order_id"])
    assert closed["payload"]["was_paid"] is False

    # The shop waits for stock instead: a promised date, then reserved when stock arrives; an
    # after-sales refund-only request then cancels it before shipment, carrying the case id.
    waiter = place(p, buyer="erin", address={**ADDRESS, "phone": "13900000009"}).json()
    p.bus.publish(
        "billing.PaymentSucceeded",
        {"order_id": waiter["order_id"], "shop_id": SHOP, "payment_id": "PW", "amount_fen": waiter["payable_fen"]},
    )
    wait_status(p, waiter["order_id"], "paid")
    p.bus.publish(
        "inventory.StockShortage",
        {
            "order_id": waiter["order_id"],
            "shop_id": SHOP,
            "policy": "wait",
            "short": [{"sku_code": "RED-M", "short": 2}],
        },
    )
    waiting = wait_status(p, waiter["order_id"], "awaiting_stock")
    assert waiting["promise"] == "预计3天内发货" and waiting["presale"] is True
    p.bus.publish(
        "inventory.StockReserved", {"order_id": waiter["order_id"], "shop_id": SHOP, "lines": lines_of(waiter)}
    )
    # a shortage is not presale for the audit: its reservation may overtake it on the bus
    wait_status(p, waiter["order_id"], "awaiting_shipment")
    p.bus.publish(
        "aftersales.OrderCancelRequested",
        {"order_id": waiter["order_id"], "shop_id": SHOP, "case_id": "C1", "reason": "仅退款"},
    )
    assert wait_status(p, waiter["order_id"], "cancelled")["case_id"] == "C1"
    (by_case,) = p.bus.wait_for("orders.OrderCancelled", waiter["order_id"])
    assert by_case["payload"]["case_id"] == "C1" and by_case["payload"]["was_paid"] is True

    counts = p["orders"].get("/api/v1/orders/counts", role="ops", shop_id=SHOP).json()
    assert counts["by_status"]["awaiting_shipment"] == 1 and counts["by_status"]["cancelled"] == 3


def test_presale_deadline_address_change_and_phone_search(platform):
    """A presale SKU's promise runs from payment and reaches logistics on OrderReadyToShip; an address
    change before dispatch is re-audited and published masked; the order is found by 尾号 (PostgreSQL)."""
    p = platform
    use_stub_peers(p)
    order = place(p, [{"sku_code": "PRE", "quantity": 1}], presale=False).json()
    oid = order["order_id"]
    assert order["presale"] is True
    p.bus.publish(
        "billing.PaymentSucceeded",
        {"order_id": oid, "shop_id": SHOP, "payment_id": "PP", "amount_fen": order["payable_fen"]},
    )
    paid = wait_status(p, oid, "paid")
    assert paid["promise"] == "预计5天内发货"
    (promised,) = p.bus.wait_for("orders.PresalePromised", oid)
    assert promised["payload"]["promised_ship_by"] == paid["promised_ship_by"]
    assert promised["payload"]["reason"] == "sku_presale" and promised["payload"]["ship_days"] == 5

    found = p["orders"].get("/api/v1/orders", role="cs", shop_id=SHOP, params={"phone": "5678", "sku_code": "PRE"})
    assert [o["order_id"] for o in found.json()["items"]] == [oid]
    assert found.json()["items"][0]["address"]["phone"] == "138****5678"

    new = {**ADDRESS, "phone": "13900004321", "detail": "村口大树旁边", "street": "文一西路"}
    changed = p["orders"].post(f"/api/v1/orders/{oid}/address", role="buyer", sub="bob", json={"address": new})
    assert changed.status_code == 200, changed.text
    (event,) = p.bus.wait_for("orders.AddressChanged", oid)
    assert event["payload"]["address"]["phone"] == "139****4321" and "13900004321" not in json.dumps(event)
    found = p["orders"].get("/api/v1/orders", role="cs", shop_id=SHOP, params={"phone": "13900004321"})
    assert [o["order_id"] for o in found.json()["items"]] == [oid]

    p.bus.publish("inventory.StockReserved", {"order_id": oid, "shop_id": SHOP, "lines": lines_of(order)})
    held = wait_status(p, oid, "on_hold")
    assert held["held_reasons"] == ["vague_address"]  # a clear hold; presale would hold it too
    approved = p["orders"].post(
        "/api/v1/orders/review/bulk",
        role="ops",
        shop_id=SHOP,
        json={"decision": "approve", "reason": "电话核实地址", "order_ids": [oid, "O-none"]},
    )
    assert [r["ok"] for r in approved.json()["results"]] == [True, False]
    (ready,) = p.bus.wait_for("orders.OrderReadyToShip", oid)
    assert ready["payload"]["promised_ship_by"] == paid["promised_ship_by"]
