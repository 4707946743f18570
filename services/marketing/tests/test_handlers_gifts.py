"""The gift kinds besides first-N (issue 16): buy N get a gift, gift over an amount; granted on
orders.OrderPaid (GiftGranted with its quantity), counted against an optional stock of gifts."""

from __future__ import annotations

from ecom_testkit import auth, recorded_events
from marketing import domain

OPS1 = auth("ops", "olga", "S1")
WHEN = {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}


def paid(order_id: str, payable: int, lines: list[tuple[str, int]]) -> dict:
    return {
        "order_id": order_id,
        "shop_id": "S1",
        "buyer_id": "bob",
        "payable_fen": payable,
        "paid_at": "2026-11-11T00:00:00Z",
        "lines": [{"sku_code": s, "quantity": q, "unit_price_fen": 1000} for s, q in lines],
    }


def promotion(client, **body) -> dict:
    resp = client.post("/api/v1/promotions", json={"name": "送礼", **WHEN, **body}, headers=OPS1)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def granted(db) -> list[tuple[str, str, int]]:
    return [
        (g["order_id"], g["gift_sku_code"], g["quantity"])
        for g in (e["payload"] for e in recorded_events(db, "marketing.GiftGranted"))
    ]


def test_buy_n_get_a_gift_per_n_units_of_the_named_skus_up_to_the_stock(client, db, deliver):
    made = promotion(client, kind="buy_n_gift", gift_sku_code="CUP", buy_quantity=2, sku_codes=["TEA"], gift_limit=3)
    assert made["terms"] == {"gift_sku_code": "CUP", "gift_limit": 3, "buy_quantity": 2, "sku_codes": ["TEA"]}
    deliver("orders.OrderPaid", paid("O1", 5000, [("TEA", 1), ("OTHER", 5)]))  # one TEA: none
    first = deliver("orders.OrderPaid", paid("O2", 5000, [("TEA", 2), ("TEA", 3)]))  # 5 TEA: 2 gifts
    deliver("orders.OrderPaid", {}, event=first)  # the same event again: nothing more
    deliver("orders.OrderPaid", paid("O3", 5000, [("TEA", 4)]))  # earns 2, 1 left: gets 1
    deliver("orders.OrderPaid", paid("O4", 5000, [("TEA", 2)]))  # none left
    assert granted(db) == [("O2", "CUP", 2), ("O3", "CUP", 1)]
    made = client.get(f"/api/v1/promotions/{made['promotion_id']}", headers=OPS1).get_json()
    assert (made["gifts_granted"], made["gift_limit"]) == (3, 3)


def test_a_gift_over_an_amount_from_the_threshold_in_fen_without_a_limit(client, db, deliver):
    made = promotion(client, kind="gift_over_amount", gift_sku_code="BAG", threshold_fen=20000)
    deliver("orders.OrderPaid", paid("O1", 19999, [("A", 1)]))
    deliver("orders.OrderPaid", paid("O2", 20000, [("A", 1)]))
    deliver("orders.OrderPaid", paid("O3", 90000, [("A", 9)]))
    assert granted(db) == [("O2", "BAG", 1), ("O3", "BAG", 1)]
    made = client.get(f"/api/v1/promotions/{made['promotion_id']}", headers=OPS1).get_json()
    assert (made["gifts_granted"], made["gift_limit"]) == (2, None)


def test_the_gift_kinds_name_what_they_need(client):
    base = {"name": "x", **WHEN, "gift_sku_code": "G"}
    for body, field in [
        ({"kind": "buy_n_gift"}, "buy_quantity"),
        ({"kind": "gift_over_amount"}, "threshold_fen"),
        ({"kind": "gift_over_amount", "threshold_fen": 0}, "threshold_fen"),
        ({"kind": "buy_n_gift", "buy_quantity": 2, "gift_sku_code": None}, "gift_sku_code"),
    ]:
        resp = client.post("/api/v1/promotions", json={**base, **body}, headers=OPS1)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], resp.get_json()


def test_gifts_earned_by_kind():
    lines = [("TEA", 3), ("CAKE", 2), ("TEA", 1)]
    assert domain.gifts_earned(domain.GiftTerms("buy_n_gift", buy_quantity=2), 0, lines) == 3
    assert domain.gifts_earned(domain.GiftTerms("buy_n_gift", buy_quantity=2, sku_codes=("TEA",)), 0, lines) == 2
    assert domain.gifts_earned(domain.GiftTerms("buy_n_gift", buy_quantity=5, sku_codes=("CAKE",)), 0, lines) == 0
    over = domain.GiftTerms("gift_over_amount", threshold_fen=20000)
    assert [domain.gifts_earned(over, fen, lines) for fen in (19999, 20000)] == [0, 1]
    assert domain.gifts_earned(domain.GiftTerms("first_n_gift"), 0, []) == 1
