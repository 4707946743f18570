"""An order priced by marketing, across the seven real services (issue 16): a shop's 满减 and a
platform coupon on one order, apportioned to its lines and kept as discount rows; the coupon used
when the order is paid, another released when its order is cancelled; the platform's coupon paid to
the shop at settlement; a return refunds what the line paid, never its list price."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecom_common.clock import iso
from ecom_testkit import eventually

pytestmark = pytest.mark.integration


def promotion(saga, **terms) -> dict:
    now = saga.p.clock.now()
    body = {"shop_id": "S1", "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(days=30))}
    return saga.ok(saga["marketing"].post("/api/v1/promotions", json={**body, **terms}, shop_id="S1"), 201)


def platform_coupon(saga, reduction_fen: int, threshold_fen: int) -> dict:
    body = {
        "platform": True,
        "name": f"平台券 满{threshold_fen // 100}减{reduction_fen // 100}",
        "threshold_fen": threshold_fen,
        "reduction_fen": reduction_fen,
        "valid_days": 7,
        "total_quantity": 100,
        "per_buyer_limit": 1,
    }
    return saga.ok(saga["marketing"].post("/api/v1/coupon-templates", json=body, role="admin", sub="root"), 201)


def claim(saga, template_id: str, buyer: str) -> str:
    resp = saga["marketing"].post(f"/api/v1/coupon-templates/{template_id}/claims", role="buyer", sub=buyer, json={})
    return saga.ok(resp, 201)["claim_id"]


def claim_status(saga, claim_id: str) -> str:
    return saga.ok(saga["marketing"].get(f"/api/v1/coupon-claims/{claim_id}", role="admin", sub="root"))["status"]


def test_an_order_priced_by_marketing_from_placing_to_settlement(saga):
    saga.product("PRC-1", price_fen=12000, stock=5)
    saga.product("PRC-2", price_fen=6000, stock=5)
    promotion(saga, kind="full_reduction", name="满200减30", tiers=[{"threshold_fen": 20000, "reduction_fen": 3000}])
    template = platform_coupon(saga, reduction_fen=1000, threshold_fen=10000)
    coupon = claim(saga, template["template_id"], "cara")

    lines = [{"sku_code": "PRC-1", "quantity": 1}, {"sku_code": "PRC-2", "quantity": 2}]
    placed = saga.ok(saga.place(lines, buyer="cara", coupon_claim_ids=[coupon]), 201)
    # 120 + 2 x 60 = 240 yuan: 满200减30 (shop), then the platform's 10 yuan, each split 1:1 by what the lines owe
    assert [(d["line"], d["source"], d["amount_fen"], d["funded_by"]) for d in placed["discounts"]] == [
        (0, "full_reduction", 1500, "shop"),
        (0, "platform_coupon", 500, "platform"),
        (1, "full_reduction", 1500, "shop"),
        (1, "platform_coupon", 500, "platform"),
    ]
    assert [(l["discount_fen"], l["paid_fen"]) for l in placed["lines"]] == [(2000, 10000), (2000, 10000)]
    assert placed["discount_fen"] == 4000 and placed["payable_fen"] == 20000 + placed["shipping_fen"]
    assert claim_status(saga, coupon) == "locked"

    oid = placed["order_id"]
    saga.ok(saga.pay(oid, buyer="cara"), 201)
    saga.wait_status(oid, "awaiting_shipment")
    eventually(lambda: claim_status(saga, coupon) == "used", message="the coupon used once its order is paid")

    # a second buyer's coupon, locked by an order that is then cancelled, is released
    other = claim(saga, template["template_id"], "dan")
    cancelled = saga.ok(saga.place([{"sku_code": "PRC-1", "quantity": 1}], buyer="dan", coupon_claim_ids=[other]), 201)
    assert claim_status(saga, other) == "locked"
    saga.ok(
        saga["orders"].post(
            f"/api/v1/orders/{cancelled['order_id']}/cancel", role="buyer", sub="dan", json={"reason": "换了"}
        )
    )
    eventually(lambda: claim_status(saga, other) == "available", message="the cancelled order's coupon released")
    # a coupon already used cannot pay for another order: 422 naming it, nothing placed
    again = saga.place([{"sku_code": "PRC-1", "quantity": 1}], buyer="cara", coupon_claim_ids=[coupon])
    assert again.status_code == 422 and "coupon_claim_ids" in again.json()["errors"], again.text

    # delivered, confirmed, settled: the platform pays its coupon to the shop
    shipment = saga.dispatch(saga.shipment_for(oid)["shipment_id"], "SFPRICE00001")
    saga.wait_status(oid, "shipped")
    assert saga.carrier_reports(shipment["carrier"], "SFPRICE00001", "delivered").status_code == 200
    saga.wait_status(oid, "delivered")
    saga.ok(saga["orders"].post(f"/api/v1/orders/{oid}/confirm-receipt", role="buyer", sub="cara", json={}))
    saga.wait_status(oid, "completed")
    billing = saga["billing"]
    eventually(
        lambda: billing.get("/api/v1/settlements", role="finance", sub="fin", params={"shop_id": "S1"}).json()["items"],
        message="settlement scheduled",
    )
    saga.p.clock.advance(days=7, minutes=1)
    assert saga.p.run_job("billing", "settle-due") >= 1
    ledger = billing.get("/api/v1/ledger", role="finance", sub="fin", params={"shop_id": "S1"}).json()
    kinds = {e["kind"]: e["amount_fen"] for e in ledger["items"]}  # the shop's only paid order
    assert kinds["payment"] == placed["payable_fen"] and kinds["platform_subsidy"] == 1000, kinds
    assert kinds["payout"] == -(kinds["payment"] + kinds["commission"] + 1000), kinds
    assert ledger["balance_fen"] == 0
