"""Presale done right: a property of the SKU (catalog's presale_ship_days) or of a stock shortage,
never a flag the buyer sends. The promise runs from payment (paid time + the most presale days over
the lines), travels as promised_ship_by on OrderReadyToShip, and the buyer is told (PresalePromised)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ecom_testkit import auth
from ecom_testkit.orders_support import SHOP, sku
from orders import pricing

OPS = auth("ops", sub="olga", shop_id=SHOP)


def ts(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_presale_sku_makes_the_order_presale_and_the_buyers_flag_is_ignored(place):
    presale = place(lines=[{"sku_code": "PRE-7", "quantity": 1}, {"sku_code": "RED-M", "quantity": 1}])
    assert presale["presale"] is True and presale["promised_ship_by"] is None  # runs from payment
    in_stock = place(lines=[{"sku_code": "RED-M", "quantity": 1}], presale=True)
    assert in_stock["presale"] is False


def test_the_promise_runs_from_payment_with_the_most_days_over_the_lines(client, place, saga, clock, events):
    order = place(lines=[{"sku_code": "PRE-7", "quantity": 1}, {"sku_code": "PRE-15", "quantity": 1}])
    clock.advance(hours=5)
    saga.pay(order)
    got = client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()
    assert ts(got["promised_ship_by"]) - ts(got["paid_at"]) == timedelta(days=15)
    assert got["promise"] == "预计15天内发货"
    (paid,) = events("orders.OrderPaid")
    assert paid["payload"]["presale"] is True
    (promised,) = events("orders.PresalePromised")
    p = promised["payload"]
    assert (p["reason"], p["ship_days"], p["promise"], p["buyer_id"]) == ("sku_presale", 15, "预计15天内发货", "bob")
    assert p["promised_ship_by"] == got["promised_ship_by"]
    # The SOP: presale never auto-passes; once approved, the promise is logistics' dispatch deadline.
    saga.reserve(order)
    assert client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()["held_reasons"] == ["presale"]
    client.post(f"/api/v1/orders/{order['order_id']}/review", json={"decision": "approve"}, headers=OPS)
    (ready,) = events("orders.OrderReadyToShip")
    assert ready["payload"]["promised_ship_by"] == got["promised_ship_by"]


def test_an_order_from_stock_promises_nothing(place, saga, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    assert events("orders.PresalePromised") == []
    assert events("orders.OrderReadyToShip")[0]["payload"]["promised_ship_by"] is None


def test_a_shortage_keeps_a_later_sku_promise(client, place, saga, events):
    order = place(lines=[{"sku_code": "PRE-7", "quantity": 1}])
    saga.pay(order)
    promised_at_payment = client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()["promised_ship_by"]
    saga.shortage(order, "wait")  # 3 days from now would be earlier than the SKU's 7
    got = client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()
    assert got["status"] == "awaiting_stock" and got["promised_ship_by"] == promised_at_payment
    assert [e["payload"]["reason"] for e in events("orders.PresalePromised")] == ["sku_presale"]


@pytest.mark.parametrize("value", [None, "3", -1, True, 3.5, 366])
def test_only_a_whole_number_of_days_from_catalog_is_presale(value):
    assert pricing.presale_days(sku("X", 100, presale_ship_days=value)) is None
    assert pricing.presale_days(sku("X", 100, presale_ship_days=0)) == 0
    assert pricing.presale_days({"sku_code": "X"}) is None  # catalog without the field yet
