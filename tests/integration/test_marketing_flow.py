"""marketing over the real RabbitMQ, PostgreSQL and HTTP (issue 16): its queue is bound to orders'
and billing's events (ecom_common.topology), and its worker follows them. Orders' and billing's
events are published for real onto the test's exchange, as their relays would; what marketing
publishes comes back through its outbox relay onto a queue of the test's own bound to `marketing.#`.

A coupon locked by a quote is used when the order is paid and released when another is cancelled;
points are earned on completion and taken back by a refund.
"""

from __future__ import annotations

import json

import pytest
from kombu import Connection, Producer, Queue

from ecom_common import bus
from ecom_common.events import make_event
from ecom_common.topology import Topology
from ecom_testkit import Platform, eventually

pytestmark = pytest.mark.integration

LINES = [{"sku_code": "A", "quantity": 1, "list_price_fen": 30000}]
PRICED = [{"sku_code": "A", "quantity": 1, "unit_price_fen": 30000}]


class Bus:
    """Publishes peers' events onto the test's exchange and collects what marketing publishes."""

    def __init__(self, platform: Platform):
        self.topology = Topology(f"{platform.prefix}.")
        self.conn = Connection(platform.broker_url, transport_options={"confirm_publish": True})
        channel = self.conn.channel()
        self.topology.declare(channel)
        self.producer = Producer(channel)
        self.capture = Queue(
            f"{platform.prefix}.test.marketing-out",
            exchange=self.topology.exchange,
            routing_key="marketing.#",
            exclusive=True,
            durable=False,
        )
        self.capture_channel = self.conn.channel()
        self.capture(self.capture_channel).declare()
        self.seen: list[dict] = []

    def publish(self, routing_key: str, payload: dict) -> None:
        envelope = make_event(routing_key, payload)
        bus.publish_raw(
            self.producer, self.topology.exchange, routing_key, envelope.to_json(), message_id=envelope.event_id
        )

    def of(self, event_type: str) -> list[dict]:
        queue = self.capture(self.capture_channel)
        while (message := queue.get(no_ack=True)) is not None:
            self.seen.append(json.loads(message.body))
        return [e["payload"] for e in self.seen if f"{e['producer']}.{e['type']}" == event_type]

    def close(self):
        self.conn.release()


@pytest.fixture
def marketing():
    with Platform(["marketing"]) as p:
        wire = Bus(p)
        yield p["marketing"], wire
        wire.close()


def claim_status(mk, claim_id):
    return mk.get(f"/api/v1/coupon-claims/{claim_id}", role="buyer", sub="bob").json()["status"]


def quote(mk, order_id, claim_id):
    body = {"order_id": order_id, "shop_id": "S1", "buyer_id": "bob", "lines": LINES, "coupon_claim_ids": [claim_id]}
    resp = mk.post("/api/v1/quotes", role="service", sub="orders", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def paid(order_id, payable):
    return {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": "bob",
        "payable_fen": payable,
        "paid_at": "2026-11-11T00:00:00Z",
        "lines": PRICED,
    }


def test_a_coupon_is_locked_released_on_cancel_and_used_on_payment_and_points_follow_the_money(marketing):
    mk, wire = marketing
    body = {"name": "满200减20", "threshold_fen": 20000, "reduction_fen": 2000, "valid_days": 7, "total_quantity": 5}
    t = mk.post("/api/v1/coupon-templates", role="ops", sub="olga", shop_id="S1", json=body).json()["template_id"]
    claim_id = mk.post(f"/api/v1/coupon-templates/{t}/claims", role="buyer", sub="bob").json()["claim_id"]
    assert eventually(lambda: wire.of("marketing.CouponIssued"), message="CouponIssued published")

    # the first order is cancelled unpaid: the coupon comes back
    assert quote(mk, "O1", claim_id)["payable_fen"] == 28000
    wire.publish("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "unpaid"})
    eventually(lambda: claim_status(mk, claim_id) == "available", message="coupon released")
    released = eventually(lambda: wire.of("marketing.CouponReleased"), message="CouponReleased published")
    assert released[0]["order_id"] == "O1"

    # the second order locks it, is placed and paid: the coupon is used
    quote(mk, "O2", claim_id)
    wire.publish("orders.OrderPlaced", {**paid("O2", 28000), "lines": PRICED})
    wire.publish("orders.OrderPaid", paid("O2", 28000))
    eventually(lambda: claim_status(mk, claim_id) == "used", message="coupon used")
    used = eventually(lambda: wire.of("marketing.CouponUsed"), message="CouponUsed published")
    assert used[0]["order_id"] == "O2" and used[0]["claim_id"] == claim_id

    # completion earns points for what was paid; a refund of half takes half back
    done = {"order_id": "O2", "shop_id": "S1", "completed_at": "2026-11-20T00:00:00Z", "payable_fen": 28000}
    wire.publish("orders.OrderCompleted", done)
    member = "/api/v1/members/bob"
    eventually(lambda: mk.get(member, role="buyer", sub="bob", params={"shop_id": "S1"}).json()["points"] == 280)
    earned = eventually(lambda: wire.of("marketing.PointsEarned"), message="PointsEarned published")
    assert earned[0]["points"] == 280
    wire.publish(
        "billing.RefundSucceeded",
        {"order_id": "O2", "shop_id": "S1", "refund_id": "R1", "amount_fen": 14000, "kind": "aftersales"},
    )
    eventually(lambda: mk.get(member, role="buyer", sub="bob", params={"shop_id": "S1"}).json()["points"] == 140)
