"""Campaigns: the default phases and split, the subsidy budget that pays its promotions' discounts
(never overspent: a promotion stops applying when its campaign cannot pay it), returned when the
order is cancelled, and ROI = attributed GMV / subsidy spent."""

from __future__ import annotations

from ecom_testkit import auth

OPS1 = auth("ops", "olga", "S1")
OPS2 = auth("ops", "oscar", "S2")
FIN1 = auth("finance", "fay", "S1")
SERVICE = auth("service", "orders")
LINES = [{"sku_code": "A", "quantity": 1, "list_price_fen": 20000}]


def ok(resp, status=200):
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def campaign(client, budget_fen=10000, **body):
    base = {"name": "双11", "starts_at": "2026-11-01T00:00:00Z", "budget_fen": budget_fen}
    return ok(client.post("/api/v1/campaigns", json={**base, **body}, headers=OPS1), 201)


def reduction_in(client, campaign_id):
    body = {
        "kind": "full_reduction",
        "name": "满200减30",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "tiers": [{"threshold_fen": 20000, "reduction_fen": 3000}],
        "campaign_id": campaign_id,
    }
    return ok(client.post("/api/v1/promotions", json=body, headers=OPS1), 201)


def quote(client, order_id=None):
    body = {"shop_id": "S1", "buyer_id": "bob", "lines": LINES}
    if order_id:
        body["order_id"] = order_id
    return ok(client.post("/api/v1/quotes", json=body, headers=SERVICE))


def test_a_campaign_has_the_default_phases_and_split(client):
    c = campaign(client, 1_000_000, targets={"gmv_fen": 50_000_000, "new_customer_percent": 30})
    assert [p["name"] for p in c["phases"]] == ["warm-up", "burst", "return"]
    assert c["phases"][0]["ends_at"].startswith("2026-11-04") and c["phases"][2]["ends_at"].startswith("2026-11-07")
    assert c["split"] == {"promotion": 50, "subsidy": 30, "material": 10, "reserve": 10}
    assert c["subsidy_budget_fen"] == 300_000 and c["roi"] is None
    assert ok(client.get(f"/api/v1/campaigns/{c['campaign_id']}", headers=FIN1))["name"] == "双11"
    assert client.get(f"/api/v1/campaigns/{c['campaign_id']}", headers=OPS2).status_code == 404
    bad = client.post(
        "/api/v1/campaigns",
        json={
            "name": "x",
            "starts_at": "2026-11-01T00:00:00Z",
            "budget_fen": 1,
            "split": {"promotion": 50, "subsidy": 90, "material": 0, "reserve": 0},
        },
        headers=OPS1,
    )
    assert bad.status_code == 422 and "split" in bad.get_json()["errors"]


def test_a_promotion_stops_applying_when_its_campaign_subsidy_is_spent_and_a_cancel_returns_it(client, deliver):
    c = campaign(client, budget_fen=20000)  # subsidy 30% = 6000: two 满200减30 orders
    reduction_in(client, c["campaign_id"])
    assert quote(client, "O1")["payable_fen"] == 17000
    assert quote(client, "O2")["payable_fen"] == 17000
    assert quote(client)["payable_fen"] == 20000  # a preview: the budget cannot pay a third
    assert quote(client, "O3")["payable_fen"] == 20000  # the third order pays the full price
    got = ok(client.get(f"/api/v1/campaigns/{c['campaign_id']}", headers=OPS1))
    assert got["subsidy_spent_fen"] == 6000
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "unpaid"})
    assert ok(client.get(f"/api/v1/campaigns/{c['campaign_id']}", headers=OPS1))["subsidy_spent_fen"] == 3000
    assert quote(client, "O4")["payable_fen"] == 17000
    deliver(
        "orders.OrderPaid",
        {
            "order_id": "O2",
            "shop_id": "S1",
            "buyer_id": "bob",
            "payable_fen": 17000,
            "paid_at": "2026-11-11T00:00:00Z",
            "lines": [{"sku_code": "A", "quantity": 1, "unit_price_fen": 17000}],
        },
    )
    got = ok(client.get(f"/api/v1/campaigns/{c['campaign_id']}", headers=FIN1))
    assert (got["attributed_gmv_fen"], got["subsidy_spent_fen"], got["roi"]) == (17000, 6000, 2.83)


