"""Categories (admin) and the banned-word list (admin), plus the seeded defaults and /openapi.json."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from ecom_testkit import CRAFTED_CURSORS, auth

OPS = auth("ops", "alice", "S1")
REVIEWER = auth("reviewer", "rita")
ADMIN = auth("admin", "adam")
BUYER = auth("buyer", "bea")

CATS = "/api/v1/categories"
WORDS = "/api/v1/banned-words"


def problem(r, status):
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    return r.get_json()


# Seeds ---------------------------------------------------------------------------------------------
def test_seeded_tree(client):
    tree = client.get(f"{CATS}/tree", headers=BUYER).get_json()["items"]
    names = {root["name"]: [c["name"] for c in root["children"]] for root in tree}
    assert names == {"女装": ["连衣裙"], "美妆护肤": ["面膜"], "数码": ["手机"]}
    mask = client.get(f"{CATS}/beauty-masks-repair", headers=OPS).get_json()
    assert mask["path"] == ["美妆护肤", "面膜", "修护面膜"] and mask["is_leaf"] is True
    assert [(a["name"], a["declared_in"]) for a in mask["attributes"]][:2] == [
        ("适用肤质", "beauty-masks"),
        ("净含量ml", "beauty-masks"),
    ]
    dress = client.get(f"{CATS}/womenswear-dresses", headers=OPS).get_json()
    assert {a["name"] for a in dress["attributes"]} >= {"尺码", "颜色", "材质"}
    assert client.get(f"{CATS}/womenswear", headers=OPS).get_json()["is_leaf"] is False


def test_seeded_words(client):
    banned = client.get(WORDS, query_string={"kind": "banned", "limit": 200}, headers=OPS).get_json()["items"]
    exempt = client.get(WORDS, query_string={"kind": "exemption"}, headers=OPS).get_json()["items"]
    assert {"最", "第一", "绝对", "国家级", "顶级"} <= {w["word"] for w in banned}
    assert "最近" in {w["word"] for w in exempt}


def test_category_list_flat_and_by_parent(client):
    roots = client.get(CATS, query_string={"parent_id": "root"}, headers=OPS).get_json()["items"]
    assert sorted(c["category_id"] for c in roots) == ["beauty", "digital", "womenswear"]
    kids = client.get(CATS, query_string={"parent_id": "beauty"}, headers=OPS).get_json()["items"]
    assert [c["category_id"] for c in kids] == ["beauty-masks"]
    problem(client.get(f"{CATS}/nope", headers=OPS), 404)
    problem(client.get(CATS), 401)


# Category management -------------------------------------------------------------------------------
def test_admin_adds_a_leaf_and_products_go_there(client, steps):
    r = client.post(
        CATS,
        headers=ADMIN,
        json={
            "name": "半身裙",
            "parent_id": "womenswear",
            "attributes": [
                {"name": "裙型", "type": "enum", "required": True, "options": ["A字裙", "百褶裙"]},
                {"name": "腰围cm", "type": "number"},
            ],
        },
    )
    assert r.status_code == 201, r.get_json()
    cat = r.get_json()
    assert cat["path"] == ["女装", "半身裙"] and cat["is_leaf"] is True
    body = {
        "category_id": cat["category_id"],
        "title": "百褶半身裙",
        "attributes": {"裙型": "百褶裙", "腰围cm": 68},
        "images": [{"url": "m", "width": 800, "height": 800}],
        "skus": [{"sku_code": "SK-1", "list_price_fen": 100}],
    }
    assert steps.create(body)["category_path"] == ["女装", "半身裙"]
    e = problem(client.post("/api/v1/products", headers=OPS, json={**body, "attributes": {"裙型": "鱼尾裙"}}), 422)
    assert e["findings"][0]["rule"] == "attribute_value"


@pytest.mark.parametrize("headers,status", [(OPS, 403), (REVIEWER, 403), ({}, 401)])
def test_only_admin_manages_categories(client, headers, status):
    problem(client.post(CATS, headers=headers, json={"name": "家电"}), status)
    problem(client.patch(f"{CATS}/digital", headers=headers, json={"name": "3C数码"}), status)
    problem(client.delete(f"{CATS}/digital-phones", headers=headers), status)


def test_category_rules(client, steps):
    problem(client.post(CATS, headers=ADMIN, json={"name": "连衣裙", "parent_id": "womenswear"}), 409)  # sibling
    problem(client.post(CATS, headers=ADMIN, json={"name": "x", "parent_id": "nope"}), 422)
    # an empty parent id is not "no parent" (found by schemathesis: it reached the foreign key, a 500)
    assert "parent_id" in problem(client.post(CATS, headers=ADMIN, json={"name": "x", "parent_id": ""}), 422)["errors"]
    e = problem(
        client.post(
            CATS,
            headers=ADMIN,
            json={"name": "童装", "parent_id": "womenswear-dresses", "attributes": [{"name": "尺码", "type": "text"}]},
        ),
        422,
    )  # clashes with an inherited attribute
    assert "attributes[0].name" in e["errors"]
    problem(client.post(CATS, headers=ADMIN, json={"name": "x", "attributes": [{"name": "a", "type": "colour"}]}), 422)
    problem(client.post(CATS, headers=ADMIN, json={"name": "x", "attributes": [{"name": "a", "type": "enum"}]}), 422)
    steps.create()
    # A category holding products must stay a leaf, and cannot be removed.
    problem(client.post(CATS, headers=ADMIN, json={"name": "短款", "parent_id": "womenswear-dresses"}), 409)
    problem(client.delete(f"{CATS}/womenswear-dresses", headers=ADMIN), 409)
    problem(client.delete(f"{CATS}/womenswear", headers=ADMIN), 409)  # has children


def test_update_and_delete_category(client):
    r = client.patch(
        f"{CATS}/digital-phones",
        headers=ADMIN,
        json={
            "name": "智能手机",
            "attributes": [{"name": "网络类型", "type": "enum", "required": True, "options": ["5G"]}],
        },
    )
    assert r.status_code == 200 and r.get_json()["name"] == "智能手机"
    assert [a["name"] for a in r.get_json()["attributes"]] == ["网络类型"]
    problem(
        client.patch(f"{CATS}/digital", headers=ADMIN, json={"attributes": [{"name": "网络类型", "type": "text"}]}), 422
    )  # would clash with the child's own attribute
    problem(client.patch(f"{CATS}/nope", headers=ADMIN, json={"name": "x"}), 404)
    assert client.delete(f"{CATS}/digital-phones", headers=ADMIN).status_code == 204
    assert client.get(f"{CATS}/digital", headers=ADMIN).get_json()["is_leaf"] is True
    problem(client.delete(f"{CATS}/digital-phones", headers=ADMIN), 404)


def test_category_create_idempotency(client):
    h = {**ADMIN, "Idempotency-Key": "cat-1"}
    a = client.post(CATS, headers=h, json={"name": "家电"})
    b = client.post(CATS, headers=h, json={"name": "家电"})
    assert a.status_code == b.status_code == 201 and a.get_json()["category_id"] == b.get_json()["category_id"]
    assert b.headers["Idempotent-Replayed"] == "true"


# Banned words ----------------------------------------------------------------------------------------
def test_admin_bans_and_exempts_words(client, dress):
    assert client.post("/api/v1/products", headers=OPS, json=dress(title="爆款法式连衣裙")).status_code == 201
    r = client.post(WORDS, headers=ADMIN, json={"word": "爆款", "note": "平台规则"})
    assert r.status_code == 201 and r.get_json()["kind"] == "banned" and r.get_json()["created_by"] == "adam"
    e = problem(
        client.post(
            "/api/v1/products",
            headers=OPS,
            json=dress(title="爆款法式连衣裙", skus=[{"sku_code": "N1", "list_price_fen": 1}]),
        ),
        422,
    )
    assert e["findings"][0]["text"] == "爆款"
    # 最后 is not exempt by default: a product saying 最后一天 is flagged until an admin exempts it.
    body = dress(title="最后一天法式连衣裙", skus=[{"sku_code": "N2", "list_price_fen": 1}])
    problem(client.post("/api/v1/products", headers=OPS, json=body), 422)
    assert client.post(WORDS, headers=ADMIN, json={"word": "最后", "kind": "exemption"}).status_code == 201
    assert client.post("/api/v1/products", headers=OPS, json=body).status_code == 201


def test_removing_a_word(client, dress):
    assert client.delete(f"{WORDS}/{quote('顶级')}", headers=ADMIN).status_code == 204
    assert client.post("/api/v1/products", headers=OPS, json=dress(title="顶级面料法式连衣裙")).status_code == 201
    problem(client.delete(f"{WORDS}/{quote('顶级')}", headers=ADMIN), 404)


def test_word_rules(client):
    problem(client.post(WORDS, headers=ADMIN, json={"word": "最"}), 409)
    problem(client.post(WORDS, headers=ADMIN, json={"word": "  "}), 422)
    problem(client.post(WORDS, headers=ADMIN, json={"word": "好", "kind": "maybe"}), 422)
    problem(client.post(WORDS, headers=OPS, json={"word": "好"}), 403)
    problem(client.delete(f"{WORDS}/{quote('最')}", headers=REVIEWER), 403)
    problem(client.get(WORDS), 401)


# OpenAPI -------------------------------------------------------------------------------------------
def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/api/v1/products",
        "/api/v1/products/{product_id}",
        "/api/v1/products/{product_id}/submit",
        "/api/v1/products/{product_id}/approve",
        "/api/v1/products/{product_id}/reject",
        "/api/v1/products/{product_id}/delist",
        "/api/v1/products/{product_id}/relist",
        "/api/v1/products/{product_id}/restore",
        "/api/v1/products/{product_id}/timeline",
        "/api/v1/products/bulk/delist",
        "/api/v1/products/bulk/relist",
        "/api/v1/review-queue",
        "/api/v1/skus/{sku_code}",
        "/api/v1/skus/batch",
        "/api/v1/categories",
        "/api/v1/categories/tree",
        "/api/v1/categories/{category_id}",
        "/api/v1/banned-words",
        "/api/v1/banned-words/{word}",
        "/api/v1/compliance/scan",
    ):
        assert path in paths, path
    assert "SkuOut" in spec["components"]["schemas"]
    assert "price_fen" in spec["components"]["schemas"]["SkuOut"]["properties"]


# A crafted cursor is refused before it reaches SQL (ecom_common.pagination.decode_cursor) -------------------
@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
@pytest.mark.parametrize("path", ["/api/v1/products", CATS, WORDS])
def test_a_crafted_cursor_is_a_400(client, path, cursor):
    body = problem(client.get(path, query_string={"cursor": cursor}, headers=ADMIN), 400)
    assert "cursor" in body["errors"]
