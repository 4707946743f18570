"""The re-purchase segment: one paid order more than 30 days ago, no repeat, not refunded -> a
10-yuan coupon, once, by the job or the endpoint (CouponIssued with reason repurchase)."""

from __future__ import annotations

from ecom_testkit import auth, recorded_events
from marketing.handlers import issue_repurchase_coupons

OPS1 = auth("ops", "olga", "S1")


def paid(order_id, buyer):
    return {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": buyer,
        "payable_fen": 9900,
        "paid_at": "2026-11-11T00:00:00Z",
        "lines": [{"sku_code": "A", "quantity": 1, "unit_price_fen": 9900}],
    }


def test_one_old_paid_order_no_repeat_no_refund_gets_the_coupon_once(client, db, clock, deliver):
    deliver("orders.OrderPaid", paid("O1", "amy"))  # the segment
    deliver("orders.OrderPaid", paid("O2", "ben"))
    deliver("orders.OrderPaid", paid("O3", "ben"))  # a repeat buyer
    deliver("orders.OrderPaid", paid("O4", "cat"))
    deliver("billing.RefundSucceeded", {"order_id": "O4", "shop_id": "S1", "refund_id": "R1", "amount_fen": 9900})
    assert issue_repurchase_coupons(db) == 0  # not 30 days yet
    clock.advance(days=31)
    deliver("orders.OrderPaid", paid("O5", "dan"))  # recent
    assert issue_repurchase_coupons(db) == 1
    assert issue_repurchase_coupons(db) == 0  # once
    issued = [e["payload"] for e in recorded_events(db, "marketing.CouponIssued")]
    assert [(e["buyer_id"], e["reason"]) for e in issued] == [("amy", "repurchase")]
    claim = client.get("/api/v1/coupon-claims", headers=auth("buyer", "amy")).get_json()["items"][0]
    assert claim["status"] == "available" and claim["shop_id"] == "S1"
    quote = {"shop_id": "S1", "buyer_id": "amy", "lines": [{"sku_code": "A", "quantity": 1, "list_price_fen": 5000}]}
    q = client.post(
        "/api/v1/quotes", json={**quote, "coupon_claim_ids": [claim["claim_id"]]}, headers=auth("service", "o")
    )
    assert q.get_json()["payable_fen"] == 4000  # 10 yuan off, no threshold


def test_the_endpoint_issues_for_the_callers_shop(client, clock, deliver):
    deliver("orders.OrderPaid", paid("O1", "amy"))
    clock.advance(days=31)
    assert (
        client.post("/api/v1/segments/repurchase/coupons", json={}, headers=auth("ops", "x", "S2")).get_json()["issued"]
        == 0
    )
    answer = client.post("/api/v1/segments/repurchase/coupons", json={}, headers=OPS1).get_json()
    assert answer["issued"] == 1 and len(answer["claim_ids"]) == 1
    assert client.post("/api/v1/segments/repurchase/coupons", json={}, headers=OPS1).get_json()["issued"] == 0
    assert client.post("/api/v1/segments/repurchase/coupons", json={}, headers=auth("buyer", "amy")).status_code == 403


def test_tiers_follow_paid_orders_and_net_paid_and_levels_the_growth_value(client, db, deliver):
    def member():
        return client.get("/api/v1/members/amy", query_string={"shop_id": "S1"}, headers=OPS1).get_json()

    assert (member()["tier"], member()["level"]) == ("new", 1)
    deliver("orders.OrderPaid", paid("O1", "amy"))
    assert member()["tier"] == "new"
    deliver("orders.OrderPaid", paid("O2", "amy"))
    assert member()["tier"] == "active"
    deliver("orders.OrderPaid", {**paid("O3", "amy"), "payable_fen": 500_000})
    m = member()
    assert (m["tier"], m["growth"], m["level"]) == ("high_value", 5198, 3)  # 0 / 1000 / 5000 / 20000
    deliver("billing.RefundSucceeded", {"order_id": "O3", "shop_id": "S1", "refund_id": "R1", "amount_fen": 500_000})
    assert member()["tier"] == "active"
    changes = [
        (e["payload"]["from_tier"], e["payload"]["tier"]) for e in recorded_events(db, "marketing.MemberTierChanged")
    ]
    assert changes == [("new", "active"), ("active", "high_value"), ("high_value", "active")]


def test_level_coupons_are_issued_on_the_first_of_the_month_once(client, db, clock, deliver):
    from datetime import timedelta

    from ecom_common.usecase import for_job
    from marketing import operations
    from marketing.handlers import issue_level_coupons
    from marketing.settings import Settings

    deliver("orders.OrderPaid", {**paid("O1", "amy"), "payable_fen": 100_000})  # growth 1000: level 2
    deliver("orders.OrderPaid", paid("O2", "ben"))  # level 1: no coupon
    local = clock.now() + timedelta(hours=8)
    first = (local.replace(day=1, hour=12) + timedelta(days=32)).replace(day=1)
    clock.advance(seconds=(first - local).total_seconds())
    assert issue_level_coupons(db) == 1
    assert issue_level_coupons(db) == 0  # once a month
    with for_job(db, Settings) as ctx:  # a second replica racing the first finds it issued
        assert operations.issue_level_coupon(ctx, "S1", "amy") is None
    issued = [e["payload"] for e in recorded_events(db, "marketing.CouponIssued")]
    assert [(e["buyer_id"], e["reason"]) for e in issued] == [("amy", "level")]
    clock.advance(days=1)
    assert issue_level_coupons(db) == 0  # not the 1st any more
