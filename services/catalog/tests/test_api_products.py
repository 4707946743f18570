"""Products over HTTP: create, read, search, edit, the lifecycle endpoints and their errors."""

from __future__ import annotations

import pytest

from ecom_testkit import auth

OPS = auth("ops", "alice", "S1")
OPS2 = auth("ops", "bob", "S2")
CS1 = auth("cs", "carol", "S1")
REVIEWER = auth("reviewer", "rita")
ADMIN = auth("admin", "adam")
BUYER = auth("buyer", "bea")
SERVICE_ROLE = auth("service", "orders")

DRESS_MAIN_ONLY = [{"url": "m", "width": 1000, "height": 1000}]

BASE = "/api/v1/products"


def problem(r, status):
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    return r.get_json()


# Create --------------------------------------------------------------------------------------------
def test_create_makes_a_draft_for_the_token_shop(steps):
    p = steps.create()
    assert p["status"] == "draft" and p["shop_id"] == "S1" and p["version"] == 1
    assert p["category_path"] == ["女装", "连衣裙"]
    assert [s["sku_code"] for s in p["skus"]] == ["DRESS-RED-S", "DRESS-RED-M"]
    assert p["skus"][0]["price_fen"] == 25900 and p["skus"][1]["price_fen"] == 29900
    assert p["attribute_completeness"] == 100 and p["sellable"] is False
    assert p["created_at"].endswith("Z")
    assert steps.events() == []  # a draft is nobody else's business


def test_create_needs_a_token(client, dress):
    assert problem(client.post(BASE, json=dress()), 401)["status"] == 401


@pytest.mark.parametrize("headers", [REVIEWER, ADMIN, BUYER, CS1, SERVICE_ROLE])
def test_only_merchant_ops_create(client, headers, dress):
    problem(client.post(BASE, json=dress(), headers=headers), 403)


def test_ops_without_a_shop_cannot_create(client, dress):
    problem(client.post(BASE, json=dress(), headers=auth("ops", "nobody")), 403)


def test_ops_cannot_create_for_another_shop(client, dress):
    problem(client.post(BASE, json=dress(shop_id="S2"), headers=OPS), 403)


def test_malformed_json_is_400(client):
    r = client.post(BASE, data="{not json", headers={**OPS, "Content-Type": "application/json"})
    problem(r, 400)


def test_schema_errors_name_the_field(client, dress):
    body = dress()
    del body["skus"]
    body["skus"] = [{"sku_code": "A", "list_price_fen": "99"}]  # strings are not money
    body["colour"] = "red"
    errors = problem(client.post(BASE, json=body, headers=OPS), 422)["errors"]
    assert "colour" in errors and "skus" in errors


def test_compliance_findings_are_field_errors_with_rule_and_text(client, steps, dress):
    body = dress(
        title="全网最好的法式碎花雪纺连衣裙夏季新款女装显瘦气质款超级好看的那种",
        description="国家级品质",
        images=[{"url": "m", "width": 700, "height": 800}, {"url": "d", "width": 1000}],
    )
    body["attributes"]["电压"] = "220V"
    body["skus"][0]["promo_price_fen"] = 30000
    body["skus"][1]["member_price_fen"] = 0
    p = problem(client.post(BASE, json=body, headers=OPS), 422)
    rules = {(f["field"], f["rule"]) for f in p["findings"]}
    assert rules >= {
        ("title", "title_too_long"),
        ("title", "banned_word"),
        ("description", "banned_word"),
        ("images[0]", "main_image_size"),
        ("images[0]", "main_image_square"),
        ("images[1]", "detail_image_width"),
        ("attributes.电压", "attribute_unknown"),
        ("skus[0].promo_price_fen", "promo_below_list"),
        ("skus[1].member_price_fen", "price_positive"),
    }
    assert any("banned_word" in m and "'最'" in m for m in p["errors"]["title"])
    assert any("'国家级'" in m for m in p["errors"]["description"])
    assert "attributes.电压" in p["errors"]
    assert client.get(BASE, headers=OPS).get_json()["items"] == []  # nothing saved
    assert steps.events() == []


