"""aftersales over the real RabbitMQ and PostgreSQL: Platform(["aftersales"]) runs the real HTTP
server, worker (consumer, outbox relay) and migrations on a schema and bus namespace of its own.

The one HTTP call aftersales makes (GET orders /api/v1/orders/{id}, with a service token) is answered
by a minimal real HTTP server started in this module (the orders service is built in parallel; the
lead's cross-service tests use the real one). Billing's and logistics' events are published onto the
bus by the test exactly as those services would (registry-validated envelopes, the routing keys of
topology.py); what aftersales emits is read back from the bus through a tap queue bound to
`aftersales.#` in this test's namespace.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from flask import Flask, request
from kombu import Connection, Exchange, Producer, Queue
from werkzeug.serving import make_server

from aftersales.gateways import ORDERS, OrdersGateway
from ecom_common import bus
from ecom_common.auth import decode_token
from ecom_common.clock import iso
from ecom_common.events import make_event
from ecom_common.peers import gateway, inject_gateway
from ecom_common.topology import EXCHANGE
from ecom_testkit import TEST_SECRET, Platform, amqp_url, eventually

pytestmark = pytest.mark.integration


# A minimal orders service: only the call aftersales makes --------------------------------------
class OrdersStub:
    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.callers: list[list[str]] = []
        app = Flask("orders-stub")

        @app.get("/api/v1/orders/<order_id>")
        def get_order(order_id):
            token = request.headers.get("Authorization", "").partition(" ")[2]
            principal = decode_token(TEST_SECRET, token)  # raises on a bad token -> 500, test fails
            self.callers.append(sorted(principal.roles))
            if "service" not in principal.roles:
                return {"status": 403}, 403
            if order_id not in self.orders:
                return {"status": 404, "detail": "order not found"}, 404
            return self.orders[order_id]

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, status="delivered", delivered_ago=timedelta(days=1), now=None, **kw) -> str:
        order_id = f"O{uuid.uuid4().hex[:10]}"
        lines = kw.pop(
            "lines",
            [
                {"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000, "category_id": "c1"},
                {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 8000, "category_id": "c1"},
            ],
        )
        self.orders[order_id] = {
            "order_id": order_id,
            "buyer_id": kw.pop("buyer_id", "bob"),
            "shop_id": kw.pop("shop_id", "S1"),
            "status": status,
            "lines": lines,
            "payable_fen": sum(l["quantity"] * l["unit_price_fen"] for l in lines),
            "paid_at": iso(now - timedelta(days=3)),
            "delivered_at": iso(now - delivered_ago) if status in ("delivered", "completed") else None,
        }
        return order_id


class BusTap:
    """An exclusive queue bound to aftersales.# on this test's exchange, and a publisher that plays
    billing, orders and logistics."""

    def __init__(self, prefix: str):
        self.conn = Connection(amqp_url(), transport_options={"confirm_publish": True})
        self.exchange = Exchange(f"{prefix}{EXCHANGE}", type="topic", durable=True)
        self.queue = Queue(
            f"{prefix}tap.{uuid.uuid4().hex[:6]}",
            exchange=self.exchange,
            routing_key="aftersales.#",
            exclusive=True,
            auto_delete=True,
        )
        self.channel = self.conn.channel()
        self.exchange(self.channel).declare()
        self.bound = self.queue(self.channel)
        self.bound.declare()
        self.producer = Producer(self.conn.channel())
        self.seen: list[dict] = []

    def publish(self, routing_key: str, payload: dict, event=None):
        event = event or make_event(routing_key, payload)
        bus.publish_raw(self.producer, self.exchange, event.routing_key, event.to_json(), message_id=event.event_id)
        return event

    def _drain(self):
        while True:
            msg = self.bound.get(no_ack=True)
            if msg is None:
                return
            self.seen.append(json.loads(msg.body))

    def events(self, routing_key: str, **match) -> list[dict]:
        self._drain()
        producer, _, name = routing_key.partition(".")
        return [
            e
            for e in self.seen
            if e["producer"] == producer
            and e["type"] == name
            and all(e["payload"].get(k) == v for k, v in match.items())
        ]

    def wait(self, routing_key: str, count: int = 1, **match) -> list[dict]:
        return eventually(
            lambda: (lambda found: found if len(found) >= count else None)(self.events(routing_key, **match)),
            message=f"{count} x {routing_key} {match} on the bus",
        )

    def close(self):
        self.conn.release()


@pytest.fixture(scope="module")
def env():
    orders = OrdersStub()
    orders.thread.start()
    platform = Platform(["aftersales"], settings={"AFTERSALES_RETURN_ADDRESSES": json.dumps({"S1": "杭州退货仓 S1"})})
    with platform as p:
        svc = p["aftersales"]
        # Point the service's orders gateway at the stub (Platform aims peers it did not start at a
        # closed port). It is the production OrdersGateway: real PeerClient, real HTTP, service token.
        inject_gateway(
            svc.app, ORDERS, OrdersGateway(svc.config.with_(peers={**svc.config.peers, "orders": orders.url}))
        )
        tap = BusTap(svc.config.bus_prefix)
        try:
            yield p, svc, orders, tap
        finally:
            tap.close()
    orders.server.shutdown()


def status_of(svc, case_id):
    return svc.get(f"/api/v1/cases/{case_id}", role="buyer", sub="bob").json()["status"]


def wait_status(svc, case_id, status):
    return eventually(lambda: status_of(svc, case_id) == status, message=f"case {case_id} {status}")


def open_case(svc, body, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    r = svc.post("/api/v1/cases", role="buyer", sub="bob", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def cs(svc, case_id, action, body=None, role="cs", sub="carol", shop_id="S1"):
    r = svc.post(f"/api/v1/cases/{case_id}/{action}", role=role, sub=sub, shop_id=shop_id, json=body or {})
    assert r.status_code == 200, r.text
    return r.json()


def test_small_refund_only_is_auto_approved_and_closes_on_refund_succeeded(env):
    p, svc, orders, tap = env
    order_id = orders.add(now=p.clock.now())
    case = open_case(
        svc,
        {
            "order_id": order_id,
            "type": "refund_only",
            "reason": "not_as_described",
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
            "amount_fen": 1500,
        },
        key="k1",
    )
    assert case["status"] == "refunding"
    assert orders.callers[-1] == ["service"]  # aftersales asked orders with a service token
    [approved] = tap.wait("aftersales.RefundApproved", case_id=case["case_id"])
    assert approved["payload"]["amount_fen"] == 1500 and approved["payload"]["order_id"] == order_id
    succeeded = tap.publish(
        "billing.RefundSucceeded",
        {"order_id": order_id, "shop_id": "S1", "refund_id": "R1", "amount_fen": 1500, "case_id": case["case_id"]},
    )
    tap.publish("", {}, event=succeeded)  # redelivered: handled once
    wait_status(svc, case["case_id"], "closed")
    tap.wait("aftersales.CaseClosed", case_id=case["case_id"])
    assert len(tap.events("aftersales.CaseClosed", case_id=case["case_id"])) == 1
    # Same Idempotency-Key and body: the first answer again, no second case.
    again = svc.post(
        "/api/v1/cases",
        role="buyer",
        sub="bob",
        headers={"Idempotency-Key": "k1"},
        json={
            "order_id": order_id,
            "type": "refund_only",
            "reason": "not_as_described",
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
            "amount_fen": 1500,
        },
    )
    assert again.json()["case_id"] == case["case_id"] and again.headers["Idempotent-Replayed"] == "true"
    # The unit is refunded: a second refund of it is refused.
    r = svc.post(
        "/api/v1/cases",
        role="buyer",
        sub="bob",
        json={
            "order_id": order_id,
            "type": "return",
            "reason": "quality",
            "lines": [{"sku_code": "RED-M", "quantity": 2}],
        },
    )
    assert r.status_code == 422


def test_return_from_request_to_refund(env):
    p, svc, orders, tap = env
    order_id = orders.add(now=p.clock.now())
    case = open_case(
        svc,
        {
            "order_id": order_id,
            "type": "return",
            "reason": "size",
            "lines": [{"sku_code": "RED-M", "quantity": 2}],
            "evidence": {"images": ["https://img.example/a.jpg"], "text": "偏小"},
        },
    )
    cid = case["case_id"]
    assert case["status"] == "requested"
    assert cs(svc, cid, "approve", {"reason": "ok"})["return_address"] == "杭州退货仓 S1"
    cs(
        svc,
        cid,
        "return-shipment",
        {"carrier": "SF", "tracking_no": "SF1234567"},
        role="buyer",
        sub="bob",
        shop_id=None,
    )
    received = cs(svc, cid, "receive", {"resellable": True}, role="warehouse", sub="wally")
    assert received["status"] == "refunding"
    [rr] = tap.wait("aftersales.ReturnReceived", case_id=cid)
    assert rr["payload"]["resellable"] is True and rr["payload"]["lines"] == [{"sku_code": "RED-M", "quantity": 2}]
    tap.wait("aftersales.RefundApproved", case_id=cid)
    # billing fails first: the case stays refunding with the failure on its timeline; cs retries.
    tap.publish(
        "billing.RefundFailed",
        {"order_id": order_id, "shop_id": "S1", "refund_id": "R7", "reason": "channel timeout", "case_id": cid},
    )
    eventually(
        lambda: svc.get(f"/api/v1/cases/{cid}", role="buyer", sub="bob").json()["refund"]["failed"],
        message="refund failure recorded",
    )
    cs(svc, cid, "retry-refund")
    tap.wait("aftersales.RefundApproved", count=2, case_id=cid)
    tap.publish(
        "billing.RefundSucceeded",
        {"order_id": order_id, "shop_id": "S1", "refund_id": "R8", "amount_fen": 6000, "case_id": cid},
    )
    wait_status(svc, cid, "closed")
    closed = svc.get(f"/api/v1/cases/{cid}", role="cs", sub="carol", shop_id="S1").json()
    assert [t["status"] for t in closed["timeline"]] == [
        "requested",
        "approved",
        "awaiting_return",
        "received",
        "refunding",
        "refunding",
        "refunding",
        "closed",
    ]
    r = svc.post(f"/api/v1/cases/{cid}/feedback", role="buyer", sub="bob", json={"score": 5, "comment": "退款快"})
    assert r.status_code == 201
    report = svc.get("/api/v1/feedback/report", role="cs", sub="carol", shop_id="S1").json()
    assert report["count"] >= 1 and report["distribution"]["5"] >= 1


def test_exchange_is_reshipped_and_closed_by_logistics_events(env):
    p, svc, orders, tap = env
    order_id = orders.add(now=p.clock.now())
    cid = open_case(
        svc,
        {
            "order_id": order_id,
            "type": "exchange",
            "reason": "quality",
            "lines": [{"sku_code": "RED-M", "quantity": 1, "new_sku_code": "RED-M"}],
        },
    )["case_id"]
    cs(svc, cid, "approve")
    cs(svc, cid, "return-shipment", {"carrier": "ZTO", "tracking_no": "ZT0001"}, role="buyer", sub="bob", shop_id=None)
    assert (
        cs(svc, cid, "receive", {"resellable": False, "note": "defect confirmed"}, role="warehouse", sub="wally")[
            "status"
        ]
        == "received"
    )
    [reship] = tap.wait("aftersales.ReshipRequested", case_id=cid)
    assert reship["payload"]["lines"] == [{"sku_code": "RED-M", "quantity": 1}]
    assert reship["payload"]["shipping_paid_by"] == "merchant"
    tap.publish(
        "logistics.ShipmentDispatched",
        {
            "order_id": order_id,
            "shop_id": "S1",
            "shipment_id": "S77",
            "carrier": "SF",
            "tracking_no": "SF77",
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
            "case_id": cid,
        },
    )
    wait_status(svc, cid, "reshipped")
    tap.publish(
        "logistics.ShipmentDelivered", {"order_id": order_id, "shop_id": "S1", "shipment_id": "S77", "case_id": cid}
    )
    wait_status(svc, cid, "closed")
    assert tap.wait("aftersales.CaseClosed", case_id=cid)[0]["payload"]["outcome"] == "exchanged"


def test_refund_only_before_shipment_cancels_the_order(env):
    p, svc, orders, tap = env
    order_id = orders.add(status="awaiting_shipment", now=p.clock.now())
    case = open_case(svc, {"order_id": order_id, "type": "refund_only", "reason": "other"})
    assert case["before_shipment"] and case["amount_fen"] == 14000 and case["status"] == "requested"
    cs(svc, case["case_id"], "approve")
    [cancel] = tap.wait("aftersales.OrderCancelRequested", case_id=case["case_id"])
    assert cancel["payload"]["order_id"] == order_id
    assert tap.events("aftersales.RefundApproved", case_id=case["case_id"]) == []
    tap.publish(
        "orders.OrderCancelled",
        {
            "order_id": order_id,
            "shop_id": "S1",
            "was_paid": True,
            "case_id": case["case_id"],
            "reason": "refund-only before shipment",
        },
    )
    tap.publish(
        "billing.RefundSucceeded",
        {"order_id": order_id, "shop_id": "S1", "refund_id": "R3", "amount_fen": 14000, "case_id": case["case_id"]},
    )
    wait_status(svc, case["case_id"], "closed")


def test_orders_unreachable_is_503_and_nothing_written(env):
    p, svc, orders, tap = env
    order_id = orders.add(now=p.clock.now())
    with svc.app.app_context():
        working = gateway(ORDERS, OrdersGateway)
    inject_gateway(
        svc.app, ORDERS, OrdersGateway(svc.config.with_(peers={**svc.config.peers, "orders": "http://127.0.0.1:9"}))
    )
    try:
        r = svc.post(
            "/api/v1/cases",
            role="buyer",
            sub="bob",
            json={
                "order_id": order_id,
                "type": "return",
                "reason": "quality",
                "lines": [{"sku_code": "RED-M", "quantity": 1}],
            },
        )
    finally:
        inject_gateway(svc.app, ORDERS, working)
    assert r.status_code == 503 and r.headers["Content-Type"].startswith("application/problem+json")
    assert svc.get(f"/api/v1/cases?order_id={order_id}", role="admin", sub="root").json()["items"] == []


def test_races_have_one_winner(env):
    """Two cs approving at once: one 200, one 409. Two cases claiming the same units at once: one
    201, one 422 (conditional UPDATEs on PostgreSQL, no read-modify-write)."""
    from concurrent.futures import ThreadPoolExecutor

    p, svc, orders, tap = env
    order_id = orders.add(now=p.clock.now())
    body = {
        "order_id": order_id,
        "type": "return",
        "reason": "quality",
        "lines": [{"sku_code": "RED-M", "quantity": 2}],
    }
    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(lambda _: svc.post("/api/v1/cases", role="buyer", sub="bob", json=body), range(4)))
    assert sorted(r.status_code for r in created) == [201, 422, 422, 422]
    cid = next(r.json()["case_id"] for r in created if r.status_code == 201)
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda who: svc.post(
                    f"/api/v1/cases/{cid}/{who}", role="cs", sub="carol", shop_id="S1", json={"reason": "racing"}
                ),
                ["approve", "reject"],
            )
        )
    assert sorted(r.status_code for r in answers) == [200, 409]
    case = svc.get(f"/api/v1/cases/{cid}", role="buyer", sub="bob").json()
    assert [t["action"] for t in case["timeline"]] in (["request", "approve"], ["request", "reject"])


def test_sla_breaches_are_escalated_when_the_clock_moves_on(env):
    # Last in this module: it moves the shared clock on.
    p, svc, orders, tap = env
    order_id = orders.add(now=p.clock.now())
    r = svc.post(
        "/api/v1/complaints",
        role="buyer",
        sub="bob",
        json={"order_id": order_id, "tier": "general", "text": "三天没发货"},
    )
    general = r.json()["complaint_id"]
    crisis = svc.post(
        "/api/v1/complaints", role="buyer", sub="bob", json={"order_id": order_id, "tier": "crisis", "text": "媒体曝光"}
    ).json()["complaint_id"]
    tap.wait("aftersales.ComplaintEscalated", complaint_id=crisis)  # at once
    case_id = open_case(
        svc,
        {"order_id": order_id, "type": "return", "reason": "quality", "lines": [{"sku_code": "BLUE-L", "quantity": 1}]},
    )["case_id"]
    assert p.run_job("aftersales", "escalate-complaint-breaches") == 0
    p.clock.advance(hours=2, minutes=1)
    assert p.run_job("aftersales", "escalate-complaint-breaches") == 1
    assert p.run_job("aftersales", "escalate-complaint-breaches") == 0  # once per breach
    [breach] = tap.wait("aftersales.ComplaintEscalated", complaint_id=general)
    assert breach["payload"]["tier"] == "general" and breach["payload"]["kind"] == "breach:first_response"
    board = svc.get("/api/v1/complaints/dashboard", role="cs", sub="carol", shop_id="S1").json()
    item = next(i for i in board["tiers"]["general"]["items"] if i["complaint_id"] == general)
    assert item["overdue"] and item["escalated"] and item["seconds_left"] < 0
    p.clock.advance(hours=22)
    overdue = svc.get("/api/v1/cases?overdue=true", role="cs", sub="carol", shop_id="S1").json()["items"]
    assert case_id in [c["case_id"] for c in overdue]
    assert p.run_job("aftersales", "escalate-complaint-breaches") == 1  # the crisis statement is late
    tap.wait("aftersales.ComplaintEscalated", count=2, complaint_id=crisis)
