"""marketing's handlers through the real consumer: a locked coupon is used when the order is paid,
released when it is cancelled or when its order never appears (the timeout job); points are earned
on completion and taken back by a refund; a duplicate event changes nothing."""

from __future__ import annotations

import pytest

from ecom_common.errors import RetryLater
from ecom_testkit import auth, recorded_events
from marketing.handlers import release_stale_locks

OPS1 = auth("ops", "olga", "S1")
SERVICE = auth("service", "orders")
BOB = auth("buyer", "bob")
LINES = [{"sku_code": "A", "quantity": 1, "list_price_fen": 30000}]
PRICED = [{"sku_code": "A", "quantity": 1, "unit_price_fen": 30000}]


@pytest.fixture
def locked(client):
    """bob's coupon (满200减20) locked by order O1, whose quote pays 28000."""
    body = {
        "name": "满200减20",
        "threshold_fen": 20000,
        "reduction_fen": 2000,
        "valid_days": 7,
        "total_quantity": 5,
    }
    t = client.post("/api/v1/coupon-templates", json=body, headers=OPS1).get_json()["template_id"]
    claim_id = client.post(f"/api/v1/coupon-templates/{t}/claims", headers=BOB).get_json()["claim_id"]
    q = client.post(
        "/api/v1/quotes",
        json={"order_id": "O1", "shop_id": "S1", "buyer_id": "bob", "lines": LINES, "coupon_claim_ids": [claim_id]},
        headers=SERVICE,
    ).get_json()
    assert q["payable_fen"] == 28000 and q["locked"], q
    return claim_id


def status(client, claim_id):
    return client.get(f"/api/v1/coupon-claims/{claim_id}", headers=BOB).get_json()["status"]


def paid(order_id="O1", payable=28000):
    return {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": "bob",
        "payable_fen": payable,
        "paid_at": "2026-11-11T00:00:00Z",
        "lines": PRICED,
    }


def test_paid_uses_the_locked_coupon_once(client, db, deliver, locked):
    deliver(
        "orders.OrderPlaced",
        {"order_id": "O1", "shop_id": "S1", "buyer_id": "bob", "payable_fen": 28000, "lines": PRICED},
    )
    event = deliver("orders.OrderPaid", paid())
    deliver("orders.OrderPaid", {}, event=event)  # the same event again: skipped by the inbox
    assert status(client, locked) == "used"
    used = recorded_events(db, "marketing.CouponUsed")
    assert [e["payload"]["claim_id"] for e in used] == [locked] and used[0]["payload"]["order_id"] == "O1"
    # the used coupon cannot be released by a late cancellation, nor quoted again
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "late", "was_paid": True})
    assert status(client, locked) == "used"


def test_cancelled_releases_the_locked_coupon_for_another_order(client, db, deliver, locked):
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "unpaid"})
    assert status(client, locked) == "available"
    assert recorded_events(db, "marketing.CouponReleased")[0]["payload"]["reason"] == "unpaid"
    again = client.post(
        "/api/v1/quotes",
        json={"order_id": "O2", "shop_id": "S1", "buyer_id": "bob", "lines": LINES, "coupon_claim_ids": [locked]},
        headers=SERVICE,
    )
    assert again.status_code == 200 and status(client, locked) == "locked"


def test_a_lock_whose_order_never_appears_is_released_after_the_timeout(client, db, clock, deliver, locked):
    assert release_stale_locks(db) == 0
    clock.advance(minutes=31)  # MARKETING_LOCK_TIMEOUT_MINUTES = 30
    assert release_stale_locks(db) == 1
    assert status(client, locked) == "available"
    assert recorded_events(db, "marketing.CouponReleased")[0]["payload"]["reason"] == "timeout"
    assert release_stale_locks(db) == 0


def test_a_placed_order_keeps_its_lock_past_the_timeout(client, db, clock, deliver, locked):
    deliver(
        "orders.OrderPlaced",
        {"order_id": "O1", "shop_id": "S1", "buyer_id": "bob", "payable_fen": 28000, "lines": PRICED},
    )
    clock.advance(minutes=31)
    assert release_stale_locks(db) == 0 and status(client, locked) == "locked"


def member(client):
    return client.get("/api/v1/members/bob", query_string={"shop_id": "S1"}, headers=BOB).get_json()


def test_points_are_earned_on_completion_and_taken_back_by_a_refund(client, db, deliver):
    deliver("orders.OrderPaid", paid("O7", 28050))
    assert member(client)["paid_orders"] == 1 and member(client)["points"] == 0
    done = {"order_id": "O7", "shop_id": "S1", "completed_at": "2026-11-20T00:00:00Z", "payable_fen": 28050}
    event = deliver("orders.OrderCompleted", done)
    deliver("orders.OrderCompleted", done, event=event)
    assert member(client)["points"] == 280  # 1 point per whole yuan
    earned = recorded_events(db, "marketing.PointsEarned")
    assert [(e["payload"]["points"], e["payload"]["balance"]) for e in earned] == [(280, 280)]
    refund = {"order_id": "O7", "shop_id": "S1", "refund_id": "R1", "amount_fen": 14025, "kind": "aftersales"}
    deliver("billing.RefundSucceeded", refund)
    m = member(client)
    assert (m["points"], m["refunds"], m["refunded_fen"]) == (140, 1, 14025)
    deliver("billing.RefundSucceeded", {**refund, "refund_id": "R2"})
    assert member(client)["points"] == 0  # never below what the order earned


