"""Buyer notifications for logistics' carrier changes and new arrival estimates, through the real
consumer (inbox + message key) on SQLite: exactly one message per event, even when it comes twice."""

from __future__ import annotations

import pytest

from aftersales import handlers
from aftersales.app import SERVICE
from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event


@pytest.fixture
def notify(api):
    return EventConsumer(api.db, SERVICE.subscriptions[0])


def deliver(consumer, routing_key, payload, event=None):
    event = event or make_event(routing_key, payload)
    return consumer.handle(event), event


def sent_messages(api):
    handlers.send_notifications(api.db, orders=api.orders)
    r = api.get("/api/v1/messages", role="cs", sub="carol", shop_id="S1")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


CHANGED = {
    "order_id": "O1",
    "shop_id": "S1",
    "shipment_id": "SH1",
    "old_carrier": "SF",
    "old_tracking_no": "SF100200300",
    "carrier": "ZTO",
    "tracking_no": "ZT777888999",
    "reason": "顺丰未揽收",
    "at": "2026-11-11T10:00:00Z",
}


def test_a_carrier_change_tells_the_buyer_the_new_number_once(api, notify):
    _, event = deliver(notify, "logistics.CarrierChanged", CHANGED)
    deliver(notify, "", {}, event=event)  # redelivered: the inbox skips it
    deliver(notify, "logistics.CarrierChanged", CHANGED)  # republished under a new id: the key skips it
    assert api.count("messages") == 1
    [m] = sent_messages(api)
    assert m["template"] == "carrier_changed" and m["status"] == "sent"
    assert "ZT777888999" in m["body"] and "ZTO" in m["body"] and "SF100200300" in m["body"]
    # A second change of the same parcel is another fact: another message.
    deliver(
        notify,
        "logistics.CarrierChanged",
        {**CHANGED, "old_carrier": "ZTO", "old_tracking_no": "ZT777888999", "carrier": "DBL", "tracking_no": "DB1234"},
    )
    assert api.count("messages") == 2


ESTIMATE = {
    "order_id": "O1",
    "shop_id": "S1",
    "shipment_id": "SH1",
    "estimated_arrival_at": "2026-11-12T10:00:00Z",
    "previous_estimate_at": None,
    "reason": "快递改派",
}


def test_a_new_arrival_estimate_tells_the_buyer_once_per_estimate_in_local_time(api, notify):
    _, event = deliver(notify, "logistics.ArrivalEstimateChanged", ESTIMATE)
    deliver(notify, "", {}, event=event)
    deliver(notify, "logistics.ArrivalEstimateChanged", ESTIMATE)
    assert api.count("messages") == 1
    [m] = sent_messages(api)
    assert m["template"] == "arrival_estimate_changed"
    assert "11月12日 18:00" in m["body"] and "快递改派" in m["body"] and "O1" in m["body"]
    later = {**ESTIMATE, "estimated_arrival_at": "2026-11-13T10:00:00Z", "previous_estimate_at": "2026-11-12T10:00:00Z"}
    deliver(notify, "logistics.ArrivalEstimateChanged", later)
    assert api.count("messages") == 2
