"""aftersales.CompensationCouponRequested -> one shop-funded, no-threshold coupon of that value for
the buyer, once per complaint (redelivered or republished: nothing more)."""

from __future__ import annotations

from ecom_common.events import make_event
from ecom_testkit import auth, recorded_events

REQUEST = {
    "complaint_id": "CP1",
    "order_id": "O1",
    "shop_id": "S1",
    "buyer_id": "amy",
    "amount_fen": 1500,
    "funded_by": "shop",
}


def test_a_complaints_coupon_is_issued_once_to_its_buyer(client, db, deliver):
    event = deliver("aftersales.CompensationCouponRequested", REQUEST)
    deliver("aftersales.CompensationCouponRequested", REQUEST, event=event)  # redelivered (inbox)
    deliver("aftersales.CompensationCouponRequested", REQUEST)  # republished with a new event id
    issued = [e["payload"] for e in recorded_events(db, "marketing.CouponIssued")]
    assert len(issued) == 1
    coupon = issued[0]
    assert (coupon["buyer_id"], coupon["shop_id"], coupon["funded_by"]) == ("amy", "S1", "shop")
    assert (coupon["reason"], coupon["complaint_id"], coupon["amount_fen"]) == ("compensation", "CP1", 1500)
    claims = client.get("/api/v1/coupon-claims", headers=auth("buyer", "amy")).get_json()["items"]
    assert [c["claim_id"] for c in claims] == [coupon["claim_id"]]
    assert claims[0]["status"] == "available"
    quote = {"shop_id": "S1", "buyer_id": "amy", "lines": [{"sku_code": "A", "quantity": 1, "list_price_fen": 2000}]}
    q = client.post(
        "/api/v1/quotes", json={**quote, "coupon_claim_ids": [coupon["claim_id"]]}, headers=auth("service", "o")
    )
    assert q.get_json()["payable_fen"] == 500  # 15 yuan off, no threshold, the shop's
    assert client.get("/api/v1/coupon-claims", headers=auth("buyer", "ben")).get_json()["items"] == []


def test_each_complaint_gets_its_own_coupon_and_a_platform_request_is_not_issued(db, deliver):
    deliver("aftersales.CompensationCouponRequested", REQUEST)
    deliver("aftersales.CompensationCouponRequested", {**REQUEST, "complaint_id": "CP2", "amount_fen": 800})
    deliver("aftersales.CompensationCouponRequested", {**REQUEST, "complaint_id": "CP3", "funded_by": "platform"})
    issued = [e["payload"] for e in recorded_events(db, "marketing.CouponIssued")]
    assert sorted((e["complaint_id"], e["amount_fen"]) for e in issued) == [("CP1", 1500), ("CP2", 800)]


def test_the_event_is_bound_to_marketings_queue():
    from ecom_common.topology import SUBSCRIPTIONS

    assert "aftersales.CompensationCouponRequested" in SUBSCRIPTIONS["marketing.events"]
    assert make_event("aftersales.CompensationCouponRequested", REQUEST).payload["complaint_id"] == "CP1"
