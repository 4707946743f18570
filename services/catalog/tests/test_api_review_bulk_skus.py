"""The review queue, bulk actions, the SKU read endpoints and the dry-run scan."""

from __future__ import annotations

import pytest

from ecom_testkit import auth

OPS = auth("ops", "alice", "S1")
OPS2 = auth("ops", "bob", "S2")
REVIEWER = auth("reviewer", "rita")
ADMIN = auth("admin", "adam")
BUYER = auth("buyer", "bea")
SERVICE_ROLE = auth("service", "orders")
FINANCE = auth("finance", "fiona")


def problem(r, status):
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def one_sku(dress, code, **kw):
    return dress(skus=[{"sku_code": code, "list_price_fen": 1000, "spec": {}, **kw}])


# Review queue --------------------------------------------------------------------------------------
def test_queue_is_oldest_first_with_due_time_findings_and_overdue_flag(steps, client, config, dress):
    first = steps.submitted(one_sku(dress, "Q1", promo_price_fen=900))
    config.clock.advance(hours=2)
    second = steps.submitted(one_sku(dress, "Q2"), headers=OPS2)
    steps.create(one_sku(dress, "Q3"))  # a draft is not in the queue
    r = client.get("/api/v1/review-queue", headers=REVIEWER)
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [i["product_id"] for i in items] == [first["product_id"], second["product_id"]]
    assert items[0]["review_due_at"] == first["review_due_at"]
    assert all(i["overdue"] is False for i in items)
    assert {(f["rule"], f["severity"]) for f in items[0]["findings"]} == set()  # a clean product
    config.clock.advance(hours=22, minutes=1)  # first is now 24 h + 1 min old, second 22 h + 1 min
    items = client.get("/api/v1/review-queue", headers=REVIEWER).get_json()["items"]
    assert [i["overdue"] for i in items] == [True, False]
    overdue = client.get("/api/v1/review-queue", query_string={"overdue": "true"}, headers=REVIEWER).get_json()
    assert [i["product_id"] for i in overdue["items"]] == [first["product_id"]]
    assert [
        i["product_id"]
        for i in client.get("/api/v1/review-queue", query_string={"shop_id": "S2"}, headers=REVIEWER).get_json()[
            "items"
        ]
    ] == [second["product_id"]]
    page = client.get("/api/v1/review-queue", query_string={"limit": 1}, headers=REVIEWER).get_json()
    nxt = client.get(
        "/api/v1/review-queue", query_string={"limit": 1, "cursor": page["next_cursor"]}, headers=REVIEWER
    ).get_json()
    assert [i["product_id"] for i in page["items"] + nxt["items"]] == [first["product_id"], second["product_id"]]


def test_queue_shows_findings_against_the_current_word_list(steps, client, dress):
    steps.submitted(one_sku(dress, "Q1"))
    client.post("/api/v1/banned-words", json={"word": "法式"}, headers=ADMIN)
    [item] = client.get("/api/v1/review-queue", headers=REVIEWER).get_json()["items"]
    assert {"field": "title", "rule": "banned_word", "text": "法式"}.items() <= item["findings"][0].items()


@pytest.mark.parametrize("headers,status", [(OPS, 403), (BUYER, 403), ({}, 401)])
def test_queue_is_for_reviewers(client, headers, status):
    problem(client.get("/api/v1/review-queue", headers=headers), status)


# Bulk ------------------------------------------------------------------------------------------
def test_bulk_delist_reports_each_item(steps, client, dress):
    a = steps.listed(one_sku(dress, "B1"))
    b = steps.listed(one_sku(dress, "B2"))
    draft = steps.create(one_sku(dress, "B3"))
    foreign = steps.create(one_sku(dress, "B4"), headers=OPS2)
    r = client.post(
        "/api/v1/products/bulk/delist",
        headers=OPS,
        json={
            "product_ids": [a["product_id"], b["product_id"], draft["product_id"], foreign["product_id"], "PRmissing"],
            "reason": "seasonal",
        },
    )
    assert r.status_code == 200
    body = r.get_json()
    assert (body["succeeded"], body["failed"]) == (2, 3)
    by_id = {x["product_id"]: x for x in body["results"]}
    assert by_id[a["product_id"]] == {"product_id": a["product_id"], "ok": True, "status": "delisted", "error": None}
    assert by_id[draft["product_id"]]["error"]["status"] == 409
    assert by_id[foreign["product_id"]]["error"]["status"] == 404
    assert by_id["PRmissing"]["error"]["status"] == 404
    assert len(steps.events("catalog.ProductDelisted")) == 2


