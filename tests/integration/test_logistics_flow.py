"""Logistics over the real RabbitMQ and PostgreSQL: orders.OrderReadyToShip published on the bus
becomes a shipment; the warehouse dispatches it over HTTP (ShipmentDispatched on the bus); the carrier
tracks it through the signed webhook to delivery (ShipmentDelivered on the bus); an exchange's
replacement carries its case id; a cancelled order's pending shipment is cancelled; a shipment with no
progress is flagged when the clock moves 48 h on (ShipmentStalled on the bus)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from ecom_common.bus import publish_raw, topology_for
from ecom_common.events import make_event
from ecom_common.topology import EXCHANGE
from ecom_testkit import Platform, eventually
from logistics import domain

pytestmark = pytest.mark.integration

SECRET = "integration-carrier-secret"
ADDRESS = {"name": "王五", "phone": "13712345678", "province": "浙江省", "city": "杭州市", "detail": "文三路 9 号"}


class BusTap:
    """A private queue bound to the test's exchange: what the services really published."""

    def __init__(self, platform: Platform, pattern: str = "logistics.#"):
        self.conn = Connection(platform.broker_url, transport_options={"confirm_publish": True})
        self.exchange = Exchange(f"{platform.prefix}.{EXCHANGE}", type="topic", durable=True)
        channel = self.conn.channel()
        # Like every process (topology.py): declare everything before publishing, so the logistics
        # queue is bound even if its consumer has not started yet.
        topology_for(platform["logistics"].config).declare(channel)
        self.queue = Queue(
            f"{platform.prefix}.test-tap.{uuid.uuid4().hex[:6]}",
            self.exchange,
            routing_key=pattern,
            exclusive=True,
            auto_delete=True,
        )(channel)
        self.queue.declare()
        self.producer = Producer(self.conn.channel())
        self.seen: list[dict] = []

    def publish(self, routing_key: str, payload: dict) -> None:
        """Publish an event as its producer's relay would (persistent, confirmed)."""
        event = make_event(routing_key, payload)
        publish_raw(self.producer, self.exchange, routing_key, event.to_json(), message_id=event.event_id)

    def wait_for(self, routing_key: str, **payload_match) -> dict:
        producer, _, name = routing_key.partition(".")

        def find():
            while (message := self.queue.get(no_ack=True)) is not None:
                self.seen.append(json.loads(message.body))
            for env in self.seen:
                if (
                    env["producer"] == producer
                    and env["type"] == name
                    and all(env["payload"].get(k) == v for k, v in payload_match.items())
                ):
                    return env
            return None

        return eventually(find, timeout=20, message=f"{routing_key} {payload_match} on the bus")

    def close(self) -> None:
        self.conn.release()


@pytest.fixture(scope="module")
def platform():
    with Platform(["logistics"], settings={"LOGISTICS_CARRIER_WEBHOOK_SECRET": SECRET}) as p:
        yield p


@pytest.fixture
def tap(platform):
    t = BusTap(platform)
    yield t
    t.close()


def shipment_of(p: Platform, order_id: str, **filters) -> dict:
    def find():
        params = {"order_id": order_id, **filters}
        items = p["logistics"].get("/api/v1/shipments", role="warehouse", shop_id="S1", params=params).json()["items"]
        return items[0] if items else None

    return eventually(find, message=f"a shipment for {order_id}")


def carrier_reports(p: Platform, body: dict) -> requests.Response:
    raw = json.dumps(body).encode()
    return requests.post(
        p["logistics"].url + "/api/v1/tracking/webhook",
        data=raw,
        timeout=10,
        headers={"Content-Type": "application/json", domain.SIGNATURE_HEADER: domain.sign(SECRET, raw)},
    )


