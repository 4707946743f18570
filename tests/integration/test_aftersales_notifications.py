"""Buyer notifications over the real RabbitMQ and PostgreSQL: Platform(["aftersales"]) with its
worker consuming `aftersales.events`; logistics' and orders' events are published on the bus
as those services would, and the `send-notifications` job is run explicitly (the test clock moves).

The orders call the job makes (GET /api/v1/orders/{id}, service token: the buyer and the receiver's
phone) is answered by a minimal real HTTP server started in this module.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask, request
from kombu import Connection, Exchange, Producer
from werkzeug.serving import make_server

from ecom_common import bus
from ecom_common.auth import decode_token
from ecom_common.events import make_event
from ecom_common.topology import EXCHANGE
from ecom_testkit import TEST_SECRET, Platform, amqp_url, eventually


class OrdersStub:
    """Answers GET /api/v1/orders/{id} to a service token, with the receiver's full phone."""

    def __init__(self):
        self.orders: dict[str, dict] = {}
        app = Flask("orders-stub")

        @app.get("/api/v1/orders/<order_id>")
        def get_order(order_id):
            token = request.headers.get("Authorization", "").partition(" ")[2]
            if "service" not in decode_token(TEST_SECRET, token).roles:
                return {"status": 403}, 403
            if order_id not in self.orders:
                return {"status": 404}, 404
            return self.orders[order_id]

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self) -> str:
        order_id = f"O{uuid.uuid4().hex[:10]}"
        self.orders[order_id] = {
            "order_id": order_id,
            "buyer_id": "bob",
            "shop_id": "S1",
            "status": "shipped",
            "lines": [{"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000}],
            "payable_fen": 6000,
            "address": {"name": "张三", "phone": "13912345678", "detail": "文一西路 1 号"},
        }
        return order_id


class Bus:
    """Publishes onto this test's exchange as logistics and orders would."""

    def __init__(self, config):
        self.conn = Connection(amqp_url(), transport_options={"confirm_publish": True})
        # Declare the whole topology first, as every process does: an event published before the
        # worker's consumer declared its queue would otherwise be routed nowhere.
        self.channel = self.conn.channel()
        bus.topology_for(config).declare(self.channel)
        self.exchange = Exchange(f"{config.bus_prefix}{EXCHANGE}", type="topic", durable=True)
        self.producer = Producer(self.conn.channel())

    def publish(self, routing_key: str, payload: dict, event=None):
        event = event or make_event(routing_key, payload)
        bus.publish_raw(self.producer, self.exchange, event.routing_key, event.to_json(), message_id=event.event_id)
        return event

    def close(self):
        self.conn.release()


pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env():
    orders = OrdersStub()
    with Platform(["aftersales"], settings={"AFTERSALES_NOTIFY_RETRY_BASE_SECONDS": "10"}) as p:
        svc = p["aftersales"]
        # The job runs with the service's Database: aim its config's orders peer at the stub.
        svc.db.config = svc.db.config.with_(peers={**svc.db.config.peers, "orders": orders.url})
        tap = Bus(svc.config)
        try:
            yield p, svc, orders, tap
        finally:
            tap.close()
    orders.server.shutdown()


def add_order(p, orders) -> str:
    return orders.add()


def messages(svc, **params):
    r = svc.get("/api/v1/messages", role="admin", sub="root", params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def queued(svc, order_id, template, count=1):
    return eventually(
        lambda: (lambda found: found if len(found) >= count else None)(
            messages(svc, order_id=order_id, template=template)
        ),
        message=f"{count} {template} message(s) for {order_id}",
    )


def send(p):
    return p.run_job("aftersales", "send-notifications")


def dispatched(order_id, shipment_id):
    return {
        "order_id": order_id,
        "shop_id": "S1",
        "shipment_id": shipment_id,
        "carrier": "中通",
        "tracking_no": f"ZT{uuid.uuid4().hex[:10]}",
        "lines": [{"sku_code": "RED-M", "quantity": 2}],
    }


def sandbox(svc, fail, error=None):
    r = svc.put("/api/v1/notifications/sandbox-sms", role="admin", sub="root", json={"fail": fail, "error": error})
    assert r.status_code == 200, r.text


def to_local(p, hour, minute=0):
    """Move the platform clock on to the next hh:mm in China (UTC+8)."""
    local = p.clock.now() + timedelta(hours=8)
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    p.clock.advance(seconds=(target - local).total_seconds())


def test_a_shipped_order_gets_exactly_one_shipped_message(env):
    p, svc, orders, tap = env
    order_id = add_order(p, orders)
    payload = dispatched(order_id, f"SH{uuid.uuid4().hex[:8]}")
    event = tap.publish("logistics.ShipmentDispatched", payload)
    tap.publish("", {}, event=event)  # the same event delivered twice
    tap.publish("logistics.ShipmentDispatched", payload)  # and republished with a new event id
    queued(svc, order_id, "order_shipped")
    # wait until the worker has handled all three deliveries (the consumer is asynchronous)
    eventually(lambda: _handled(svc, 3), message="three deliveries handled")
    send(p)
    [m] = messages(svc, order_id=order_id)
    assert m["status"] == "sent" and m["template"] == "order_shipped"
    assert "已发货" in m["body"] and payload["tracking_no"] in m["body"]
    assert m["phone_masked"] == "139****5678" and m["buyer_id"] == "bob"
    assert "13912345678" not in str(messages(svc))
    # the buyer reads it
    r = svc.get("/api/v1/messages", role="buyer", sub="bob", params={"order_id": order_id})
    assert [x["message_id"] for x in r.json()["items"]] == [m["message_id"]]
    assert send(p) == 0  # nothing sent twice


def _handled(svc, n):
    with svc.db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM inbox WHERE consumer = 'aftersales.events'"))
        return rows.scalar_one() >= n - 1  # the copy of the same event id is skipped, never stored twice


def test_a_failing_sms_provider_is_retried_then_parked_with_the_error(env):
    p, svc, orders, tap = env
    sandbox(svc, True, "网关 503")
    try:
        order_id = add_order(p, orders)
        tap.publish("logistics.ShipmentDispatched", dispatched(order_id, f"SH{uuid.uuid4().hex[:8]}"))
        queued(svc, order_id, "order_shipped")
        send(p)
        [m] = messages(svc, order_id=order_id)
        assert (m["status"], m["attempts"], m["last_error"]) == ("pending", 1, "网关 503")
        for _ in range(4):
            p.clock.advance(minutes=10)
            send(p)
        [m] = messages(svc, order_id=order_id)
        assert (m["status"], m["attempts"], m["last_error"]) == ("parked", 5, "网关 503")
        assert [t["action"] for t in m["timeline"]] == ["queue"] + ["attempt_failed"] * 4 + ["park"]
    finally:
        sandbox(svc, False)


def test_quiet_hours_hold_the_review_invitation_with_a_test_clock(env):
    p, svc, orders, tap = env
    to_local(p, 22, 30)  # delivered at 22:30 China time; the invitation is due 24 h later
    order_id = add_order(p, orders)
    tap.publish("orders.OrderDelivered", {"order_id": order_id, "shop_id": "S1"})
    [m] = queued(svc, order_id, "review_invitation")
    assert m["status"] == "pending" and m["category"] == "marketing"
    p.clock.advance(hours=24, minutes=1)  # 22:31 the next day: quiet
    send(p)
    [m] = messages(svc, order_id=order_id)
    assert (m["status"], m["attempts"]) == ("pending", 0) and m["timeline"][-1]["action"] == "hold"
    p.clock.advance(hours=9)  # 07:31
    send(p)
    assert messages(svc, order_id=order_id)[0]["status"] == "pending"
    p.clock.advance(minutes=30)  # 08:01
    send(p)
    [m] = messages(svc, order_id=order_id)
    assert m["status"] == "sent" and "评价" in m["body"]


def test_a_presale_promise_reaches_the_buyer_once(env):
    """orders.PresalePromised is bound to aftersales.events: 预计N天内发货 with the date, one message."""
    p, svc, orders, tap = env
    order_id = add_order(p, orders)
    promised = {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": "bob",
        "promised_ship_by": "2026-12-10T08:00:00Z",
        "promise": "预计7天内发货",
        "ship_days": 7,
        "reason": "sku_presale",
    }
    tap.publish("orders.PresalePromised", promised)
    tap.publish("orders.PresalePromised", promised)  # the same fact again, under a new event id
    queued(svc, order_id, "presale_promised")
    send(p)
    [m] = messages(svc, order_id=order_id)
    assert m["status"] == "sent" and "预计7天内发货" in m["body"] and "2026-12-10" in m["body"]
