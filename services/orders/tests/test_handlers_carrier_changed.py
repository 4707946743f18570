"""logistics.CarrierChanged: the order shows the buyer the new carrier and tracking number, applied
only over the number it replaces (retried while the dispatch or an earlier change is on its way)."""

from __future__ import annotations

import pytest

from ecom_common.errors import RetryLater
from orders.models import Order


def get(db, order) -> Order:
    with db.Session() as s:
        o = s.get(Order, order["order_id"])
        o.timeline  # noqa: B018 - load while the session is open
        return o


def changed(deliver, order, old=("顺丰", "SF100"), new=("中通", "ZT9"), case_id=None):
    payload = {
        "order_id": order["order_id"],
        "shop_id": order["shop_id"],
        "shipment_id": "S1",
        "old_carrier": old[0],
        "old_tracking_no": old[1],
        "carrier": new[0],
        "tracking_no": new[1],
        "reason": "顺丰未揽收",
        "at": "2026-11-11T10:00:00Z",
        "case_id": case_id,
    }
    return deliver("logistics.CarrierChanged", payload)


def test_a_carrier_change_replaces_the_tracking_number_shown_to_the_buyer(place, saga, deliver, db):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order, carrier="顺丰", tracking_no="SF100")
    assert changed(deliver, order) == "handled"
    o = get(db, order)
    assert (o.status, o.carrier, o.tracking_no) == ("shipped", "中通", "ZT9")
    resp_timeline = [e.action for e in o.timeline]
    assert resp_timeline.count("tracking_changed") == 1
    # The same change again (republished under a new id): nothing more.
    assert changed(deliver, order) == "handled"
    assert [e.action for e in get(db, order).timeline].count("tracking_changed") == 1


def test_a_change_before_the_dispatch_or_an_earlier_change_is_retried(place, saga, deliver, db):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    with pytest.raises(RetryLater):
        changed(deliver, order)  # ShipmentDispatched still on its way
    assert get(db, order).status == "awaiting_shipment"
    saga.dispatch(order, carrier="顺丰", tracking_no="SF100")
    with pytest.raises(RetryLater):  # the second change overtook the first
        changed(deliver, order, old=("中通", "ZT9"), new=("德邦", "DB1"))
    assert changed(deliver, order) == "handled"
    assert changed(deliver, order, old=("中通", "ZT9"), new=("德邦", "DB1")) == "handled"
    assert get(db, order).tracking_no == "DB1"


def test_a_replacements_carrier_change_leaves_the_order_alone(place, saga, deliver, db):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order, carrier="顺丰", tracking_no="SF100")
    assert changed(deliver, order, old=("EMS", "E1"), new=("中通", "ZT5"), case_id="C1") == "handled"
    assert get(db, order).tracking_no == "SF100"
