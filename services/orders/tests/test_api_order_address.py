"""POST /orders/<id>/address: the address changed before dispatch, the audit run again on an audited
order, orders.AddressChanged with the masked address; 409 once shipped; roles and shop scoping."""

from __future__ import annotations

import json

from ecom_testkit import auth
from ecom_testkit.orders_support import ADDRESS, SHOP

BUYER = auth("buyer", sub="bob")
CS = auth("cs", sub="cindy", shop_id=SHOP)
OPS = auth("ops", sub="olga", shop_id=SHOP)
OTHER_CS = auth("cs", sub="carl", shop_id="S2")
NEW = {**ADDRESS, "name": "王五", "phone": "13900001234", "city": "宁波", "street": "中山路", "detail": "8号2单元301"}
VAGUE = {**ADDRESS, "street": "文一西路", "detail": "村口大树旁边"}


def change(client, order, address, headers=BUYER):
    return client.post(f"/api/v1/orders/{order['order_id']}/address", json={"address": address}, headers=headers)


def test_before_payment_the_address_changes_and_the_event_carries_it_masked(client, place, events):
    order = place()
    resp = change(client, order, NEW)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["address"] == {**NEW} and body["status"] == "pending_payment"
    assert body["timeline"][-1]["action"] == "address_changed" and "13900001234" not in body["timeline"][-1]["reason"]
    (ev,) = events("orders.AddressChanged")
    p = ev["payload"]
    assert p["address"]["phone"] == "139****1234" and p["address"]["name"] == "王*" and p["address"]["detail"] == "****"
    assert (p["status"], p["held"], p["reasons"], p["changed_by"]) == ("pending_payment", False, [], "bob")
    assert "13900001234" not in json.dumps(ev)
    # phone search now finds it by the new number, not the old one
    ops_find = client.get("/api/v1/orders", query_string={"phone": "1234"}, headers=OPS).get_json()["items"]
    assert [o["order_id"] for o in ops_find] == [order["order_id"]]
    assert client.get("/api/v1/orders", query_string={"phone": "13812345678"}, headers=OPS).get_json()["items"] == []


def test_an_audited_order_is_audited_again_and_a_vague_address_holds_it(client, place, saga, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    assert client.get(f"/api/v1/orders/{order['order_id']}", headers=CS).get_json()["status"] == "awaiting_shipment"
    resp = change(client, order, VAGUE, headers=CS)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "on_hold" and body["held_reasons"] == ["vague_address"]
    assert [t["action"] for t in body["timeline"]][-2:] == ["address_changed", "readdress_hold"]
    (held,) = events("orders.OrderHeld")
    assert held["payload"]["reasons"] == ["vague_address"]
    (ev,) = events("orders.AddressChanged")
    assert (ev["payload"]["status"], ev["payload"]["held"], ev["payload"]["reasons"]) == (
        "on_hold",
        True,
        ["vague_address"],
    )


def test_a_good_new_address_keeps_an_awaiting_order_moving(client, place, saga, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    body = change(client, order, NEW, headers=OPS).get_json()
    assert body["status"] == "awaiting_shipment" and body["timeline"][-1]["action"] == "reaudit_passed"
    assert events("orders.OrderHeld") == [] and len(events("orders.OrderReadyToShip")) == 1
    assert events("orders.AddressChanged")[0]["payload"]["held"] is False


def test_a_held_order_stays_held_for_its_review_even_when_the_new_address_passes(client, place, saga):
    order = place(address=VAGUE)
    saga.pay(order)
    saga.reserve(order)
    body = change(client, order, NEW).get_json()
    assert body["status"] == "on_hold" and body["timeline"][-1]["action"] == "reaudit_passed"


def test_after_dispatch_it_is_409_and_nothing_changes(client, place, saga, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order)
    resp = change(client, order, NEW)
    assert resp.status_code == 409 and resp.get_json()["errors"] == {"status": ["shipped"]}
    assert client.get(f"/api/v1/orders/{order['order_id']}", headers=BUYER).get_json()["address"] == ADDRESS
    assert events("orders.AddressChanged") == []


def test_who_may_change_it(client, place):
    order = place()
    assert change(client, order, NEW, headers=OTHER_CS).status_code == 404
    assert change(client, order, NEW, headers=auth("buyer", sub="eve")).status_code == 404
    assert change(client, order, NEW, headers=auth("finance", sub="f", shop_id=SHOP)).status_code == 403
    assert change(client, order, NEW, headers={}).status_code == 401


def test_a_bad_address_is_422_naming_the_field(client, place):
    order = place()
    resp = change(client, order, {**NEW, "phone": "call me"})
    assert resp.status_code == 422 and "address.phone" in resp.get_json()["errors"]
    resp = client.post(f"/api/v1/orders/{order['order_id']}/address", json={}, headers=BUYER)
    assert resp.status_code == 422
    assert client.get(f"/api/v1/orders/{order['order_id']}", headers=BUYER).get_json()["address"] == ADDRESS