def test_bulk_relist_refuses_violations_per_item(steps, client, dress):
    a = steps.listed(one_sku(dress, "R1"))
    b = steps.listed(one_sku(dress, "R2"))
    steps.act(a["product_id"], "delist", json={"reason": "out_of_stock"})
    steps.act(b["product_id"], "delist", REVIEWER, json={"reason": "violation"})
    body = client.post(
        "/api/v1/products/bulk/relist", headers=OPS, json={"product_ids": [a["product_id"], b["product_id"]]}
    ).get_json()
    assert [(x["ok"], (x["error"] or {}).get("status")) for x in body["results"]] == [(True, None), (False, 409)]
    assert client.get(f"/api/v1/products/{b['product_id']}", headers=OPS).get_json()["status"] == "delisted"


def test_bulk_validation_and_roles(client):
    problem(
        client.post("/api/v1/products/bulk/delist", json={"product_ids": [], "reason": "seasonal"}, headers=OPS), 422
    )
    problem(
        client.post(
            "/api/v1/products/bulk/delist", json={"product_ids": ["x"] * 201, "reason": "seasonal"}, headers=OPS
        ),
        422,
    )
    problem(client.post("/api/v1/products/bulk/relist", json={"product_ids": ["x"]}, headers=REVIEWER), 403)
    problem(client.post("/api/v1/products/bulk/relist", json={"product_ids": ["x"]}), 401)


def test_platform_takedown_in_bulk(steps, client, dress):
    a = steps.listed(one_sku(dress, "T1"))
    b = steps.listed(one_sku(dress, "T2"), headers=OPS2)
    body = client.post(
        "/api/v1/products/bulk/delist",
        headers=ADMIN,
        json={"product_ids": [a["product_id"], b["product_id"]], "reason": "violation", "note": "虚假宣传"},
    ).get_json()
    assert body["succeeded"] == 2


def test_bulk_idempotency_replays(steps, client, dress):
    a = steps.listed(one_sku(dress, "I1"))
    h = {**OPS, "Idempotency-Key": "bulk-1"}
    body = {"product_ids": [a["product_id"]], "reason": "seasonal"}
    first = client.post("/api/v1/products/bulk/delist", json=body, headers=h).get_json()
    again = client.post("/api/v1/products/bulk/delist", json=body, headers=h)
    assert again.get_json() == first and again.headers["Idempotent-Replayed"] == "true"
    assert len(steps.events("catalog.ProductDelisted")) == 1


# SKUs --------------------------------------------------------------------------------------------
def test_sku_of_a_listed_product(steps, client):
    steps.listed()
    r = client.get("/api/v1/skus/DRESS-RED-S", query_string={"shop_id": "S1"}, headers=SERVICE_ROLE)
    assert r.status_code == 200
    sku = r.get_json()
    assert sku["sellable"] is True and sku["product_status"] == "listed"
    assert (sku["list_price_fen"], sku["promo_price_fen"], sku["member_price_fen"], sku["price_fen"]) == (
        29900,
        25900,
        27900,
        25900,
    )
    assert sku["spec"] == {"颜色": "红色", "尺码": "S"} and sku["weight_g"] == 300
    assert sku["low_stock_threshold"] == 5 and sku["category_id"] == "womenswear-dresses"
    assert set(sku) >= {
        "sku_code",
        "shop_id",
        "product_id",
        "title",
        "category_id",
        "product_status",
        "sellable",
        "list_price_fen",
        "promo_price_fen",
        "member_price_fen",
        "price_fen",
        "weight_g",
        "low_stock_threshold",
        "spec",
    }
    assert (
        client.get("/api/v1/skus/DRESS-RED-M", query_string={"shop_id": "S1"}, headers=SERVICE_ROLE).get_json()[
            "price_fen"
        ]
        == 29900
    )


