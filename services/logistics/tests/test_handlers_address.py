"""orders.AddressChanged: the new receiver (masked) on the order's shipment not yet dispatched, the
carrier chosen again by the rules for the new region; the newest address wins whatever the delivery
order; a parcel already with a carrier is left (noted); one delivered twice is applied once."""

from __future__ import annotations

import pytest

from ecom_common.consumer import EventConsumer
from ecom_common.errors import RetryLater
from ecom_common.events import make_event
from logistics import handlers

XINJIANG = {
    "name": "李*",
    "phone": "139****0000",
    "province": "新疆维吾尔自治区",
    "city": "乌鲁木齐市",
    "detail": "****",
}
ZHEJIANG = {"name": "王*", "phone": "137****1111", "province": "浙江省", "city": "杭州市", "detail": "****"}


def changed(address: dict, at: str, order_id="O1", status="awaiting_shipment", **extra) -> dict:
    payload = {"order_id": order_id, "shop_id": "S1", "buyer_id": "b1", "address": address}
    payload.update(status=status, held=False, reasons=[], changed_at=at, changed_by="b1", **extra)
    return payload


def test_a_pending_shipment_takes_the_new_receiver_masked_and_the_carrier_for_its_region(flow):
    s = flow.ready()
    assert s["province"] == "江苏" and s["carrier"] != "EMS"
    flow.deliver(
        "orders.AddressChanged", changed({**XINJIANG, "phone": "13900000000", "name": "李四"}, "2099-01-01T00:00:00Z")
    )
    after = flow.get(s["shipment_id"])
    assert after["receiver"]["name"] == "李*" and after["receiver"]["phone"] == "139****0000"
    assert after["province"] == "新疆" and after["receiver"]["city"] == "乌鲁木齐市"
    assert after["carrier"] == "EMS"  # the default rules' remote carrier
    entry = after["timeline"][-1]
    assert entry["action"] == "address_changed" and entry["details"]["old_province"] == "江苏"


def test_an_older_change_delivered_late_does_not_overwrite_a_newer_one(flow):
    s = flow.ready()
    flow.deliver("orders.AddressChanged", changed(ZHEJIANG, "2099-01-01T10:00:00Z"))
    flow.deliver("orders.AddressChanged", changed(XINJIANG, "2099-01-01T09:00:00Z"))
    after = flow.get(s["shipment_id"])
    assert after["province"] == "浙江"
    assert [e["action"] for e in after["timeline"]].count("address_changed") == 1


def test_a_change_older_than_the_ready_to_ship_event_is_stale(flow):
    s = flow.ready()
    flow.deliver("orders.AddressChanged", changed(XINJIANG, "2000-01-01T00:00:00Z"))
    assert flow.get(s["shipment_id"])["province"] == "江苏"


def test_the_same_event_delivered_twice_is_applied_once(flow, db):
    s = flow.ready()
    event = make_event("orders.AddressChanged", changed(ZHEJIANG, "2099-01-01T00:00:00Z"))
    consumer = EventConsumer(db, handlers.SUBSCRIPTIONS[0])
    consumer.handle(event)
    consumer.handle(event)
    timeline = flow.get(s["shipment_id"])["timeline"]
    assert [e["action"] for e in timeline].count("address_changed") == 1


def test_a_dispatched_parcel_is_left_and_the_late_change_noted(flow):
    s = flow.dispatched()
    flow.deliver("orders.AddressChanged", changed(XINJIANG, "2099-01-01T00:00:00Z", status="shipped"))
    after = flow.get(s["shipment_id"])
    assert after["province"] == "江苏" and after["carrier"] == s["carrier"]
    assert after["timeline"][-1]["action"] == "address_change_too_late"


def test_a_hand_picked_carrier_is_kept(flow):
    s = flow.ready()
    resp = flow.client.post(f"/api/v1/shipments/{s['shipment_id']}/carrier", headers=flow.wh, json={"carrier": "SF"})
    assert resp.status_code == 200, resp.get_json()
    flow.deliver("orders.AddressChanged", changed(XINJIANG, "2099-01-01T00:00:00Z"))
    after = flow.get(s["shipment_id"])
    assert after["province"] == "新疆" and after["carrier"] == "SF"


def test_no_shipment_yet_is_fine_for_an_order_not_ready_and_retried_for_one_that_is(flow):
    assert flow.deliver("orders.AddressChanged", changed(XINJIANG, "2099-01-01T00:00:00Z", status="paid")) == "handled"
    # awaiting_shipment: its OrderReadyToShip was sent before the change and is still on its way
    with pytest.raises(RetryLater):
        flow.deliver("orders.AddressChanged", changed(XINJIANG, "2099-01-01T00:00:00Z", order_id="O2"))
