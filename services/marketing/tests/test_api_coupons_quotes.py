"""marketing's HTTP API: promotions and coupon templates per shop (ops manage their own, admin the
platform's, finance reads, another shop's is 404), claims (total quantity and per-buyer limit),
and quotes that price an order and lock its coupon by order id (422 naming the reason)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecom_testkit import auth, recorded_events

OPS1 = auth("ops", "olga", "S1")
OPS2 = auth("ops", "oscar", "S2")
FIN1 = auth("finance", "fay", "S1")
ADMIN = auth("admin", "root")
SERVICE = auth("service", "orders")
BOB = auth("buyer", "bob")
EVE = auth("buyer", "eve")
NO_SHOP = auth("ops", "nobody")


def iso(t):
    return t.isoformat()


@pytest.fixture
def now(clock):
    return clock.now()


def ok(resp, status=200):
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def promotion(client, now, headers=OPS1, **body):
    base = {"name": "双11", "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(days=1))}
    return client.post("/api/v1/promotions", json={**base, **body}, headers=headers)


def template(client, now, headers=OPS1, **body):
    base = {
        "name": "满200减20",
        "threshold_fen": 20000,
        "reduction_fen": 2000,
        "valid_from": iso(now - timedelta(hours=1)),
        "valid_until": iso(now + timedelta(days=7)),
        "total_quantity": 10,
    }
    return client.post("/api/v1/coupon-templates", json={**base, **body}, headers=headers)


def claim(client, template_id, headers=BOB):
    return client.post(f"/api/v1/coupon-templates/{template_id}/claims", headers=headers)


LINES = [
    {"sku_code": "A", "quantity": 2, "list_price_fen": 10000},
    {"sku_code": "B", "quantity": 1, "list_price_fen": 5000},
]


def quote(client, headers=SERVICE, **body):
    base = {"shop_id": "S1", "buyer_id": "bob", "lines": LINES}
    return client.post("/api/v1/quotes", json={**base, **body}, headers=headers)


# Promotions ---------------------------------------------------------------------------------
def test_ops_manage_their_shops_promotions_finance_reads_another_shop_sees_nothing(client, now):
    made = ok(
        promotion(client, now, kind="full_reduction", tiers=[{"threshold_fen": 20000, "reduction_fen": 3000}]), 201
    )
    assert made["shop_id"] == "S1" and made["terms"]["tiers"][0]["reduction_fen"] == 3000
    pid = made["promotion_id"]
    assert ok(client.get(f"/api/v1/promotions/{pid}", headers=FIN1))["promotion_id"] == pid
    assert client.get(f"/api/v1/promotions/{pid}", headers=OPS2).status_code == 404
    assert client.post(f"/api/v1/promotions/{pid}/end", headers=OPS2).status_code == 404
    assert ok(client.get("/api/v1/promotions", headers=OPS2))["items"] == []
    assert client.get("/api/v1/promotions", headers=NO_SHOP).status_code == 403
    assert client.get("/api/v1/promotions", headers=BOB).status_code == 403
    assert client.post(f"/api/v1/promotions/{pid}/end", headers=FIN1).status_code == 403
    assert ok(client.post(f"/api/v1/promotions/{pid}/end", headers=OPS1))["status"] == "ended"


def test_a_promotion_body_is_checked_for_its_kind(client, now):
    resp = promotion(client, now, kind="timed_discount", sku_codes=["A"])
    assert resp.status_code == 422 and "rate_bps" in resp.get_json()["errors"]
    resp = promotion(client, now, kind="timed_discount", sku_codes=["A"], rate_bps=8000, window_start="20:00")
    assert resp.status_code == 422
    resp = promotion(client, now, kind="first_order", reduction_fen=500, ends_at=iso(now - timedelta(days=1)))
    assert resp.status_code == 422 and "ends_at" in resp.get_json()["errors"]
    assert promotion(client, now, headers=OPS1, kind="first_order", reduction_fen=500, shop_id="S2").status_code == 403


# Coupon templates and claims ----------------------------------------------------------------
def test_shop_and_platform_templates_and_who_may_make_them(client, now):
    shop = ok(template(client, now), 201)
    assert (shop["shop_id"], shop["funded_by"]) == ("S1", "shop")
    assert template(client, now, platform=True).status_code == 403
    platform = ok(template(client, now, headers=ADMIN, platform=True), 201)
    assert (platform["shop_id"], platform["funded_by"]) == (None, "platform")
    assert client.get(f"/api/v1/coupon-templates/{shop['template_id']}", headers=OPS2).status_code == 404
    assert client.get(f"/api/v1/coupon-templates/{platform['template_id']}", headers=OPS1).status_code == 404
    assert ok(client.get(f"/api/v1/coupon-templates/{shop['template_id']}", headers=FIN1))["name"] == "满200减20"
    offers = ok(client.get("/api/v1/coupon-offers", query_string={"shop_id": "S1"}, headers=BOB))["items"]
    assert {o["template_id"] for o in offers} == {shop["template_id"], platform["template_id"]}
    bad = template(client, now, valid_days=7)
    assert bad.status_code == 422 and "valid_days" in bad.get_json()["errors"]


def test_claims_respect_the_total_and_the_per_buyer_limit(client, now, db):
    t = ok(template(client, now, total_quantity=3, per_buyer_limit=2), 201)["template_id"]
    first = ok(claim(client, t), 201)
    assert first["status"] == "available" and first["buyer_id"] == "bob"
    ok(claim(client, t), 201)
    limit = claim(client, t)
    assert limit.status_code == 422 and limit.get_json()["errors"] == {"template_id": ["limit_reached"]}
    ok(claim(client, t, EVE), 201)
    sold_out = claim(client, t, auth("buyer", "zoe"))
    assert sold_out.get_json()["errors"] == {"template_id": ["sold_out"]}
    assert ok(client.get(f"/api/v1/coupon-templates/{t}", headers=OPS1))["claimed_quantity"] == 3
    assert len(recorded_events(db, "marketing.CouponIssued")) == 3
    mine = ok(client.get("/api/v1/coupon-claims", headers=BOB))["items"]
    assert len(mine) == 2 and {c["buyer_id"] for c in mine} == {"bob"}
    assert client.get(f"/api/v1/coupon-claims/{first['claim_id']}", headers=EVE).status_code == 404
    assert client.get(f"/api/v1/coupon-claims/{first['claim_id']}", headers=OPS2).status_code == 404
    assert ok(client.get(f"/api/v1/coupon-claims/{first['claim_id']}", headers=FIN1))["claim_id"] == first["claim_id"]
    ok(client.post(f"/api/v1/coupon-templates/{t}/stop", headers=OPS1))
    assert claim(client, t, auth("buyer", "amy")).status_code == 404


def test_a_coupon_valid_for_days_after_its_claim(client, now):
    body = {"name": "3天券", "reduction_fen": 500, "valid_days": 3, "total_quantity": 5}
    t = ok(client.post("/api/v1/coupon-templates", json=body, headers=OPS1), 201)
    got = ok(claim(client, t["template_id"]), 201)
    assert got["valid_until"][:16] == (now + timedelta(days=3)).isoformat()[:16]


# Quotes -------------------------------------------------------------------------------------
def test_a_quote_stacks_full_reduction_and_coupons_and_locks_them_by_order_id(client, now, db):
    ok(promotion(client, now, kind="full_reduction", tiers=[{"threshold_fen": 20000, "reduction_fen": 3000}]), 201)
    shop_t = ok(template(client, now, threshold_fen=20000, reduction_fen=1000), 201)["template_id"]
    plat_t = ok(template(client, now, headers=ADMIN, platform=True, threshold_fen=0, reduction_fen=500), 201)
    shop_c = ok(claim(client, shop_t), 201)["claim_id"]
    plat_c = ok(claim(client, plat_t["template_id"]), 201)["claim_id"]
    # 25000 - 3000 (满200减30) = 22000 -> 首单? no first-order promotion -> shop coupon 1000 -> platform 500
    q = ok(quote(client, order_id="O1", coupon_claim_ids=[shop_c, plat_c]))
    assert (q["list_total_fen"], q["discount_fen"], q["payable_fen"], q["locked"]) == (25000, 4500, 20500, True)
    assert sum(row["amount_fen"] for row in q["discounts"]) == 4500
    assert sum(line["payable_fen"] for line in q["lines"]) == 20500
    funders = {(r["source"], r["funded_by"]) for r in q["discounts"]}
    assert funders == {("full_reduction", "shop"), ("shop_coupon", "shop"), ("platform_coupon", "platform")}
    assert ok(client.get(f"/api/v1/coupon-claims/{shop_c}", headers=BOB))["status"] == "locked"
    # asked again for the same order: the same answer; for another order: the coupon is locked
    assert ok(quote(client, order_id="O1", coupon_claim_ids=[shop_c, plat_c])) == q
    other = quote(client, order_id="O2", coupon_claim_ids=[shop_c])
    assert other.status_code == 422 and other.get_json()["errors"] == {"coupon_claim_ids": ["locked"]}
    # a preview (no order id) locks nothing
    assert ok(quote(client, headers=BOB, buyer_id="bob"))["locked"] is False


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("eve", "not_yours"),
        ("other_shop", "other_shop"),
        ("expired", "expired"),
        ("not_yet", "not_yet_valid"),
        ("threshold", "below_threshold"),
    ],
)
def test_a_coupon_the_quote_cannot_use_is_a_422_naming_the_reason_and_nothing_is_locked(
    client, now, clock, setup, reason
):
    headers, kw = OPS1, {}
    if setup == "other_shop":
        headers = OPS2
    if setup == "not_yet":
        kw = {"valid_from": iso(now + timedelta(hours=1))}
    if setup == "threshold":
        kw = {"threshold_fen": 30000}
    t = ok(template(client, now, headers=headers, **kw), 201)["template_id"]
    c = ok(claim(client, t, EVE if setup == "eve" else BOB), 201)["claim_id"]  # claimed before it starts
    if setup == "expired":
        clock.advance(days=8)
    resp = quote(client, order_id="O9", coupon_claim_ids=[c])
    assert resp.status_code == 422, resp.get_json()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.get_json()["errors"] == {"coupon_claim_ids": [reason]}
    owner = EVE if setup == "eve" else BOB
    assert ok(client.get(f"/api/v1/coupon-claims/{c}", headers=owner))["status"] == "available"


def test_more_points_than_held_is_a_422(client):
    resp = quote(client, order_id="O1", points=100)
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"points": ["not_enough_points"]}


def test_a_buyer_quotes_only_for_themselves(client):
    assert quote(client, headers=BOB, buyer_id="eve").status_code == 403
    assert quote(client, headers=OPS1).status_code == 403
    assert quote(client, buyer_id=None).status_code == 422