def test_exempt_word_is_accepted(steps, dress):
    p = steps.create(dress(title="最近热卖的法式连衣裙"))
    assert p["title"] == "最近热卖的法式连衣裙"


def test_non_leaf_category_is_422(client, dress):
    p = problem(client.post(BASE, json=dress(category_id="womenswear"), headers=OPS), 422)
    assert p["findings"][0]["rule"] == "category_not_leaf"


def test_sku_code_unique_per_shop(steps, client, dress):
    steps.create()
    p = problem(client.post(BASE, json=dress(), headers=OPS), 409)
    assert "skus[0].sku_code" in p["errors"]
    steps.create(headers=OPS2)  # another shop may use the same codes


def test_idempotency_key_replays_and_rejects_another_body(client, dress):
    h = {**OPS, "Idempotency-Key": "create-1"}
    first = client.post(BASE, json=dress(), headers=h)
    again = client.post(BASE, json=dress(), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["product_id"] == first.get_json()["product_id"]
    assert len(client.get(BASE, headers=OPS).get_json()["items"]) == 1
    problem(client.post(BASE, json=dress(title="另一个标题的连衣裙"), headers=h), 409)


def test_failed_create_releases_its_idempotency_key(client, dress):
    h = {**OPS, "Idempotency-Key": "create-2"}
    problem(client.post(BASE, json=dress(title=""), headers=h), 422)
    assert client.post(BASE, json=dress(title=""), headers=h).status_code == 422  # not replayed


# Read and visibility -------------------------------------------------------------------------------
def test_other_shops_drafts_are_404_but_listed_products_are_public(steps, client, dress):
    draft = steps.create()
    problem(client.get(f"{BASE}/{draft['product_id']}", headers=OPS2), 404)
    problem(client.get(f"{BASE}/{draft['product_id']}", headers=BUYER), 404)
    assert client.get(f"{BASE}/{draft['product_id']}", headers=CS1).status_code == 200  # same shop, any role
    assert client.get(f"{BASE}/{draft['product_id']}", headers=REVIEWER).status_code == 200
    listed = steps.listed(dress(skus=[{"sku_code": "L1", "list_price_fen": 100, "spec": {}}]))
    assert client.get(f"{BASE}/{listed['product_id']}", headers=OPS2).status_code == 200
    assert client.get(f"{BASE}/{listed['product_id']}", headers=BUYER).status_code == 200


def test_unknown_product_404(client):
    problem(client.get(f"{BASE}/PRnope", headers=OPS), 404)


def test_get_shows_warnings(steps, client, dress):
    p = steps.create(dress(images=DRESS_MAIN_ONLY))
    found = client.get(f"{BASE}/{p['product_id']}", headers=OPS).get_json()["findings"]
    assert [(f["rule"], f["severity"]) for f in found] == [("detail_images_few", "warning")]


# Search --------------------------------------------------------------------------------------------
def _sku(code):
    return [{"sku_code": code, "list_price_fen": 1000, "spec": {}}]


def test_search_filters_and_paginates(steps, client, config, dress):
    a = steps.create(dress(title="碎花连衣裙", skus=_sku("A")))
    b = steps.listed(dress(title="纯色连衣裙", skus=_sku("B")))
    phone = steps.create(
        {
            "category_id": "digital-phones",
            "title": "5G智能手机",
            "attributes": {"网络类型": "5G", "存储容量": ["256GB"]},
            "images": DRESS_MAIN_ONLY,
            "skus": _sku("PHONE-1"),
        }
    )
    other = steps.listed(dress(title="别家的碎花裙", skus=_sku("X")), headers=OPS2)
    steps.create(dress(title="别家草稿", skus=_sku("Y")), headers=OPS2)

    def ids(headers=OPS, **q):
        r = client.get(BASE, query_string=q, headers=headers)
        assert r.status_code == 200, r.get_json()
        return [p["product_id"] for p in r.get_json()["items"]]

    assert ids() == [
        other["product_id"],
        phone["product_id"],
        b["product_id"],
        a["product_id"],
    ]  # own products + others' listed, newest first
    assert ids(status="listed") == [other["product_id"], b["product_id"]]
    assert ids(status="listed", shop_id="S1") == [b["product_id"]]
    assert ids(category_id="womenswear") == [other["product_id"], b["product_id"], a["product_id"]]  # the subtree
    assert ids(category_id="digital-phones") == [phone["product_id"]]
    assert ids(q="碎花") == [other["product_id"], a["product_id"]]
    assert len(ids(REVIEWER)) == 5  # platform sees every shop's drafts
    config.clock.advance(minutes=5)
    since = config.clock.now().isoformat()
    steps.act(a["product_id"], "submit")
    assert ids(updated_since=since) == [a["product_id"]]
    page1 = client.get(BASE, query_string={"limit": 2}, headers=OPS).get_json()
    page2 = client.get(BASE, query_string={"limit": 2, "cursor": page1["next_cursor"]}, headers=OPS).get_json()
    assert [p["product_id"] for p in page1["items"] + page2["items"]] == ids()
    assert page2["next_cursor"] is None
    problem(client.get(BASE, query_string={"status": "sold"}, headers=OPS), 422)
    problem(client.get(BASE, query_string={"cursor": "garbage"}, headers=OPS), 400)
    problem(client.get(BASE), 401)


def test_deleted_products_only_when_asked(steps, client):
    p = steps.create()
    client.delete(f"{BASE}/{p['product_id']}", headers=OPS)
    assert client.get(BASE, headers=OPS).get_json()["items"] == []
    assert [
        x["product_id"] for x in client.get(BASE, query_string={"status": "deleted"}, headers=OPS).get_json()["items"]
    ] == [p["product_id"]]


# Edit ----------------------------------------------------------------------------------------------
def test_edit_a_draft(steps, client):
    p = steps.create()
    r = client.patch(f"{BASE}/{p['product_id']}", json={"title": "改过的法式连衣裙"}, headers=OPS)
    assert r.status_code == 200 and r.get_json()["title"] == "改过的法式连衣裙"
    assert r.get_json()["status"] == "draft" and r.get_json()["version"] == 2
    assert steps.events() == []


def test_edit_that_changes_nothing_is_a_no_op(steps, client, dress):
    p = steps.create()
    r = client.patch(
        f"{BASE}/{p['product_id']}", json={"title": dress()["title"], "skus": dress()["skus"]}, headers=OPS
    )
    assert r.status_code == 200 and r.get_json()["version"] == 1
    assert len(client.get(f"{BASE}/{p['product_id']}/timeline", headers=OPS).get_json()["items"]) == 1


def test_edit_runs_the_scan(steps, client, dress):
    p = steps.create()
    e = problem(client.patch(f"{BASE}/{p['product_id']}", json={"description": "绝对显瘦"}, headers=OPS), 422)
    assert e["findings"][0]["text"] == "绝对"
    assert client.get(f"{BASE}/{p['product_id']}", headers=OPS).get_json()["description"] == dress()["description"]


def test_edit_with_stale_version_is_409(steps, client):
    p = steps.create()
    problem(client.put(f"{BASE}/{p['product_id']}", json={"title": "新的连衣裙", "version": 7}, headers=OPS), 409)


def test_edit_roles_and_ownership(steps, client, dress):
    p = steps.listed()
    problem(client.patch(f"{BASE}/{p['product_id']}", json={"title": "x"}, headers=REVIEWER), 403)
    problem(client.patch(f"{BASE}/{p['product_id']}", json={"title": "x"}, headers=OPS2), 403)  # visible, not theirs
    d = steps.create(dress(skus=_sku("D1")))
    problem(client.patch(f"{BASE}/{d['product_id']}", json={"title": "x"}, headers=OPS2), 404)  # not even visible


def test_content_edit_of_listed_product_goes_back_to_review(steps, client):
    p = steps.listed()
    r = client.patch(f"{BASE}/{p['product_id']}", json={"title": "升级款法式碎花连衣裙"}, headers=OPS)
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "pending_review" and body["sellable"] is False
    assert body["review_due_at"] is not None
    delisted = steps.events("catalog.ProductDelisted")[-1]["payload"]
    assert delisted["reason"] == "under_review" and set(delisted["sku_codes"]) == {"DRESS-RED-S", "DRESS-RED-M"}
    assert steps.events("catalog.ProductSubmitted")[-1]["payload"]["title"] == "升级款法式碎花连衣裙"
    assert steps.events("catalog.PriceChanged") == []


def test_price_only_edit_keeps_it_listed_and_publishes_price_changed(steps, client, dress):
    p = steps.listed()
    skus = dress()["skus"]
    skus[0]["promo_price_fen"] = 19900
    r = client.patch(f"{BASE}/{p['product_id']}", json={"skus": skus}, headers=OPS)
    assert r.status_code == 200 and r.get_json()["status"] == "listed"
    [ev] = steps.events("catalog.PriceChanged")
    assert ev["payload"]["shop_id"] == "S1"
    assert ev["payload"]["skus"][0] == {
        "sku_code": "DRESS-RED-S",
        "list_price_fen": 29900,
        "promo_price_fen": 19900,
        "member_price_fen": 27900,
        "low_stock_threshold": 5,
        "weight_g": 300,
    }
    assert steps.events("catalog.ProductSubmitted")[-1]["payload"]["product_id"] == p["product_id"]
    assert len(steps.events("catalog.ProductSubmitted")) == 1  # only the first submission
    timeline = client.get(f"{BASE}/{p['product_id']}/timeline", headers=OPS).get_json()["items"]
    assert timeline[-1]["action"] == "edit" and timeline[-1]["details"]["commercial"] is True


def test_adding_a_sku_to_a_listed_product_is_reviewed(steps, client, dress):
    p = steps.listed()
    skus = dress()["skus"] + [
        {"sku_code": "DRESS-RED-L", "spec": {"颜色": "红色", "尺码": "L"}, "list_price_fen": 29900}
    ]
    r = client.patch(
        f"{BASE}/{p['product_id']}",
        json={"skus": skus, "attributes": {**dress()["attributes"], "尺码": ["S", "M", "L"]}},
        headers=OPS,
    )
    assert r.get_json()["status"] == "pending_review"
    steps.act(p["product_id"], "approve", REVIEWER)
    listed = steps.events("catalog.ProductListed")[-1]["payload"]
    assert [s["sku_code"] for s in listed["skus"]] == ["DRESS-RED-S", "DRESS-RED-M", "DRESS-RED-L"]


def test_edit_under_review_is_409(steps, client):
    p = steps.submitted()
    problem(client.patch(f"{BASE}/{p['product_id']}", json={"title": "改标题的连衣裙"}, headers=OPS), 409)


# Transitions ---------------------------------------------------------------------------------------
def test_submit_approve_emits_events_and_timeline(steps, client, config):
    p = steps.submitted()
    assert p["status"] == "pending_review"
    assert p["review_due_at"] is not None and p["review_overdue"] is False
    listed = steps.act(p["product_id"], "approve", REVIEWER)
    assert listed["status"] == "listed" and listed["sellable"] and listed["reviewed_by"] == "rita"
    types = [e["type"] for e in steps.events()]
    assert types == ["ProductSubmitted", "ProductApproved", "ProductListed"]
    payload = steps.events("catalog.ProductListed")[0]["payload"]
    assert payload["shop_id"] == "S1" and payload["category_id"] == "womenswear-dresses"
    assert payload["skus"][0] == {
        "sku_code": "DRESS-RED-S",
        "list_price_fen": 29900,
        "promo_price_fen": 25900,
        "member_price_fen": 27900,
        "low_stock_threshold": 5,
        "weight_g": 300,
    }
    timeline = client.get(f"{BASE}/{p['product_id']}/timeline", headers=OPS).get_json()["items"]
    assert [(t["action"], t["from_status"], t["status"], t["by"]) for t in timeline] == [
        ("create", None, "draft", "alice"),
        ("submit", "draft", "pending_review", "alice"),
        ("approve", "pending_review", "listed", "rita"),
    ]


def test_reject_then_fix_and_resubmit(steps, client, dress):
    p = steps.submitted()
    problem(client.post(f"{BASE}/{p['product_id']}/reject", json={}, headers=REVIEWER), 422)  # reason required
    r = steps.act(p["product_id"], "reject", REVIEWER, json={"reason": "主图背景不是白色"})
    assert r["status"] == "rejected" and r["reject_reason"] == "主图背景不是白色"
    assert steps.events("catalog.ProductRejected")[0]["payload"]["reason"] == "主图背景不是白色"
    client.patch(
        f"{BASE}/{p['product_id']}", json={"images": dress()["images"][:1] + dress()["images"][1:]}, headers=OPS
    )
    assert steps.act(p["product_id"], "submit")["status"] == "pending_review"
    timeline = client.get(f"{BASE}/{p['product_id']}/timeline", headers=OPS).get_json()["items"]
    assert ("reject", "主图背景不是白色") in [(t["action"], t["reason"]) for t in timeline]


def test_review_roles(steps, client):
    p = steps.submitted()
    problem(client.post(f"{BASE}/{p['product_id']}/approve", headers=OPS), 403)
    problem(client.post(f"{BASE}/{p['product_id']}/approve", headers=ADMIN), 403)
    problem(client.post(f"{BASE}/{p['product_id']}/approve"), 401)


def test_illegal_transitions_are_409_and_change_nothing(steps, client, dress):
    d = steps.create()
    for action, headers in (("approve", REVIEWER), ("relist", OPS), ("withdraw", OPS), ("restore", OPS)):
        e = problem(client.post(f"{BASE}/{d['product_id']}/{action}", headers=headers), 409)
        assert e["errors"]["status"] == ["draft"]
    problem(client.post(f"{BASE}/{d['product_id']}/delist", json={"reason": "seasonal"}, headers=OPS), 409)
    problem(client.post(f"{BASE}/{d['product_id']}/reject", json={"reason": "x"}, headers=REVIEWER), 409)
    assert client.get(f"{BASE}/{d['product_id']}", headers=OPS).get_json()["version"] == 1
    p = steps.submitted(dress(skus=_sku("S-2")))
    problem(client.post(f"{BASE}/{p['product_id']}/submit", headers=OPS), 409)


def test_approval_rescans_with_todays_word_list(steps, client):
    p = steps.submitted()
    assert client.post("/api/v1/banned-words", json={"word": "碎花"}, headers=ADMIN).status_code == 201
    e = problem(client.post(f"{BASE}/{p['product_id']}/approve", headers=REVIEWER), 422)
    assert e["findings"][0]["text"] == "碎花"


def test_submit_of_another_shops_product(steps, client):
    p = steps.create()
    problem(client.post(f"{BASE}/{p['product_id']}/submit", headers=OPS2), 404)


def test_seasonal_delist_and_relist(steps, client):
    p = steps.listed()
    r = steps.act(p["product_id"], "delist", json={"reason": "seasonal", "note": "夏装下架"})
    assert r["status"] == "delisted" and r["delist_reason"] == "seasonal" and r["sellable"] is False
    ev = steps.events("catalog.ProductDelisted")[0]["payload"]
    assert ev["reason"] == "seasonal" and ev["sku_codes"] == ["DRESS-RED-S", "DRESS-RED-M"]
    assert steps.act(p["product_id"], "relist")["status"] == "listed"
    assert len(steps.events("catalog.ProductListed")) == 2


def test_violation_delist_needs_review(steps, client):
    p = steps.listed()
    r = steps.act(p["product_id"], "delist", REVIEWER, json={"reason": "violation", "note": "虚假宣传"})
    assert r["delist_reason"] == "violation"
    e = problem(client.post(f"{BASE}/{p['product_id']}/relist", headers=OPS), 409)
    assert "violation" in e["detail"]
    steps.act(p["product_id"], "submit")
    assert steps.act(p["product_id"], "approve", REVIEWER)["status"] == "listed"


def test_delist_reason_validated(steps, client):
    p = steps.listed()
    problem(client.post(f"{BASE}/{p['product_id']}/delist", json={"reason": "bored"}, headers=OPS), 422)
    problem(client.post(f"{BASE}/{p['product_id']}/delist", json={"reason": "seasonal"}, headers=BUYER), 403)
    problem(client.post(f"{BASE}/{p['product_id']}/delist", json={"reason": "seasonal"}, headers=OPS2), 403)


def test_content_edit_while_delisted_needs_review_before_relist(steps, client):
    p = steps.listed()
    steps.act(p["product_id"], "delist", json={"reason": "seasonal"})
    r = client.patch(f"{BASE}/{p['product_id']}", json={"title": "秋季新款法式连衣裙"}, headers=OPS).get_json()
    assert r["status"] == "delisted" and r["review_required"] is True
    problem(client.post(f"{BASE}/{p['product_id']}/relist", headers=OPS), 409)


def test_delete_and_restore(steps, client, config):
    p = steps.listed()
    r = client.delete(f"{BASE}/{p['product_id']}", json={"reason": "停产"}, headers=OPS)
    assert r.status_code == 200 and r.get_json()["status"] == "deleted"
    assert r.get_json()["restorable_until"] is not None
    assert steps.events("catalog.ProductDeleted")[0]["payload"]["sku_codes"] == ["DRESS-RED-S", "DRESS-RED-M"]
    problem(client.delete(f"{BASE}/{p['product_id']}", headers=OPS), 409)
    problem(client.get(f"{BASE}/{p['product_id']}", headers=OPS2), 404)
    restored = steps.act(p["product_id"], "restore")
    assert restored["status"] == "delisted" and restored["deleted_at"] is None
    assert steps.events("catalog.ProductRestored")[0]["payload"]["product_id"] == p["product_id"]
    assert steps.act(p["product_id"], "relist")["status"] == "listed"


def test_restore_after_30_days_is_409(steps, client, config):
    p = steps.create()
    client.delete(f"{BASE}/{p['product_id']}", headers=OPS)
    config.clock.advance(days=30, minutes=1)
    problem(client.post(f"{BASE}/{p['product_id']}/restore", headers=OPS), 409)


def test_withdraw(steps):
    p = steps.submitted()
    r = steps.act(p["product_id"], "withdraw")
    assert r["status"] == "draft" and r["review_due_at"] is None


def test_transition_idempotency_key_replays(steps, client):
    p = steps.submitted()
    h = {**REVIEWER, "Idempotency-Key": "approve-1"}
    first = client.post(f"{BASE}/{p['product_id']}/approve", headers=h)
    again = client.post(f"{BASE}/{p['product_id']}/approve", headers=h)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(steps.events("catalog.ProductListed")) == 1


def test_timeline_visibility(steps, client):
    p = steps.create()
    problem(client.get(f"{BASE}/{p['product_id']}/timeline", headers=OPS2), 404)
    assert client.get(f"{BASE}/{p['product_id']}/timeline", headers=REVIEWER).status_code == 200


REVIEW_TRAIL = {
    "created_by",
    "review_required",
    "submitted_at",
    "review_due_at",
    "review_overdue",
    "reviewed_at",
    "reviewed_by",
    "reject_reason",
}


def test_a_listed_products_review_history_is_for_its_shop_and_the_platform_only(steps, client):
    # Rejected once with a reviewer's note, then fixed and listed: the trail names staff and the note.
    p = steps.submitted()
    steps.act(p["product_id"], "reject", REVIEWER, json={"reason": "内部备注：主图背景不是白色"})
    steps.act(p["product_id"], "submit")
    steps.act(p["product_id"], "approve", REVIEWER)
    timeline = f"{BASE}/{p['product_id']}/timeline"
    for outsider in (BUYER, OPS2, auth("finance", "fay"), auth("buyer", "bea", "S1")):
        product = client.get(f"{BASE}/{p['product_id']}", headers=outsider).get_json()
        assert product["status"] == "listed" and not REVIEW_TRAIL & set(product), product
        [listed] = client.get(f"{BASE}?shop_id=S1", headers=outsider).get_json()["items"]
        assert not REVIEW_TRAIL & set(listed)
        problem(client.get(timeline, headers=outsider), 404)
    for insider in (OPS, CS1, REVIEWER, ADMIN, SERVICE_ROLE):
        product = client.get(f"{BASE}/{p['product_id']}", headers=insider).get_json()
        assert product["reviewed_by"] == "rita" and set(product) >= REVIEW_TRAIL
        trail = client.get(timeline, headers=insider).get_json()["items"]
        assert ("reject", "内部备注：主图背景不是白色", "reviewer") in [
            (t["action"], t["reason"], t["by_roles"]) for t in trail
        ]
