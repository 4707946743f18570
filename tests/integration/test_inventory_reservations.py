"""inventory over the real RabbitMQ, PostgreSQL and HTTP (issue 4, "Inventory" and "No oversell").

Platform(["inventory"]) runs inventory (HTTP + worker) on its own schema and bus namespace. Orders',
catalog's and logistics' events are published for real onto the test's exchange
`<prefix>.ecom.events`, exactly as those services' relays would; what inventory publishes is read
back from a queue of the test's own bound to `inventory.#` (so it proves the outbox relay too).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer, Queue

from ecom_common import bus
from ecom_common.clock import iso
from ecom_common.db import Database
from ecom_common.events import make_event
from ecom_common.service import load
from ecom_common.topology import Topology
from ecom_testkit import Platform, eventually
from inventory.models import Reservation, StockItem, StockMovement

pytestmark = pytest.mark.integration

SHOP = "S1"
T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)


class Bus:
    """Publishes peers' events onto the test's exchange and collects what inventory publishes."""

    def __init__(self, platform: Platform):
        self.topology = Topology(f"{platform.prefix}.")
        self.conn = Connection(platform.broker_url, transport_options={"confirm_publish": True})
        channel = self.conn.channel()
        self.topology.declare(channel)  # the same declarations the services make; idempotent
        self.producer = Producer(channel)
        self.capture = Queue(
            f"{platform.prefix}.test.inventory-out",
            exchange=self.topology.exchange,
            routing_key="inventory.#",
            exclusive=True,
            durable=False,
        )
        self.capture_channel = self.conn.channel()
        self.capture(self.capture_channel).declare()
        self.seen: list[dict] = []

    def publish(self, routing_key: str, payload: dict, envelope=None):
        envelope = envelope or make_event(routing_key, payload)
        bus.publish_raw(
            self.producer, self.topology.exchange, routing_key, envelope.to_json(), message_id=envelope.event_id
        )
        return envelope

    def collect(self) -> list[dict]:
        queue = self.capture(self.capture_channel)
        while True:
            message = queue.get(no_ack=True)
            if message is None:
                return self.seen
            self.seen.append(json.loads(message.body))

    def of(self, event_type: str) -> list[dict]:
        return [e["payload"] for e in self.collect() if f"{e['producer']}.{e['type']}" == event_type]

    def close(self):
        self.conn.release()


@pytest.fixture
def platform():
    with Platform(["inventory"]) as p:
        yield p


@pytest.fixture
def wire(platform):
    b = Bus(platform)
    yield b
    b.close()


def list_sku(wire, platform, sku_code, threshold=10):
    wire.publish(
        "catalog.ProductListed",
        {
            "product_id": "P-" + sku_code,
            "shop_id": SHOP,
            "skus": [{"sku_code": sku_code, "list_price_fen": 9900, "low_stock_threshold": threshold}],
        },
    )
    eventually(
        lambda: (
            platform["inventory"].get(f"/api/v1/stock/{sku_code}", role="warehouse", shop_id=SHOP).status_code == 200
        ),
        message="stock item created",
    )


def inbound(platform, sku_code, quantity, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    resp = platform["inventory"].post(
        f"/api/v1/stock/{sku_code}/adjustments",
        role="warehouse",
        sub="wang",
        shop_id=SHOP,
        headers=headers,
        json={"kind": "inbound", "quantity": quantity},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def order_paid(order_id, lines, minute=0):
    return {
        "order_id": order_id,
        "shop_id": SHOP,
        "buyer_id": "b-" + order_id,
        "payable_fen": 9900,
        "paid_at": iso(T0 + timedelta(minutes=minute)),
        "lines": [{"sku_code": s, "quantity": q, "unit_price_fen": 9900} for s, q in lines],
    }


def stock_row(platform, sku_code):
    with platform["inventory"].db.engine.connect() as conn:
        return conn.execute(
            sa.select(StockItem.on_hand, StockItem.reserved).where(
                StockItem.shop_id == SHOP, StockItem.sku_code == sku_code
            )
        ).one()


def ledger_sum(platform, sku_code):
    with platform["inventory"].db.engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.select(sa.func.sum(StockMovement.on_hand_delta), sa.func.sum(StockMovement.reserved_delta)).where(
                    StockMovement.shop_id == SHOP, StockMovement.sku_code == sku_code
                )
            ).one()
        )


def statuses(platform):
    with platform["inventory"].db.engine.connect() as conn:
        return dict(conn.execute(sa.select(Reservation.order_id, Reservation.status)).all())


def test_no_oversell_200_concurrent_paid_orders_for_50_units_on_two_consumers(platform, wire):
    inv = platform["inventory"]
    list_sku(wire, platform, "HOT", threshold=10)
    put = inv.put("/api/v1/stock-policy", role="ops", shop_id=SHOP, json={"shortage_policy": "cancel"})
    assert put.status_code == 200 and put.json()["shortage_policy"] == "cancel"
    inbound(platform, "HOT", 50)

    # A second worker on the same config and queue: two consumers really reserve at the same time.
    second = load("inventory").create_worker(inv.config, Database(inv.config)).start()
    handled = Counter()
    for name, worker in (("first", inv.worker), ("second", second)):
        consumer = worker.consumers[0]
        original = consumer.handle_batch  # every message goes through it, alone or in a batch

        def counting(envelopes, _original=original, _name=name):
            outcomes = _original(envelopes)
            handled[_name] += len(envelopes)
            return outcomes

        consumer.handle_batch = counting

    # Sample the stock row while the storm runs: it must never go negative or over-reserved.
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(tuple(stock_row(platform, "HOT")))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for i in range(200):
            wire.publish("orders.OrderPaid", order_paid(f"O{i:03d}", [("HOT", 1)], minute=i))

        def outcomes():
            return len(wire.of("inventory.StockReserved")) + len(wire.of("inventory.StockShortage"))

        eventually(lambda: outcomes() >= 200, timeout=120, message="200 reservation outcomes published")
    finally:
        stop.set()
        sampler.join(5)
        second.stop(timeout=10)
        second.db.dispose()

    reserved = wire.of("inventory.StockReserved")
    short = wire.of("inventory.StockShortage")
    assert len(reserved) == 50 and len(short) == 150
    assert len({e["order_id"] for e in reserved + short}) == 200
    assert {e["policy"] for e in short} == {"cancel"}
    assert all(e["short"] == [{"sku_code": "HOT", "requested": 1, "available": 0}] for e in short)
    assert handled["first"] > 0 and handled["second"] > 0, handled  # both consumers took part
    assert tuple(stock_row(platform, "HOT")) == (50, 50)
    assert all(on_hand >= 0 and 0 <= reserved_ <= on_hand for on_hand, reserved_ in samples)
    assert ledger_sum(platform, "HOT") == (50, 50)
    assert Counter(statuses(platform).values()) == {"reserved": 50, "short": 150}
    # one alert for the one crossing of the threshold (available 10), not one per order below it
    eventually(lambda: len(wire.of("inventory.LowStock")) >= 1, message="LowStock published")
    assert [(e["available"], e["threshold"]) for e in wire.of("inventory.LowStock")] == [(10, 10)]
    stock = inv.get("/api/v1/stock/HOT", role="warehouse", shop_id=SHOP).json()
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (50, 50, 0)


def test_duplicate_paid_cancel_dispatch_and_the_waiting_queue(platform, wire):
    inv = platform["inventory"]
    list_sku(wire, platform, "TEE", threshold=0)
    inbound(platform, "TEE", 3, key="PO-1")
    inbound(platform, "TEE", 3, key="PO-1")  # a retried receipt counts once
    assert tuple(stock_row(platform, "TEE")) == (3, 0)

    # duplicate OrderPaid: the same event redelivered, and a second event for the same order
    first = wire.publish("orders.OrderPaid", order_paid("O1", [("TEE", 2)], minute=1))
    wire.publish("orders.OrderPaid", {}, envelope=first)
    wire.publish("orders.OrderPaid", order_paid("O1", [("TEE", 2)], minute=1))
    eventually(lambda: statuses(platform).get("O1") == "reserved", message="O1 reserved")
    assert tuple(stock_row(platform, "TEE")) == (3, 2)

    # cancel releases
    wire.publish("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "reason": "buyer", "was_paid": True})
    eventually(lambda: statuses(platform).get("O1") == "released", message="O1 released")
    assert tuple(stock_row(platform, "TEE")) == (3, 0)

    # dispatch deducts: O2 takes the whole shelf
    wire.publish("orders.OrderPaid", order_paid("O2", [("TEE", 3)], minute=2))
    eventually(lambda: statuses(platform).get("O2") == "reserved", message="O2 reserved")
    wire.publish(
        "logistics.ShipmentDispatched",
        {
            "order_id": "O2",
            "shop_id": SHOP,
            "shipment_id": "S2",
            "carrier": "SF",
            "tracking_no": "SF100",
            "lines": [{"sku_code": "TEE", "quantity": 3}],
        },
    )
    eventually(lambda: statuses(platform).get("O2") == "deducted", message="O2 deducted")
    assert tuple(stock_row(platform, "TEE")) == (0, 0)

    # waiting orders (policy wait, the default) are reserved when stock arrives, oldest payment first;
    # published newest payment first to show the order comes from paid_at, not from arrival
    for order_id, minute in (("W3", 30), ("W2", 20), ("W1", 10)):
        wire.publish("orders.OrderPaid", order_paid(order_id, [("TEE", 1)], minute=minute))
    eventually(
        lambda: [statuses(platform).get(o) for o in ("W1", "W2", "W3")] == ["waiting"] * 3,
        message="three orders waiting",
    )
    receipt = inbound(platform, "TEE", 2)
    assert receipt["served_orders"] == ["W1", "W2"]
    assert statuses(platform)["W3"] == "waiting"
    receipt = inbound(platform, "TEE", 5)
    assert receipt["served_orders"] == ["W3"]
    eventually(
        lambda: [e["order_id"] for e in wire.of("inventory.StockReserved")] == ["O1", "O2", "W1", "W2", "W3"] or None,
        message="StockReserved for O1, O2, W1, W2, W3 in that order",
    )
    shortage = wire.of("inventory.StockShortage")
    assert {e["order_id"] for e in shortage} == {"W1", "W2", "W3"} and {e["policy"] for e in shortage} == {"wait"}
    assert tuple(stock_row(platform, "TEE")) == (7, 3)
    assert ledger_sum(platform, "TEE") == (7, 3)
    assert len(wire.of("inventory.StockReleased")) == 1 and len(wire.of("inventory.StockDeducted")) == 1
    o1 = inv.get("/api/v1/stock/TEE/movements?cause=order:O1", role="warehouse", shop_id=SHOP).json()["items"]
    assert sorted(m["kind"] for m in o1) == ["release", "reserve"]  # reserved once, released once
    queue = inv.get("/api/v1/reservations?status=waiting", role="warehouse", shop_id=SHOP).json()["items"]
    assert queue == []