def test_points_redeemed_at_checkout_and_returned_on_cancel(client, db, deliver):
    deliver("orders.OrderPaid", paid("O7", 50000))
    deliver(
        "orders.OrderCompleted",
        {"order_id": "O7", "shop_id": "S1", "completed_at": "2026-11-20T00:00:00Z", "payable_fen": 50000},
    )
    assert member(client)["points"] == 500
    body = {"order_id": "O8", "shop_id": "S1", "buyer_id": "bob", "lines": LINES, "points": 300}
    q = client.post("/api/v1/quotes", json=body, headers=SERVICE).get_json()
    assert (q["points_used"], q["payable_fen"]) == (300, 29700)  # a member: first-order offers no longer apply
    assert member(client)["points"] == 200
    deliver("orders.OrderCancelled", {"order_id": "O8", "shop_id": "S1", "reason": "changed mind"})
    assert member(client)["points"] == 500


def test_a_completion_naming_its_buyer_counts_an_order_marketing_never_saw_paid(client, deliver):
    done = {"order_id": "O5", "shop_id": "S1", "buyer_id": "bob", "completed_at": "2026-11-20T00:00:00Z"}
    deliver("orders.OrderCompleted", {**done, "payable_fen": 9900})
    deliver("orders.OrderPaid", paid("O5", 9900))  # late: counted once
    m = member(client)
    assert (m["paid_orders"], m["completed_orders"], m["points"]) == (1, 1, 99)


def test_completion_before_the_payment_reached_marketing_is_retried(deliver):
    with pytest.raises(RetryLater):
        deliver(
            "orders.OrderCompleted",
            {"order_id": "O404", "shop_id": "S1", "completed_at": "2026-11-20T00:00:00Z", "payable_fen": 1},
        )


def test_members_are_tenanted(client, deliver):
    deliver("orders.OrderPaid", paid("O7"))
    assert (
        client.get("/api/v1/members/bob", query_string={"shop_id": "S1"}, headers=auth("buyer", "eve")).status_code
        == 404
    )
    assert (
        client.get("/api/v1/members/bob", query_string={"shop_id": "S1"}, headers=auth("ops", "o", "S2")).status_code
        == 404
    )
    assert (
        client.get("/api/v1/members/bob", query_string={"shop_id": "S1"}, headers=OPS1).get_json()["paid_orders"] == 1
    )


def test_points_redeemed_by_a_paid_order_come_back_when_it_is_cancelled(client, deliver):
    deliver("orders.OrderPaid", paid("O7", 50000))
    deliver(
        "orders.OrderCompleted",
        {"order_id": "O7", "shop_id": "S1", "completed_at": "2026-11-20T00:00:00Z", "payable_fen": 50000},
    )
    body = {"order_id": "O8", "shop_id": "S1", "buyer_id": "bob", "lines": LINES, "points": 500}
    assert client.post("/api/v1/quotes", json=body, headers=SERVICE).get_json()["points_used"] == 500
    deliver("orders.OrderPaid", paid("O8", 29500))
    assert member(client)["points"] == 0
    deliver("orders.OrderCancelled", {"order_id": "O8", "shop_id": "S1", "reason": "shortage", "was_paid": True})
    assert member(client)["points"] == 500


def test_the_first_n_payers_get_the_gift_box_once_each(client, db, deliver):
    body = {
        "kind": "first_n_gift",
        "name": "前2名送礼盒",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "gift_sku_code": "GIFT-BOX",
        "gift_limit": 2,
        "threshold_fen": 10000,
    }
    promotion_id = client.post("/api/v1/promotions", json=body, headers=OPS1).get_json()["promotion_id"]
    deliver("orders.OrderPaid", paid("O1", 9999))  # below the threshold: no gift
    first = deliver("orders.OrderPaid", paid("O2", 10000))
    deliver("orders.OrderPaid", {}, event=first)  # the same event again
    deliver("orders.OrderPaid", paid("O3", 20000))
    deliver("orders.OrderPaid", paid("O4", 20000))  # the third payer over the threshold: none left
    gifts = [e["payload"] for e in recorded_events(db, "marketing.GiftGranted")]
    assert [(g["order_id"], g["gift_sku_code"], g["quantity"]) for g in gifts] == [
        ("O2", "GIFT-BOX", 1),
        ("O3", "GIFT-BOX", 1),
    ]
    made = client.get(f"/api/v1/promotions/{promotion_id}", headers=OPS1).get_json()
    assert (made["gifts_granted"], made["gift_limit"]) == (2, 2)
