"""From placing an order to ready-to-ship, with compensations, across the six real services over
RabbitMQ, PostgreSQL and real HTTP (issue 4 "Must show"; issue 3: a delisted product cannot be
ordered)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer

from ecom_common.outbox import outbox
from ecom_testkit import eventually

pytestmark = pytest.mark.integration


def statuses(order):
    return [entry["status"] for entry in order["timeline"]]


def test_happy_path_to_awaiting_shipment_with_timeline_and_shipment(saga):
    saga.product("PHONE-1", price_fen=19900, stock=5)
    oid = saga.placed_and_paid("PHONE-1", quantity=2)
    order = saga.wait_status(oid, "awaiting_shipment")
    assert order["payable_fen"] == order["goods_fen"] - order["discount_fen"] + order["shipping_fen"]
    assert order["shipping_fen"] == 0  # 浙江 ships free under the seed template
    assert statuses(order) == ["pending_payment", "paid", "awaiting_shipment"]
    stock = saga.stock("PHONE-1")
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (5, 2, 3)
    shipment = saga.shipment_for(oid)
    assert shipment["status"] == "pending"
    assert [(l["sku_code"], l["quantity"]) for l in shipment["pick_list"]] == [("PHONE-1", 2)]


def test_large_order_is_held_reviewed_and_released(saga):
    saga.product("PHONE-PRO", price_fen=600000, stock=3)  # 6,000 yuan > the 5,000 yuan hold threshold
    oid = saga.placed_and_paid("PHONE-PRO")
    held = saga.wait_status(oid, "on_hold")
    assert held["held_reasons"], held
    r = saga["orders"].post(
        f"/api/v1/orders/{oid}/review",
        role="ops",
        sub="olga",
        shop_id="S1",
        json={"decision": "approve", "reason": "电话核实无误"},
    )
    saga.ok(r)
    order = saga.wait_status(oid, "awaiting_shipment")
    assert statuses(order)[-3:] == ["paid", "on_hold", "awaiting_shipment"]
    assert order["timeline"][-1]["by"] == "olga"
    saga.shipment_for(oid)


def test_a_delisted_product_can_no_longer_be_ordered(saga):
    pid = saga.product("PHONE-OLD", stock=5)
    saga.ok(saga["catalog"].post(f"/api/v1/products/{pid}/delist", json={"reason": "seasonal"}, shop_id="S1"))
    r = saga.place([{"sku_code": "PHONE-OLD", "quantity": 1}])
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"
    assert "lines.0.sku_code" in r.json()["errors"]


def test_cancel_after_payment_releases_stock_and_refunds(saga):
    saga.product("PHONE-C", price_fen=9900, stock=4)
    oid = saga.placed_and_paid("PHONE-C", quantity=3, buyer="carol")
    saga.wait_status(oid, "awaiting_shipment")
    saga.ok(saga["orders"].post(f"/api/v1/orders/{oid}/cancel", role="buyer", sub="carol", json={"reason": "不想要了"}))
    saga.wait_status(oid, "cancelled")
    eventually(lambda: saga.stock("PHONE-C")["reserved"] == 0, message="reservation released")
    refunds = eventually(
        lambda: (
            saga["billing"].get("/api/v1/refunds", role="finance", sub="fin", params={"order_id": oid}).json()["items"]
        )
    )
    order = saga.order(oid)
    assert [r["status"] for r in refunds] == ["succeeded"] and refunds[0]["amount_fen"] == order["payable_fen"]
    eventually(lambda: saga.shipment_for(oid)["status"] == "cancelled", message="pending shipment cancelled")


def test_shortage_with_cancel_policy_refunds_in_full(saga):
    saga.product("PHONE-S", price_fen=9900, stock=1)
    saga.ok(saga["inventory"].put("/api/v1/stock-policy", role="ops", shop_id="S1", json={"shortage_policy": "cancel"}))
    oid = saga.placed_and_paid("PHONE-S", quantity=2)
    order = saga.wait_status(oid, "cancelled")
    refunds = eventually(
        lambda: (
            saga["billing"].get("/api/v1/refunds", role="finance", sub="fin", params={"order_id": oid}).json()["items"]
        )
    )
    assert sum(r["amount_fen"] for r in refunds if r["status"] == "succeeded") == order["payable_fen"]
    assert saga.stock("PHONE-S")["reserved"] == 0


def test_duplicate_order_paid_reserves_once(saga):
    saga.product("PHONE-D", stock=5)
    oid = saga.placed_and_paid("PHONE-D", quantity=2)
    saga.wait_status(oid, "awaiting_shipment")
    with saga["orders"].db.engine.connect() as conn:
        body = conn.execute(sa.select(outbox.c.body).where(outbox.c.routing_key == "orders.OrderPaid")).scalar_one()
    with Connection(saga.p.broker_url) as conn:
        Producer(conn.channel()).publish(
            body,
            exchange=f"{saga.p.prefix}.ecom.events",
            routing_key="orders.OrderPaid",
            content_type="application/json",
            delivery_mode=2,
        )
    # a marker after the duplicate: once it is reserved, the duplicate has been consumed
    saga.product("PHONE-MARK", stock=1)
    marker = saga.placed_and_paid("PHONE-MARK")
    saga.wait_status(marker, "awaiting_shipment")
    stock = saga.stock("PHONE-D")
    assert (stock["on_hand"], stock["reserved"]) == (5, 2)


def test_no_oversell_200_concurrent_buyers_for_50_units(saga):
    saga.product("HOT-SKU", price_fen=9900, stock=50)
    buyers = [f"buyer{i:03d}" for i in range(200)]

    def buy(buyer):
        r = saga.place([{"sku_code": "HOT-SKU", "quantity": 1}], buyer=buyer)
        assert r.status_code == 201, r.text
        oid = r.json()["order_id"]
        assert saga.pay(oid, buyer=buyer).status_code == 201
        return oid

    with ThreadPoolExecutor(max_workers=16) as pool:
        order_ids = list(pool.map(buy, buyers))
    finals = {}

    def settled():
        for oid in order_ids:
            if oid not in finals:
                status = saga.order(oid)["status"]
                if status in ("awaiting_shipment", "on_hold", "awaiting_stock", "cancelled"):
                    finals[oid] = status
        return len(finals) == len(order_ids)

    eventually(settled, timeout=180, interval=0.5, message="every order reserved or waiting")
    reserved = [o for o, s in finals.items() if s in ("awaiting_shipment", "on_hold")]
    waiting = [o for o, s in finals.items() if s == "awaiting_stock"]
    assert len(reserved) == 50 and len(waiting) == 150  # the default shortage policy is "wait"
    stock = saga.stock("HOT-SKU")
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (50, 50, 0)
    moves = saga.ok(
        saga["inventory"].get("/api/v1/stock/HOT-SKU/movements", role="service", params={"shop_id": "S1", "limit": 200})
    )
    items = moves["items"]
    while moves.get("next_cursor"):
        moves = saga.ok(
            saga["inventory"].get(
                "/api/v1/stock/HOT-SKU/movements",
                role="service",
                params={"shop_id": "S1", "limit": 200, "cursor": moves["next_cursor"]},
            )
        )
        items += moves["items"]
    assert sum(m["on_hand_delta"] for m in items) == 50 and sum(m["reserved_delta"] for m in items) == 50
    # stock arrives: the oldest waiting payments are served first
    saga.stock_in("HOT-SKU", 5)
    eventually(
        lambda: sum(saga.order(o)["status"] in ("awaiting_shipment", "on_hold") for o in waiting) == 5,
        timeout=60,
        message="five waiting orders reserved after the receipt",
    )
