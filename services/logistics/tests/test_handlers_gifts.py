"""marketing.GiftGranted: the gift on the pick list of the order's shipment (issue 16), whichever of
the gift and the order being ready to ship arrives first; once per order and promotion; never on an
exchange's replacement; in the parcel (waybill) but not in what dispatch deducts from stock."""

from __future__ import annotations

from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event
from ecom_testkit import auth, recorded_events
from logistics import domain, handlers

WH = auth("warehouse", sub="wang", shop_id="S1")
ADDRESS = {"name": "张三", "phone": "13812345678", "province": "江苏省", "city": "南京市", "detail": "中山路 1 号"}
LINES = [{"sku_code": "SKU-A", "quantity": 2}]
GIFT_ROW = {"sku_code": "GIFT-BOX", "quantity": 1, "gift": True, "promotion_id": "P1", "charge_fen": 0}


def deliver(db, routing_key: str, payload: dict) -> str:
    return EventConsumer(db, handlers.SUBSCRIPTIONS[0]).handle(make_event(routing_key, payload))


def ready(db, order_id="O1") -> None:
    payload = {"order_id": order_id, "shop_id": "S1", "lines": LINES, "address": ADDRESS}
    deliver(db, "orders.OrderReadyToShip", payload)


def gift(db, order_id="O1", promotion_id="P1", sku="GIFT-BOX") -> str:
    payload = {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": "b1",
        "promotion_id": promotion_id,
        "gift_sku_code": sku,
        "quantity": 1,
    }
    return deliver(db, "marketing.GiftGranted", payload)


def shipment(client, **filters) -> dict:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    items = client.get(f"/api/v1/shipments?{query}", headers=WH).get_json()["items"]
    assert len(items) == 1, items
    return client.get(f"/api/v1/shipments/{items[0]['shipment_id']}", headers=WH).get_json()


def test_a_gift_granted_before_the_shipment_exists_is_on_its_pick_list(client, db):
    gift(db)
    ready(db)
    s = shipment(client, order_id="O1")
    assert s["pick_list"] == [*LINES, GIFT_ROW]
    listed = client.get("/api/v1/shipments?order_id=O1", headers=WH).get_json()["items"][0]
    assert listed["pick_list"] == s["pick_list"]


def test_a_gift_granted_after_the_shipment_is_added_with_a_timeline_entry(client, db):
    ready(db)
    gift(db)
    s = shipment(client, order_id="O1")
    assert s["pick_list"] == [*LINES, GIFT_ROW]
    assert [e["action"] for e in s["timeline"]] == ["created", "gift_added"]
    assert "GIFT-BOX" in s["timeline"][-1]["reason"] and "no charge" in s["timeline"][-1]["reason"]


def test_the_same_gift_twice_is_one_row_and_another_promotions_gift_is_another(client, db):
    ready(db)
    gift(db)
    gift(db)  # another event (new id) for the same order and promotion
    gift(db, promotion_id="P2", sku="GIFT-CUP")
    s = shipment(client, order_id="O1")
    cup = {**GIFT_ROW, "sku_code": "GIFT-CUP", "promotion_id": "P2"}
    assert s["pick_list"] == [*LINES, GIFT_ROW, cup]
    assert [e["action"] for e in s["timeline"]].count("gift_added") == 2


def test_the_gift_is_in_the_parcel_but_not_in_what_dispatch_deducts(client, db):
    gift(db)
    ready(db)
    s = shipment(client, order_id="O1")
    bill = client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill", headers=WH).get_json()
    assert bill["lines"] == s["pick_list"] and bill["total_quantity"] == 3
    sent = client.post(f"/api/v1/shipments/{s['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "SF0001"})
    assert sent.status_code == 200 and sent.get_json()["pick_list"] == [*LINES, GIFT_ROW]
    # inventory deducts the order's reservation: the order's lines only
    assert recorded_events(db, "logistics.ShipmentDispatched")[-1]["payload"]["lines"] == LINES


def test_an_exchanges_replacement_carries_no_gift_and_other_orders_none(client, db):
    ready(db)
    gift(db)
    ready(db, order_id="O2")
    deliver(
        db,
        "aftersales.ReshipRequested",
        {"case_id": "C1", "order_id": "O1", "shop_id": "S1", "lines": [{"sku_code": "SKU-A", "quantity": 1}]},
    )
    assert shipment(client, case_id="C1")["pick_list"] == [{"sku_code": "SKU-A", "quantity": 1}]
    assert shipment(client, order_id="O2")["pick_list"] == LINES


def test_with_gifts_appends_gift_rows_at_no_charge():
    rows = domain.with_gifts(LINES, [("Z", 2, "P9"), ("GIFT-BOX", 1, "P1")])
    assert rows == [*LINES, GIFT_ROW, {**GIFT_ROW, "sku_code": "Z", "quantity": 2, "promotion_id": "P9"}]
    assert domain.with_gifts(LINES, []) == LINES