def dispatch(p: Platform, shipment_id: str, tracking_no: str) -> dict:
    resp = p["logistics"].post(
        f"/api/v1/shipments/{shipment_id}/dispatch",
        role="warehouse",
        shop_id="S1",
        json={"tracking_no": tracking_no},
        headers={"Idempotency-Key": f"d-{shipment_id}"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_ready_to_ship_to_delivery_and_an_exchange_replacement(platform, tap):
    p = platform
    order_id = f"O{uuid.uuid4().hex[:8]}"
    tap.publish(
        "orders.OrderReadyToShip",
        {
            "order_id": order_id,
            "shop_id": "S1",
            "paid_at": "2026-11-23T00:00:00Z",
            "address": ADDRESS,
            "lines": [{"sku_code": "TEA-250", "quantity": 2, "unit_price_fen": 4900}],
        },
    )
    s = shipment_of(p, order_id)
    assert s["status"] == "pending" and s["carrier"] == "SF"  # 浙江: the next-day carrier
    assert s["receiver"]["phone"] == "137****5678" and s["pick_list"] == [{"sku_code": "TEA-250", "quantity": 2}]
    tap.wait_for("logistics.ShipmentCreated", shipment_id=s["shipment_id"])
    bill = p["logistics"].get(f"/api/v1/shipments/{s['shipment_id']}/waybill", role="warehouse", shop_id="S1").json()
    assert bill["order_id"] == order_id and bill["receiver"]["name"] == "王*"

    tracking_no = f"SF{uuid.uuid4().hex[:10]}"
    dispatch(p, s["shipment_id"], tracking_no)
    sent = tap.wait_for("logistics.ShipmentDispatched", shipment_id=s["shipment_id"])
    assert sent["payload"] == {
        "shipment_id": s["shipment_id"],
        "order_id": order_id,
        "shop_id": "S1",
        "carrier": "SF",
        "tracking_no": tracking_no,
        "case_id": None,
        "lines": [{"sku_code": "TEA-250", "quantity": 2}],
    }

    report = {"carrier": "SF", "tracking_no": tracking_no, "location": "杭州转运中心"}
    assert (
        carrier_reports(p, {**report, "event_id": f"{tracking_no}-1", "status": "in_transit"}).json()["status"]
        == "in_transit"
    )
    bad = requests.post(
        p["logistics"].url + "/api/v1/tracking/webhook",
        json={**report, "event_id": "x", "status": "delivered"},
        headers={domain.SIGNATURE_HEADER: "sha256=" + "0" * 64},
        timeout=10,
    )
    assert bad.status_code == 401 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert (
        carrier_reports(p, {**report, "event_id": f"{tracking_no}-2", "status": "out_for_delivery"}).status_code == 200
    )
    done = carrier_reports(p, {**report, "event_id": f"{tracking_no}-3", "status": "delivered"})
    assert done.json() == {"shipment_id": s["shipment_id"], "status": "delivered", "duplicate": False}
    again = carrier_reports(p, {**report, "event_id": f"{tracking_no}-3", "status": "delivered"})
    assert again.json()["duplicate"] is True
    delivered = tap.wait_for("logistics.ShipmentDelivered", shipment_id=s["shipment_id"])
    assert delivered["payload"]["order_id"] == order_id and delivered["payload"]["case_id"] is None
    detail = p["logistics"].get(f"/api/v1/shipments/{s['shipment_id']}", role="ops", shop_id="S1").json()
    assert [t["status"] for t in detail["tracking"]] == ["in_transit", "out_for_delivery", "delivered"]

    # The exchange: aftersales asks for a replacement; it goes to the original receiver.
    case_id = f"C{uuid.uuid4().hex[:8]}"
    tap.publish(
        "aftersales.ReshipRequested",
        {"case_id": case_id, "order_id": order_id, "shop_id": "S1", "lines": [{"sku_code": "TEA-500", "quantity": 1}]},
    )
    r = shipment_of(p, order_id, case_id=case_id)
    assert r["receiver"] == s["receiver"] and r["pick_list"] == [{"sku_code": "TEA-500", "quantity": 1}]
    dispatch(p, r["shipment_id"], f"SF{uuid.uuid4().hex[:10]}")
    assert tap.wait_for("logistics.ShipmentDispatched", shipment_id=r["shipment_id"])["payload"]["case_id"] == case_id
    # Only the order's shipment and its replacement exist: the replayed reports created nothing else.
    shipments = (
        p["logistics"].get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"order_id": order_id}).json()
    )
    assert {x["shipment_id"] for x in shipments["items"]} == {s["shipment_id"], r["shipment_id"]}


def test_a_cancelled_orders_pending_shipment_is_cancelled(platform, tap):
    p = platform
    order_id = f"O{uuid.uuid4().hex[:8]}"
    tap.publish(
        "orders.OrderReadyToShip",
        {"order_id": order_id, "shop_id": "S1", "address": ADDRESS, "lines": [{"sku_code": "CUP-1", "quantity": 1}]},
    )
    s = shipment_of(p, order_id)
    tap.publish(
        "orders.OrderCancelled", {"order_id": order_id, "shop_id": "S1", "reason": "buyer cancelled", "was_paid": True}
    )

    def cancelled():
        detail = p["logistics"].get(f"/api/v1/shipments/{s['shipment_id']}", role="warehouse", shop_id="S1").json()
        return detail if detail["status"] == "cancelled" else None

    detail = eventually(cancelled, message="the shipment cancelled")
    assert detail["cancelled_at"] and "buyer cancelled" in detail["timeline"][-1]["reason"]
    late = p["logistics"].post(
        f"/api/v1/shipments/{s['shipment_id']}/dispatch",
        role="warehouse",
        shop_id="S1",
        json={"tracking_no": "SF-too-late"},
    )
    assert late.status_code == 409


def test_a_stalled_shipment_is_flagged_when_the_clock_moves_48h_on(platform, tap):
    p = platform
    order_id = f"O{uuid.uuid4().hex[:8]}"
    tap.publish(
        "orders.OrderReadyToShip",
        {
            "order_id": order_id,
            "shop_id": "S1",
            "address": {**ADDRESS, "province": "西藏自治区"},
            "lines": [{"sku_code": "COAT-XL", "quantity": 1}],
        },
    )
    s = shipment_of(p, order_id)
    assert s["carrier"] == "EMS"  # remote: the wide-coverage carrier
    dispatch(p, s["shipment_id"], f"EMS{uuid.uuid4().hex[:10]}")
    assert p.run_job("logistics", "flag-stalled-shipments") == 0
    p.clock.advance(hours=48)
    assert p.run_job("logistics", "flag-stalled-shipments") >= 1
    stalled = tap.wait_for("logistics.ShipmentStalled", shipment_id=s["shipment_id"])
    assert stalled["payload"]["order_id"] == order_id
    queue = p["logistics"].get("/api/v1/shipments/exceptions", role="ops", shop_id="S1").json()["items"]
    mine = [q for q in queue if q["shipment_id"] == s["shipment_id"]]
    assert mine and mine[0]["exception_kind"] == "stalled" and mine[0]["time_in_exception_s"] >= 0
    assert p.run_job("logistics", "flag-stalled-shipments") == 0  # flagged once