def test_sku_after_delisting_is_not_sellable(steps, client):
    p = steps.listed()
    steps.act(p["product_id"], "delist", json={"reason": "seasonal"})
    sku = client.get("/api/v1/skus/DRESS-RED-S", query_string={"shop_id": "S1"}, headers=SERVICE_ROLE).get_json()
    assert sku["sellable"] is False and sku["product_status"] == "delisted"


def test_sku_visibility(steps, client):
    steps.create()
    q = {"shop_id": "S1"}
    assert client.get("/api/v1/skus/DRESS-RED-S", query_string=q, headers=SERVICE_ROLE).get_json()["sellable"] is False
    assert client.get("/api/v1/skus/DRESS-RED-S", headers=OPS).status_code == 200  # own shop by default
    problem(client.get("/api/v1/skus/DRESS-RED-S", query_string=q, headers=OPS2), 404)  # another shop's draft
    problem(client.get("/api/v1/skus/DRESS-RED-S", query_string=q, headers=BUYER), 404)
    problem(client.get("/api/v1/skus/DRESS-RED-S", query_string={"shop_id": "S2"}, headers=SERVICE_ROLE), 404)
    problem(client.get("/api/v1/skus/NOPE", query_string=q, headers=SERVICE_ROLE), 404)
    problem(client.get("/api/v1/skus/DRESS-RED-S", headers=SERVICE_ROLE), 422)  # platform must name the shop
    problem(client.get("/api/v1/skus/DRESS-RED-S", query_string=q), 401)
    assert client.get("/api/v1/skus/DRESS-RED-S", query_string=q, headers=FINANCE).status_code == 200


def test_listed_sku_visible_to_other_shops_staff(steps, client):
    steps.listed()
    r = client.get("/api/v1/skus/DRESS-RED-S", query_string={"shop_id": "S1"}, headers=OPS2)
    assert r.status_code == 200 and r.get_json()["sellable"] is True


def test_sku_batch(steps, client, dress):
    steps.listed()
    steps.create(one_sku(dress, "DRAFT-1"))
    r = client.post(
        "/api/v1/skus/batch",
        headers=SERVICE_ROLE,
        json={"shop_id": "S1", "sku_codes": ["DRESS-RED-M", "NOPE", "DRESS-RED-S", "DRAFT-1"]},
    )
    assert r.status_code == 200
    body = r.get_json()
    assert [(i["sku_code"], i["sellable"]) for i in body["items"]] == [
        ("DRESS-RED-M", True),
        ("DRESS-RED-S", True),
        ("DRAFT-1", False),
    ]
    assert body["missing"] == ["NOPE"]
    other = client.post(
        "/api/v1/skus/batch", headers=OPS2, json={"shop_id": "S1", "sku_codes": ["DRESS-RED-M", "DRAFT-1"]}
    ).get_json()
    assert [i["sku_code"] for i in other["items"]] == ["DRESS-RED-M"] and other["missing"] == ["DRAFT-1"]
    problem(client.post("/api/v1/skus/batch", headers=SERVICE_ROLE, json={"shop_id": "S1", "sku_codes": []}), 422)
    problem(client.post("/api/v1/skus/batch", headers=SERVICE_ROLE, json={"sku_codes": ["A"]}), 422)
    problem(client.post("/api/v1/skus/batch", json={"shop_id": "S1", "sku_codes": ["A"]}), 401)


# Dry-run scan ------------------------------------------------------------------------------------
def test_compliance_scan_dry_run(client, steps):
    r = client.post(
        "/api/v1/compliance/scan", headers=OPS, json={"title": "史无前例的好面膜", "category_id": "beauty-masks"}
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["passed"] is False
    rules = {f["rule"] for f in body["findings"]}
    assert {"banned_word", "category_not_leaf", "image_required", "sku_required"} <= rules
    assert client.get("/api/v1/products", headers=OPS).get_json()["items"] == []
    problem(client.post("/api/v1/compliance/scan", headers=BUYER, json={}), 403)
