"""A gift on the pick list (issue 16), across the real services over RabbitMQ and PostgreSQL: a shop's
"first 2 payers get a gift box" promotion; the first two paid orders' shipments pick the gift box
(marked a gift, no charge), the third's does not; an order below the threshold gets none."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecom_common.clock import iso
from ecom_testkit import eventually
from ecom_testkit.saga import ADDRESS

pytestmark = pytest.mark.integration


def gifts_on(saga, order_id: str) -> list[dict]:
    return [row for row in saga.shipment_for(order_id)["pick_list"] if row.get("gift")]


def test_the_first_n_payers_gift_goes_on_their_shipments_pick_list(saga):
    saga.product("GFT-TEA", price_fen=9900, stock=10)
    now = saga.p.clock.now()
    body = {
        "shop_id": "S1",
        "kind": "first_n_gift",
        "name": "前2名送礼盒",
        "starts_at": iso(now - timedelta(hours=1)),
        "ends_at": iso(now + timedelta(days=3)),
        "gift_sku_code": "GIFT-BOX",
        "gift_limit": 2,
        "threshold_fen": 9900,
    }
    promo = saga.ok(saga["marketing"].post("/api/v1/promotions", json=body, shop_id="S1"), 201)

    small = saga.ok(saga.place([{"sku_code": "GFT-TEA", "quantity": 1}], buyer="ann"), 201)
    assert small["payable_fen"] - small["shipping_fen"] == 9900  # at the threshold: it counts
    # three buyers, each with a phone of their own (a repeated phone is held for review)
    paid = [
        saga.placed_and_paid("GFT-TEA", buyer=b, address={**ADDRESS, "phone": f"1381234567{n}"})
        for n, b in enumerate(("bea", "cid", "dee"))
    ]
    for oid in paid:
        saga.wait_status(oid, "awaiting_shipment")
    expected = {"sku_code": "GIFT-BOX", "quantity": 1, "gift": True, "promotion_id": promo["promotion_id"]}
    expected["charge_fen"] = 0
    for oid in paid[:2]:
        eventually(lambda oid=oid: gifts_on(saga, oid) == [expected], message=f"the gift on {oid}'s pick list")
    granted = saga.ok(saga["marketing"].get(f"/api/v1/promotions/{promo['promotion_id']}", shop_id="S1"))
    assert granted["gifts_granted"] == 2
    third = saga.shipment_for(paid[2])
    assert [(r["sku_code"], r["quantity"]) for r in third["pick_list"]] == [("GFT-TEA", 1)]
    assert gifts_on(saga, paid[0])[0]["charge_fen"] == 0
    # the unpaid order got nothing (and has no shipment)
    assert (
        saga["logistics"]
        .get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"order_id": small["order_id"]})
        .json()["items"]
        == []
    )