def test_a_promotion_names_a_campaign_of_its_own_shop(client):
    c = campaign(client)
    body = {
        "kind": "first_order",
        "name": "首单",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "reduction_fen": 500,
        "campaign_id": c["campaign_id"],
    }
    resp = client.post("/api/v1/promotions", json={**body, "shop_id": "S2"}, headers=auth("admin", "root"))
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"campaign_id": ["unknown"]}


def test_phases_can_be_given_with_their_dates(client):
    phases = [
        {"name": "warm-up", "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-05T00:00:00Z"},
        {"name": "burst", "starts_at": "2026-11-05T00:00:00Z", "ends_at": "2026-11-07T00:00:00Z"},
    ]
    c = campaign(client, phases=phases)
    assert [(p["name"], p["ends_at"][:10]) for p in c["phases"]] == [("warm-up", "2026-11-05"), ("burst", "2026-11-07")]
    backwards = [{"name": "burst", "starts_at": "2026-11-07T00:00:00Z", "ends_at": "2026-11-05T00:00:00Z"}]
    resp = client.post(
        "/api/v1/campaigns",
        json={"name": "x", "starts_at": "2026-11-01T00:00:00Z", "budget_fen": 1, "phases": backwards},
        headers=OPS1,
    )
    assert resp.status_code == 422 and "phases" in resp.get_json()["errors"]


def paid_event(order_id, payable=17000):
    return {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": "bob",
        "payable_fen": payable,
        "paid_at": "2026-11-11T00:00:00Z",
        "lines": [{"sku_code": "A", "quantity": 1, "unit_price_fen": payable}],
    }


def refund(order_id, amount_fen, n):
    return {"order_id": order_id, "shop_id": "S1", "refund_id": f"R{n}", "amount_fen": amount_fen}


def spent(client, campaign_id):
    return ok(client.get(f"/api/v1/campaigns/{campaign_id}", headers=OPS1))["subsidy_spent_fen"]


def test_a_refund_returns_the_refunded_share_of_the_subsidy_never_more_than_reserved(client, deliver):
    c = campaign(client, budget_fen=20000)  # subsidy 6000: two orders of 3000 each
    reduction_in(client, c["campaign_id"])
    quote(client, "O1")
    quote(client, "O2")
    deliver("orders.OrderPaid", paid_event("O1"))
    deliver("orders.OrderPaid", paid_event("O2"))
    assert spent(client, c["campaign_id"]) == 6000
    deliver("billing.RefundSucceeded", refund("O1", 8500, 1))  # half of 17000 back: half of 3000
    assert spent(client, c["campaign_id"]) == 4500
    deliver("billing.RefundSucceeded", refund("O1", 1, 2))  # 8501 of 17000: 1500.08 rounds down, nothing more
    assert spent(client, c["campaign_id"]) == 4500
    deliver("billing.RefundSucceeded", refund("O1", 90000, 3))  # refunds past what was paid: capped
    assert spent(client, c["campaign_id"]) == 3000
    deliver("billing.RefundSucceeded", refund("O1", 5000, 4))  # nothing is left to return
    assert spent(client, c["campaign_id"]) == 3000
    # O2: partly refunded, then cancelled (a refund of what was paid): the rest comes back, once
    deliver("billing.RefundSucceeded", refund("O2", 1700, 5))  # 10%: 300 back
    assert spent(client, c["campaign_id"]) == 2700
    deliver("orders.OrderCancelled", {"order_id": "O2", "shop_id": "S1", "reason": "shortage", "was_paid": True})
    assert spent(client, c["campaign_id"]) == 0
    deliver("billing.RefundSucceeded", refund("O2", 15300, 6))  # the cancellation's refund: nothing more
    assert spent(client, c["campaign_id"]) == 0
    # a refund of an order marketing never priced returns nothing
    deliver("billing.RefundSucceeded", refund("O-unknown", 100, 7))
    assert spent(client, c["campaign_id"]) == 0


def test_a_full_refund_before_the_cancellation_returns_the_subsidy_once(client, deliver):
    c = campaign(client, budget_fen=20000)
    reduction_in(client, c["campaign_id"])
    quote(client, "O1")
    deliver("orders.OrderPaid", paid_event("O1"))
    deliver("billing.RefundSucceeded", refund("O1", 17000, 1))
    assert spent(client, c["campaign_id"]) == 0
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "shortage", "was_paid": True})
    assert spent(client, c["campaign_id"]) == 0
