"""Catalog over the real broker and database: a product created, submitted and approved becomes a
stock item in inventory (through catalog.ProductListed on RabbitMQ); once delisted, the SKU endpoint
orders relies on reports it as not sellable. Plus the guarded transitions, the purge job and the compliance sweep
(two runners at once) on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from ecom_testkit import Platform, eventually

pytestmark = pytest.mark.integration

DRESS = {
    "category_id": "womenswear-dresses",
    "title": "法式碎花雪纺连衣裙",
    "description": "最近新到的夏季款",
    "attributes": {"尺码": ["S", "M"], "颜色": ["红色"], "材质": "雪纺"},
    "images": [{"url": "https://img.example/main.jpg", "width": 800, "height": 800}],
    "skus": [
        {
            "sku_code": "DRESS-RED-S",
            "spec": {"颜色": "红色", "尺码": "S"},
            "list_price_fen": 29900,
            "promo_price_fen": 25900,
            "weight_g": 300,
            "low_stock_threshold": 4,
        },
        {"sku_code": "DRESS-RED-M", "spec": {"颜色": "红色", "尺码": "M"}, "list_price_fen": 29900, "weight_g": 320},
    ],
}


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def test_listed_product_becomes_stock_and_delisting_stops_sales():
    with Platform(["catalog", "inventory"]) as p:
        catalog, inventory = p["catalog"], p["inventory"]
        product = ok(
            catalog.post("/api/v1/products", json=DRESS, shop_id="S1", headers={"Idempotency-Key": "it-create-1"}), 201
        )
        pid = product["product_id"]
        ok(catalog.post(f"/api/v1/products/{pid}/submit", shop_id="S1"))
        queue = ok(catalog.get("/api/v1/review-queue", role="reviewer", sub="rita"))
        assert [i["product_id"] for i in queue["items"]] == [pid]
        listed = ok(catalog.post(f"/api/v1/products/{pid}/approve", role="reviewer", sub="rita"))
        assert listed["status"] == "listed"

        def stock():
            r = inventory.get("/api/v1/stock/DRESS-RED-S", role="service", params={"shop_id": "S1"})
            return r.json() if r.status_code == 200 else None

        item = eventually(stock, message="inventory stock item from catalog.ProductListed")
        assert item["shop_id"] == "S1" and item["on_hand"] == 0
        assert item["warehouses"][0]["low_stock_threshold"] == 4
        eventually(
            lambda: (
                inventory.get("/api/v1/stock/DRESS-RED-M", role="service", params={"shop_id": "S1"}).status_code == 200
            )
        )

        sku = ok(catalog.get("/api/v1/skus/DRESS-RED-S", role="service", params={"shop_id": "S1"}))
        assert sku["sellable"] is True and sku["price_fen"] == 25900

        ok(catalog.post(f"/api/v1/products/{pid}/delist", json={"reason": "seasonal"}, shop_id="S1"))
        sku = ok(catalog.get("/api/v1/skus/DRESS-RED-S", role="service", params={"shop_id": "S1"}))
        assert sku["sellable"] is False and sku["product_status"] == "delisted"
        batch = ok(
            catalog.post(
                "/api/v1/skus/batch",
                role="service",
                json={"shop_id": "S1", "sku_codes": ["DRESS-RED-S", "DRESS-RED-M", "NOPE"]},
            )
        )
        assert [i["sellable"] for i in batch["items"]] == [False, False] and batch["missing"] == ["NOPE"]

        # Everything the catalog recorded reached the broker (the outbox drained).
        def drained():
            with catalog.db.engine.connect() as conn:
                return conn.execute(sa.text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar() == 0

        eventually(drained, message="catalog outbox published")


def test_concurrent_reviews_one_wins_and_purge_on_postgres():
    with Platform(["catalog"], workers=False) as p:
        catalog = p["catalog"]
        pid = ok(catalog.post("/api/v1/products", json=DRESS, shop_id="S1"), 201)["product_id"]
        ok(catalog.post(f"/api/v1/products/{pid}/submit", shop_id="S1"))

        def approve(_):
            return catalog.post(f"/api/v1/products/{pid}/approve", role="reviewer", sub="rita").status_code

        with ThreadPoolExecutor(4) as pool:
            codes = sorted(pool.map(approve, range(4)))
        assert codes.count(200) == 1 and set(codes) <= {200, 409}, codes
        timeline = ok(catalog.get(f"/api/v1/products/{pid}/timeline", shop_id="S1"))["items"]
        assert [t["action"] for t in timeline].count("approve") == 1

        ok(_delete(catalog, pid))
        p.clock.advance(days=30, minutes=1)
        assert p.run_job("catalog", "purge-deleted-products") == 1
        assert catalog.get(f"/api/v1/products/{pid}", shop_id="S1").status_code == 404


def test_compliance_sweep_on_postgres_two_runners_delist_each_product_once():
    """A banned word added: the sweeps (the word's and the periodic one) run by two runners at once on
    PostgreSQL; each listed product breaking the rule is delisted once and reported delisted once."""
    from catalog.handlers import sweep_compliance

    with Platform(["catalog"], workers=False, settings={"CATALOG_SWEEP_DELIST": "true"}) as p:
        catalog = p["catalog"]
        pids = []
        for i in range(3):
            body = {**DRESS, "skus": [{**DRESS["skus"][0], "sku_code": f"SWEEP-{i}"}]}
            pid = ok(catalog.post("/api/v1/products", json=body, shop_id="S1"), 201)["product_id"]
            ok(catalog.post(f"/api/v1/products/{pid}/submit", shop_id="S1"))
            ok(catalog.post(f"/api/v1/products/{pid}/approve", role="reviewer", sub="rita"))
            pids.append(pid)
        ok(catalog.post("/api/v1/banned-words", json={"word": "碎花"}, role="admin", sub="adam"), 201)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: sweep_compliance(catalog.db), range(2)))
        for pid in pids:
            product = ok(catalog.get(f"/api/v1/products/{pid}", shop_id="S1"))
            assert (product["status"], product["delist_reason"]) == ("delisted", "compliance")
            timeline = ok(catalog.get(f"/api/v1/products/{pid}/timeline", shop_id="S1"))["items"]
            assert [t["action"] for t in timeline].count("delist") == 1
        params = {"delisted": "true"}
        rows = ok(catalog.get("/api/v1/compliance/findings", role="reviewer", sub="rita", params=params))["items"]
        assert sorted(r["product_id"] for r in rows) == sorted(pids)
        sweeps = ok(catalog.get("/api/v1/compliance/sweeps", role="admin", sub="adam"))["items"]
        assert {s["status"] for s in sweeps} == {"done"} and {s["trigger"] for s in sweeps} == {
            "banned_word",
            "periodic",
        }


def _delete(service, pid):
    return requests.delete(f"{service.url}/api/v1/products/{pid}", headers=service.headers(shop_id="S1"), timeout=10)
