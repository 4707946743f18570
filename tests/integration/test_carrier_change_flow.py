"""Logistics' events over the real RabbitMQ and PostgreSQL, Platform(["logistics", "aftersales"]): the
warehouse changes the carrier of a dispatched parcel over HTTP, logistics.CarrierChanged goes out
through the outbox, and aftersales' worker queues exactly one 【物流变更】 message for the buyer (orders'
side, the order's tracking number, is tested on its consumer: services/orders/tests); a presale
OrderReadyToShip's promised_ship_by becomes the shipment's dispatch deadline; an orders.AddressChanged
delivered twice readdresses the pending shipment once and queues one 【地址已修改】 message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ecom_common.events import make_event
from ecom_testkit import Platform, eventually
from ecom_testkit.scenarios import publish

pytestmark = pytest.mark.integration

ADDRESS = {"name": "王五", "phone": "13712345678", "province": "浙江省", "city": "杭州市", "detail": "文三路 9 号"}


@pytest.fixture(scope="module")
def platform():
    with Platform(["logistics", "aftersales"], settings={"LOGISTICS_CARRIER_WEBHOOK_SECRET": "s"}) as p:
        yield p


def test_a_carrier_change_reaches_the_buyer_once(platform):
    p = platform
    order_id = f"O{uuid.uuid4().hex[:8]}"
    payload = {"order_id": order_id, "shop_id": "S1", "address": ADDRESS, "lines": [{"sku_code": "TEA", "quantity": 1}]}
    publish(p["logistics"].config, [make_event("orders.OrderReadyToShip", payload)])

    def shipment():
        items = p["logistics"].get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"order_id": order_id})
        return (items.json()["items"] or [None])[0]

    s = eventually(shipment, timeout=30, message="the shipment")
    wh = {"role": "warehouse", "shop_id": "S1"}
    first, second = f"SF{uuid.uuid4().hex[:10]}", f"ZT{uuid.uuid4().hex[:10]}"
    url = f"/api/v1/shipments/{s['shipment_id']}"
    assert p["logistics"].post(f"{url}/dispatch", **wh, json={"tracking_no": first}).status_code == 200
    body = {"carrier": "ZTO", "tracking_no": second, "reason": "顺丰未揽收"}
    assert p["logistics"].post(f"{url}/change-carrier", **wh, json=body).status_code == 200

    def messages():
        resp = p["aftersales"].get("/api/v1/messages", role="cs", shop_id="S1", params={"order_id": order_id})
        items = [m for m in resp.json()["items"] if m["template"] == "carrier_changed"]
        return items or None

    [message] = eventually(messages, timeout=30, message="the carrier_changed message")
    assert message["category"] == "service"  # its text is rendered when sent (unit-tested)

    def both():  # 已发货 and 物流变更, and nothing more for the change
        resp = p["aftersales"].get("/api/v1/messages", role="cs", shop_id="S1", params={"order_id": order_id})
        return sorted(m["template"] for m in resp.json()["items"]) == ["carrier_changed", "order_shipped"] or None

    eventually(both, timeout=30, message="one message per event")


def test_a_presale_promise_on_the_bus_is_the_dispatch_deadline(platform):
    """orders.OrderReadyToShip.promised_ship_by (presale) becomes the shipment's dispatch deadline, and
    the stage clocks show it as such."""
    p = platform
    order_id = f"O{uuid.uuid4().hex[:8]}"
    promised = "2030-01-05T10:00:00Z"
    payload = {
        "order_id": order_id,
        "shop_id": "S1",
        "address": ADDRESS,
        "lines": [{"sku_code": "TEA", "quantity": 1}],
        "paid_at": "2029-12-30T10:00:00Z",
        "promised_ship_by": promised,
    }
    publish(p["logistics"].config, [make_event("orders.OrderReadyToShip", payload)])

    def shipment():
        items = p["logistics"].get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"order_id": order_id})
        return (items.json()["items"] or [None])[0]

    s = eventually(shipment, timeout=30, message="the presale shipment")
    assert s["dispatch_due_at"] == promised and s["overdue"] is False
    board = p["logistics"].get("/api/v1/sla", role="ops", shop_id="S1", params={"limit": 200}).json()["items"]
    [clock] = [i for i in board if i["shipment_id"] == s["shipment_id"] and i["kind"] == "dispatch"]
    assert clock["basis"] == "presale" and clock["due_at"] == promised


def test_an_address_change_on_the_bus_readdresses_the_shipment_and_tells_the_buyer_once(platform):
    """orders.AddressChanged, delivered twice: logistics' pending shipment takes the new (masked)
    receiver and region, aftersales queues exactly one 【地址已修改】 message."""
    p = platform
    order_id = f"O{uuid.uuid4().hex[:8]}"
    payload = {"order_id": order_id, "shop_id": "S1", "address": ADDRESS, "lines": [{"sku_code": "TEA", "quantity": 1}]}
    publish(p["logistics"].config, [make_event("orders.OrderReadyToShip", payload)])

    def shipment():
        items = p["logistics"].get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"order_id": order_id})
        return (items.json()["items"] or [None])[0]

    s = eventually(shipment, timeout=30, message="the shipment")
    assert s["province"] == "浙江"
    new = {"name": "赵*", "phone": "136****4321", "province": "江苏", "city": "南京市", "detail": "****"}
    changed = {"order_id": order_id, "shop_id": "S1", "buyer_id": "b1", "address": new, "status": "awaiting_shipment"}
    changed.update(held=False, reasons=[], changed_at=datetime.now(UTC).isoformat(), changed_by="b1")
    event = make_event("orders.AddressChanged", changed)
    publish(p["logistics"].config, [event, event])  # the same event twice

    def readdressed():
        current = shipment()
        return current if current["province"] == "江苏" else None

    current = eventually(readdressed, timeout=30, message="the new receiver on the shipment")
    assert current["receiver"]["phone"] == "136****4321" and current["receiver"]["city"] == "南京市"

    def messages():
        resp = p["aftersales"].get("/api/v1/messages", role="cs", shop_id="S1", params={"order_id": order_id})
        return [m for m in resp.json()["items"] if m["template"] == "address_changed"] or None

    eventually(messages, timeout=30, message="the address_changed message")
    detail = p["logistics"].get(f"/api/v1/shipments/{s['shipment_id']}", role="warehouse", shop_id="S1").json()
    assert [e["action"] for e in detail["timeline"]].count("address_changed") == 1
    assert len(messages() or []) == 1
