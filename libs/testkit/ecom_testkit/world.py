"""A populated platform for the reliability scenarios: two shops, each with its buyer and a resource
of every kind, driven through the public HTTP surface (`seed_world`), and the platform settings of
the saga scenarios."""

from __future__ import annotations

from .saga import CARRIER_SECRET, Saga

SAGA_SETTINGS = {
    "LOGISTICS_CARRIER_WEBHOOK_SECRET": CARRIER_SECRET,
    "BILLING_SANDBOX_CONFIRM_DELAY_MS": "20",
    # many orders from the test's one receiver phone: not a "repeated recipient" hold
    "ORDERS_REPEAT_PHONE_COUNT": "100000",
}
PLATFORM_SETTINGS = SAGA_SETTINGS


def _draft(saga, shop: str, sku: str) -> str:
    body = {
        "category_id": "digital-phones",
        "title": f"草稿手机 {sku}",
        "brand": "Acme",
        "description": "草稿",
        "attributes": {"网络类型": "5G", "存储容量": ["64GB"]},
        "images": [{"url": "https://img.example/d.jpg", "width": 800, "height": 800}],
        "skus": [{"sku_code": sku, "spec": {"存储容量": "64GB"}, "list_price_fen": 5000, "weight_g": 300}],
    }
    return saga.ok(saga["catalog"].post("/api/v1/products", json=body, shop_id=shop), 201)["product_id"]


def _seed_shop(saga, shop: str, buyer: str) -> dict:
    """One shop's world, driven through the public HTTP surface: a listed product with stock, a draft,
    an order awaiting shipment (its payment and shipment), a second order held for review with a
    refund-only case waiting for cs, a complaint and an A/B experiment. Both orders' notes carry the
    receiver's phone."""
    import uuid

    saga.shop = shop
    sku = f"{shop}-PHONE"
    product_id = saga.product(sku, stock=10, shop=shop)
    draft_id = _draft(saga, shop, f"{shop}-DRAFT")
    # buyers write their phone into notes: it is personal data there too
    order = saga.ok(
        saga.place([{"sku_code": sku, "quantity": 1}], buyer=buyer, shop=shop, note="放门口，到了打13812345678"), 201
    )
    payment = saga.ok(saga.pay(order["order_id"], buyer=buyer), 201)
    saga.wait_status(order["order_id"], "awaiting_shipment")
    shipment = saga.shipment_for(order["order_id"])
    # a note asking for something holds the order for review (and carries the phone again)
    second = saga.placed_and_paid(sku, buyer=buyer, shop=shop, note="加急！电话13812345678")
    saga.wait_status(second, "on_hold")
    case = saga.ok(
        saga["aftersales"].post(
            "/api/v1/cases",
            role="buyer",
            sub=buyer,
            headers={"Idempotency-Key": uuid.uuid4().hex},
            json={
                "order_id": second,
                "type": "refund_only",
                "reason": "no_reason",
                "evidence": {"images": [], "text": "不要了，有事打13812345678"},
            },
        ),
        201,
    )
    complaint = saga.ok(
        saga["aftersales"].post(
            "/api/v1/complaints",
            role="buyer",
            sub=buyer,
            json={"order_id": order["order_id"], "tier": "general", "text": "还没发货，请回电13812345678"},
        ),
        201,
    )
    experiment = saga.ok(
        saga["analytics"].post(
            "/api/v1/experiments",
            role="ops",
            sub=f"ops-{shop}",
            shop_id=shop,
            headers={"Idempotency-Key": uuid.uuid4().hex},
            json={"name": "首页横幅", "target": "banner", "variants": [{"name": "promo"}, {"name": "product"}]},
        ),
        201,
    )
    return {
        **_marketing(saga, shop, buyer),
        "shop_id": shop,
        "buyer": buyer,
        "sku_code": sku,
        "product_id": product_id,
        "draft_id": draft_id,
        "order_id": order["order_id"],
        "payment_id": payment["payment_id"],
        "shipment_id": shipment["shipment_id"],
        "case_order_id": second,
        "case_id": case["case_id"],
        "complaint_id": complaint["complaint_id"],
        "experiment_id": experiment["experiment_id"],
    }


def _marketing(saga, shop: str, buyer: str) -> dict:
    """The shop's marketing: a campaign, its 满减 promotion, a coupon template and the buyer's claim."""
    if "marketing" not in saga.p.running:
        return {}
    mk = saga["marketing"]
    campaign = saga.ok(
        mk.post(
            "/api/v1/campaigns",
            shop_id=shop,
            json={"name": f"{shop} 双11", "starts_at": "2026-11-01T00:00:00Z", "budget_fen": 1_000_000},
        ),
        201,
    )
    promotion = saga.ok(
        mk.post(
            "/api/v1/promotions",
            shop_id=shop,
            json={
                "kind": "full_reduction",
                "name": f"{shop} 满200减30",
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
                "tiers": [{"threshold_fen": 20000, "reduction_fen": 3000}],
                "campaign_id": campaign["campaign_id"],
            },
        ),
        201,
    )
    body = {"name": f"{shop} 满100减10", "threshold_fen": 10000, "reduction_fen": 1000, "valid_days": 30}
    template = saga.ok(mk.post("/api/v1/coupon-templates", shop_id=shop, json={**body, "total_quantity": 10}), 201)
    claim = saga.ok(mk.post(f"/api/v1/coupon-templates/{template['template_id']}/claims", role="buyer", sub=buyer), 201)
    return {
        "campaign_id": campaign["campaign_id"],
        "promotion_id": promotion["promotion_id"],
        "template_id": template["template_id"],
        "claim_id": claim["claim_id"],
    }


def seed_world(platform, shops=(("S1", "bob"), ("S2", "eve"))) -> dict:
    saga = Saga(platform)
    return {shop: _seed_shop(saga, shop, buyer) for shop, buyer in shops}
