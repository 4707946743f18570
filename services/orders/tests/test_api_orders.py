"""API tests per endpoint (fake peer gateways, SQLite): success, 400/401/403/404/409/422, replay."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from ecom_testkit import auth
from ecom_testkit.orders_support import ADDRESS, OTHER_SHOP, SHOP, order_body
from orders.models import Order, TimelineEntry

BUYER = auth("buyer", sub="bob")
OPS = auth("ops", sub="olga", shop_id=SHOP)
OTHER_OPS = auth("ops", sub="oscar", shop_id=OTHER_SHOP)


def post_order(client, body, headers=None, key="auto"):
    h = dict(headers or BUYER)
    if key == "auto":
        key = uuid.uuid4().hex
    if key:
        h["Idempotency-Key"] = key
    return client.post("/api/v1/orders", json=body, headers=h)


def count_orders(db):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one()


def assert_problem(resp, status, *fields):
    assert resp.status_code == status, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status
    for f in fields:
        assert f in body["errors"], body
    return body


# POST /orders -------------------------------------------------------------------------------------------
def test_place_an_order(client, db, events, fakes):
    resp = post_order(
        client,
        order_body(
            [{"sku_code": "RED-M", "quantity": 2}, {"sku_code": "BLUE-L", "quantity": 1}], note="颜色要和图片一样"
        ),
    )
    assert resp.status_code == 201
    order = resp.get_json()
    assert order["order_id"].startswith("O") and order["status"] == "pending_payment"
    assert order["buyer_id"] == "bob" and order["shop_id"] == SHOP
    # 2 x 99 (list 129) + 1 x 50; goods paid 248 yuan >= 99: free shipping in the fake quote.
    assert (order["goods_fen"], order["discount_fen"], order["shipping_fen"], order["payable_fen"]) == (
        30800,
        6000,
        0,
        24800,
    )
    assert [(l["sku_code"], l["unit_price_fen"], l["category_id"]) for l in order["lines"]] == [
        ("RED-M", 9900, "C-dress"),
        ("BLUE-L", 5000, "C-dress"),
    ]
    assert order["address"] == ADDRESS and order["address_masked"] is False  # the buyer themself
    assert [t["action"] for t in order["timeline"]] == ["placed"]
    assert set(order["timeline"][0]) == {"at", "by", "action", "from_status", "status", "reason"}
    assert order["timeline"][0]["at"].endswith("Z") and order["created_at"].endswith("Z")  # UTC, like every service
    # Rendered from the order in hand, not read back: it must equal what is stored.
    assert order == client.get(f"/api/v1/orders/{order['order_id']}", headers=BUYER).get_json()
    assert fakes.logistics.calls == [(SHOP, "浙江", 2 * 500 + 1500, 24800)]
    (placed,) = events("orders.OrderPlaced")
    p = placed["payload"]
    assert p["order_id"] == order["order_id"] and p["payable_fen"] == 24800 and p["buyer_id"] == "bob"
    assert p["lines"][0] == {
        "sku_code": "RED-M",
        "quantity": 2,
        "unit_price_fen": 9900,
        "list_price_fen": 12900,
        "discount_fen": 0,
        "paid_fen": 19800,
        "category_id": "C-dress",
        "no_7day_return": False,
    }
    # the promotional price is marketing's single-item price, a row funded by the shop
    assert p["discounts"] == [
        {"line": 0, "sku_code": "RED-M", "source": "promo_price", "ref": None, "amount_fen": 6000, "funded_by": "shop"}
    ]
    assert p["address"]["phone"] == "138****5678" and "13812345678" not in json.dumps(placed)


def test_special_goods_flag_is_copied_onto_the_line_and_the_event(client, events):
    """Catalog's no_7day_return at placing stays with the line (aftersales reads it for no_reason)."""
    body = order_body([{"sku_code": "CUSTOM", "quantity": 1}, {"sku_code": "BLUE-L", "quantity": 1}])
    order = post_order(client, body).get_json()
    assert [(l["sku_code"], l["no_7day_return"]) for l in order["lines"]] == [("CUSTOM", True), ("BLUE-L", False)]
    read = client.get(f"/api/v1/orders/{order['order_id']}", headers=BUYER).get_json()
    assert [l["no_7day_return"] for l in read["lines"]] == [True, False]
    (placed,) = events("orders.OrderPlaced")
    assert [l["no_7day_return"] for l in placed["payload"]["lines"]] == [True, False]


def test_shipping_fee_from_logistics_is_added(client):
    order = post_order(client, order_body([{"sku_code": "BLUE-L", "quantity": 1}])).get_json()
    assert order["shipping_fen"] == 1000 and order["payable_fen"] == 6000


def test_idempotency_key_replays_the_first_response(client, db, events):
    body = order_body()
    first = post_order(client, body, key="k-1")
    again = post_order(client, body, key="k-1")
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["order_id"] == first.get_json()["order_id"]
    assert count_orders(db) == 1 and len(events("orders.OrderPlaced")) == 1


def test_idempotency_key_with_another_body_is_409(client, db):
    post_order(client, order_body(), key="k-2")
    resp = post_order(client, order_body([{"sku_code": "RED-M", "quantity": 3}]), key="k-2")
    assert_problem(resp, 409, "Idempotency-Key")
    assert count_orders(db) == 1


def test_idempotency_key_is_required(client, db):
    assert_problem(post_order(client, order_body(), key=None), 400, "Idempotency-Key")
    assert count_orders(db) == 0


def test_a_failed_request_releases_its_key(client, db):
    bad = post_order(client, order_body([{"sku_code": "NOPE", "quantity": 1}]), key="k-3")
    assert bad.status_code == 422
    assert post_order(client, order_body(), key="k-3").status_code == 201


def test_place_needs_a_token_and_the_buyer_role(client, db):
    assert_problem(client.post("/api/v1/orders", json=order_body(), headers={"Idempotency-Key": "x"}), 401)
    assert_problem(post_order(client, order_body(), headers=OPS), 403)
    assert count_orders(db) == 0


def test_malformed_json_is_400(client, db):
    resp = client.post(
        "/api/v1/orders", data="{not json", content_type="application/json", headers={**BUYER, "Idempotency-Key": "m"}
    )
    assert_problem(resp, 400)
    assert count_orders(db) == 0


def test_shape_errors_name_the_field(client, db):
    body = order_body([{"sku_code": "RED-M", "quantity": "2"}, {"quantity": 1}])
    del body["address"]["phone"]
    body["address"]["name"] = ""
    resp = post_order(client, body)
    assert_problem(resp, 422, "lines.0.quantity", "lines.1.sku_code", "address.phone", "address.name")
    assert_problem(post_order(client, {"lines": []}), 422, "shop_id", "lines", "address")
    assert count_orders(db) == 0


def test_a_bad_phone_is_422(client):
    assert_problem(post_order(client, order_body(address={**ADDRESS, "phone": "call me"})), 422, "address.phone")


def test_unknown_and_unsellable_skus_and_bad_quantities_name_the_line(client, db, events):
    assert_problem(
        post_order(client, order_body([{"sku_code": "RED-M", "quantity": 1}, {"sku_code": "NOPE", "quantity": 1}])),
        422,
        "lines.1.sku_code",
    )
    assert_problem(post_order(client, order_body([{"sku_code": "OLD", "quantity": 1}])), 422, "lines.0.sku_code")
    assert_problem(post_order(client, order_body([{"sku_code": "RED-M", "quantity": 0}])), 422, "lines.0.quantity")
    assert_problem(
        post_order(client, order_body([{"sku_code": "RED-M", "quantity": 1}, {"sku_code": "RED-M", "quantity": 1}])),
        422,
        "lines.1.sku_code",
    )
    # Another shop's SKU is unknown in this shop.
    assert_problem(post_order(client, order_body([{"sku_code": "GREEN-S", "quantity": 1}])), 422, "lines.0.sku_code")
    assert count_orders(db) == 0 and events() == []


def test_region_not_served_is_422(client, db):
    resp = post_order(client, order_body(address={**ADDRESS, "province": "台湾"}))
    assert_problem(resp, 422, "address.province")
    assert count_orders(db) == 0


def test_a_peer_down_is_503_and_nothing_is_written(client, db, fakes, events):
    fakes.catalog.down = True
    assert_problem(post_order(client, order_body()), 503)
    fakes.catalog.down = False
    fakes.logistics.down = True
    assert_problem(post_order(client, order_body()), 503)
    fakes.logistics.down = False
    fakes.marketing.down = True
    assert_problem(post_order(client, order_body()), 503)
    assert count_orders(db) == 0 and events() == []


def test_coupons_are_apportioned_to_the_lines_and_kept_per_line_and_source(client, db, events, fakes):
    body = order_body(
        [{"sku_code": "RED-M", "quantity": 2}, {"sku_code": "BLUE-L", "quantity": 1}],
        coupon_claim_ids=["CL-SHOP-10", "CL-PLAT-5"],
        points=300,
    )
    order = post_order(client, body).get_json()
    # goods 2 x 99 + 50 = 248 yuan; 10 yuan shop coupon then 5 yuan platform coupon, by what each line costs
    assert [(l["sku_code"], l["total_fen"], l["discount_fen"], l["paid_fen"]) for l in order["lines"]] == [
        ("RED-M", 19800, 798 + 399, 19800 - 1197),
        ("BLUE-L", 5000, 202 + 101, 5000 - 303),
    ]
    assert sum(l["paid_fen"] for l in order["lines"]) == 24800 - 1500
    assert (order["goods_fen"], order["discount_fen"], order["payable_fen"]) == (30800, 6000 + 1500, 23300)
    assert [(d["line"], d["source"], d["ref"], d["amount_fen"], d["funded_by"]) for d in order["discounts"]] == [
        (0, "promo_price", None, 6000, "shop"),
        (0, "shop_coupon", "CL-SHOP-10", 798, "shop"),
        (0, "platform_coupon", "CL-PLAT-5", 399, "platform"),
        (1, "shop_coupon", "CL-SHOP-10", 202, "shop"),
        (1, "platform_coupon", "CL-PLAT-5", 101, "platform"),
    ]
    assert fakes.marketing.calls == [(order["order_id"], "bob", ["CL-SHOP-10", "CL-PLAT-5"], 300)]
    (placed,) = events("orders.OrderPlaced")
    assert placed["payload"]["discounts"] == order["discounts"]
    assert [l["paid_fen"] for l in placed["payload"]["lines"]] == [18603, 4697]
    # the shipping quote is on what the goods cost the buyer after every discount
    assert fakes.logistics.calls[-1][3] == 23300


def test_a_coupon_marketing_refuses_is_422_naming_it_and_nothing_is_written(client, db, events):
    resp = post_order(client, order_body(coupon_claim_ids=["CL-NOT-MINE"]))
    assert_problem(resp, 422, "coupon_claim_ids")
    assert resp.get_json()["errors"]["coupon_claim_ids"] == ["unknown"]
    assert count_orders(db) == 0 and events() == []


def test_coupon_and_points_fields_are_checked_before_anyone_is_asked(client, db, fakes):
    assert_problem(post_order(client, order_body(coupon_claim_ids=["A", "B", "C"])), 422, "coupon_claim_ids")
    assert_problem(post_order(client, order_body(points=-1)), 422, "points")
    assert_problem(post_order(client, order_body(points="100")), 422, "points")
    assert fakes.marketing.calls == [] and count_orders(db) == 0


def test_a_quote_that_does_not_fit_the_order_is_502_and_nothing_is_written(client, db, fakes):
    honest = fakes.marketing.quote

    def short_changed(order_id, request, lines):
        quote = honest(order_id, request, lines)
        return type(quote)(quote.lines[:1], quote.discounts)

    fakes.marketing.quote = short_changed
    resp = post_order(client, order_body([{"sku_code": "RED-M", "quantity": 1}, {"sku_code": "BLUE-L", "quantity": 1}]))
    assert resp.status_code == 502 and count_orders(db) == 0


def test_an_incomplete_address_is_accepted_and_left_to_the_audit(client):
    resp = post_order(client, order_body(address={k: v for k, v in ADDRESS.items() if k not in ("street", "detail")}))
    assert resp.status_code == 201


# GET /orders/{id} -----------------------------------------------------------------------------------------
def test_get_order_visibility_and_address(client, place):
    order = place()
    path = f"/api/v1/orders/{order['order_id']}"
    for headers in (
        OPS,
        auth("cs", shop_id=SHOP),
        auth("warehouse", shop_id=SHOP),
        auth("admin"),
        auth("service"),
        BUYER,
    ):
        body = client.get(path, headers=headers).get_json()
        assert body["address"]["phone"] == "13812345678" and body["address_masked"] is False, headers
        assert body["timeline"][0]["action"] == "placed"
    for headers in (auth("finance", shop_id=SHOP), auth("finance")):
        body = client.get(path, headers=headers).get_json()
        assert body["address"]["phone"] == "138****5678" and body["address_masked"] is True
    assert_problem(client.get(path, headers=auth("buyer", sub="eve")), 404)
    assert_problem(client.get(path, headers=OTHER_OPS), 404)
    assert_problem(client.get(path, headers=auth("reviewer")), 403)
    assert_problem(client.get(path), 401)
    assert_problem(client.get("/api/v1/orders/O-nope", headers=OPS), 404)


def test_staff_token_without_a_shop_sees_nothing(client, place):
    order = place()
    assert_problem(client.get(f"/api/v1/orders/{order['order_id']}", headers=auth("ops")), 404)
    assert_problem(client.get("/api/v1/orders", headers=auth("ops")), 403)


# GET /orders ----------------------------------------------------------------------------------------------
def test_list_scoping_and_masking(client, place, fakes):
    mine = place(buyer="bob")
    place(buyer="carol")
    fakes.catalog.by_shop[OTHER_SHOP]["GREEN-S"]["shop_id"] = OTHER_SHOP
    place(buyer="bob", shop_id=OTHER_SHOP, lines=[{"sku_code": "GREEN-S", "quantity": 1}])

    def ids(headers, query=""):
        resp = client.get("/api/v1/orders" + query, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    assert len(ids(OPS)["items"]) == 2
    assert len(ids(OTHER_OPS)["items"]) == 1
    # Another shop named in the filter is a 404, as its orders are (ecom_common.auth.list_filter).
    assert_problem(client.get(f"/api/v1/orders?shop_id={OTHER_SHOP}", headers=OPS), 404)
    assert len(ids(auth("admin"))["items"]) == 3
    assert len(ids(auth("admin"), f"?shop_id={SHOP}")["items"]) == 2
    bobs = ids(BUYER)["items"]
    assert len(bobs) == 2 and {o["buyer_id"] for o in bobs} == {"bob"}
    item = ids(OPS)["items"][0]
    assert item["address"]["phone"] == "138****5678" and item["address_masked"] is True and "timeline" not in item
    assert mine["order_id"] in [o["order_id"] for o in ids(auth("finance"))["items"]]
    assert_problem(client.get("/api/v1/orders", headers=auth("reviewer")), 403)
    assert_problem(client.get("/api/v1/orders"), 401)


def test_list_filters_and_pagination(client, place, saga, clock):
    small = place()
    clock.advance(minutes=1)
    big = place(lines=[{"sku_code": "BIG", "quantity": 1}])
    clock.advance(minutes=1)
    urgent = place(note="加急")
    for o in (big, urgent):
        saga.pay(o)
        saga.reserve(o)

    def ids(query):
        resp = client.get("/api/v1/orders" + query, headers=auth("admin"))
        assert resp.status_code == 200, resp.get_json()
        return [o["order_id"] for o in resp.get_json()["items"]]

    assert ids("?status=pending_payment") == [small["order_id"]]
    assert ids("?status=on_hold,pending_payment") == [urgent["order_id"], big["order_id"], small["order_id"]]
    assert ids("?tab=to_ship") == [urgent["order_id"], big["order_id"]]
    assert ids("?held_reason=amount_over_limit") == [big["order_id"]]
    assert ids("?held_reason=buyer_note") == [urgent["order_id"]]
    assert ids("?priority=true") == [urgent["order_id"]]
    assert ids("?min_payable_fen=100000") == [big["order_id"]]
    assert ids("?max_payable_fen=20000") == [urgent["order_id"], small["order_id"]]
    created = small["created_at"]
    assert ids(f"?created_to={created.replace('+', '%2B')}") == [small["order_id"]]
    assert small["order_id"] not in ids(f"?created_from={big['created_at'].replace('+', '%2B')}")
    page1 = client.get("/api/v1/orders?limit=2", headers=auth("admin")).get_json()
    page2 = client.get(f"/api/v1/orders?limit=2&cursor={page1['next_cursor']}", headers=auth("admin")).get_json()
    assert [o["order_id"] for o in page1["items"] + page2["items"]] == [
        urgent["order_id"],
        big["order_id"],
        small["order_id"],
    ]
    assert page2["next_cursor"] is None


def test_list_bad_filters_are_422_or_400(client):
    for query, field in [
        ("?status=lost", "status"),
        ("?held_reason=moon", "held_reason"),
        ("?min_payable_fen=-1", "min_payable_fen"),
        ("?limit=0", "limit"),
        ("?min_payable_fen=9&max_payable_fen=1", "min_payable_fen"),
        ("?created_from=2026-02-01T00:00:00Z&created_to=2026-01-01T00:00:00Z", "created_from"),
        ("?tab=somewhere", "tab"),
    ]:
        assert_problem(client.get("/api/v1/orders" + query, headers=OPS), 422, field)
    assert_problem(client.get("/api/v1/orders?cursor=garbage", headers=OPS), 400, "cursor")


# GET /orders/counts ---------------------------------------------------------------------------------------
def test_counts_per_status_and_tab(client, place, saga, clock):
    a = place()
    b = place(lines=[{"sku_code": "BIG", "quantity": 1}])
    place()
    saga.pay(a)
    saga.pay(b)
    saga.reserve(b)  # held
    clock.advance(minutes=31)
    body = client.get("/api/v1/orders/counts", headers=OPS).get_json()
    assert body["by_status"]["pending_payment"] == 1 and body["by_status"]["paid"] == 1
    assert body["by_status"]["on_hold"] == 1 and body["total"] == 3
    tabs = {t["label"]: t["count"] for t in body["tabs"]}
    assert tabs == {"待付款": 1, "待发货": 2, "待收货": 0, "已完成": 0}
    assert body["on_hold_overdue"] == 1
    assert client.get("/api/v1/orders/counts", headers=OTHER_OPS).get_json()["total"] == 0
    assert client.get("/api/v1/orders/counts", headers=auth("buyer", sub="eve")).get_json()["total"] == 0
    assert_problem(client.get("/api/v1/orders/counts", headers=auth("reviewer")), 403)


# POST /orders/{id}/cancel ------------------------------------------------------------------------------------
def test_buyer_cancels_an_unpaid_order(client, place, events):
    order = place()
    resp = client.post(f"/api/v1/orders/{order['order_id']}/cancel", json={"reason": "拍错了"}, headers=BUYER)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "拍错了"
    assert body["timeline"][-1]["by"] == "bob" and body["timeline"][-1]["from_status"] == "pending_payment"
    (cancelled,) = events("orders.OrderCancelled")
    assert cancelled["payload"]["was_paid"] is False and cancelled["payload"]["lines"][0]["sku_code"] == "RED-M"


def test_ops_cancels_a_paid_order_and_it_is_refunded_downstream(client, place, saga, events):
    order = place()
    saga.pay(order)
    resp = client.post(f"/api/v1/orders/{order['order_id']}/cancel", json={}, headers=OPS)
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    assert events("orders.OrderCancelled")[0]["payload"]["was_paid"] is True


def test_cancel_rules(client, place, saga, db):
    order = place()
    path = f"/api/v1/orders/{order['order_id']}/cancel"
    assert_problem(client.post(path, json={}, headers=auth("buyer", sub="eve")), 404)
    assert_problem(client.post(path, json={}, headers=OTHER_OPS), 404)
    assert_problem(client.post(path, json={}, headers=auth("finance", shop_id=SHOP)), 403)
    assert_problem(client.post(path, json={}), 401)
    assert_problem(client.post(path, data="{", content_type="application/json", headers=BUYER), 400)
    assert_problem(client.post(path, json={"reason": "x" * 301}, headers=BUYER), 422, "reason")
    assert_problem(client.post("/api/v1/orders/O-nope/cancel", json={}, headers=BUYER), 404)
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order)
    assert_problem(client.post(path, json={}, headers=BUYER), 409, "status")
    assert_problem(client.post(path, json={}, headers=OPS), 409)


def test_cancelling_twice_is_409_but_a_replayed_key_is_not(client, place):
    order = place()
    path = f"/api/v1/orders/{order['order_id']}/cancel"
    h = {**BUYER, "Idempotency-Key": "c1"}
    assert client.post(path, json={}, headers=h).status_code == 200
    replay = client.post(path, json={}, headers=h)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    assert_problem(client.post(path, json={}, headers=BUYER), 409)


# POST /orders/{id}/review -----------------------------------------------------------------------------------
def held_order(place, saga):
    order = place(lines=[{"sku_code": "BIG", "quantity": 1}])
    saga.pay(order)
    saga.reserve(order)
    return order


def test_a_held_order_shows_its_wait(client, place, saga, clock):
    order = held_order(place, saga)
    body = client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()
    assert body["status"] == "on_hold" and body["held_reasons"] == ["amount_over_limit"]
    assert body["review"] == {"waiting_minutes": 0, "target_minutes": 30, "overdue": False}
    clock.advance(minutes=45)
    body = client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()
    assert body["review"]["waiting_minutes"] == 45 and body["review"]["overdue"] is True


def test_approve_a_held_order(client, place, saga, events):
    order = held_order(place, saga)
    resp = client.post(
        f"/api/v1/orders/{order['order_id']}/review", json={"decision": "approve", "reason": "已电话核实"}, headers=OPS
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "awaiting_shipment" and body["review"] is None
    assert body["timeline"][-1]["action"] == "approve" and body["timeline"][-1]["by"] == "olga"
    (ready,) = events("orders.OrderReadyToShip")
    assert ready["payload"]["order_id"] == order["order_id"] and ready["payload"]["address"]["name"] == "张*"


def test_reject_a_held_order(client, place, saga, events):
    order = held_order(place, saga)
    resp = client.post(
        f"/api/v1/orders/{order['order_id']}/review",
        json={"decision": "reject", "reason": "疑似欺诈"},
        headers=auth("admin"),
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    (cancelled,) = events("orders.OrderCancelled")
    assert cancelled["payload"]["was_paid"] is True and "疑似欺诈" in cancelled["payload"]["reason"]


def test_review_rules(client, place, saga):
    unheld = place()
    order = held_order(place, saga)
    path = f"/api/v1/orders/{order['order_id']}/review"
    assert_problem(client.post(path, json={"decision": "approve"}, headers=OTHER_OPS), 404)
    assert_problem(client.post(path, json={"decision": "approve"}, headers=BUYER), 403)
    assert_problem(client.post(path, json={"decision": "approve"}, headers=auth("cs", shop_id=SHOP)), 403)
    assert_problem(client.post(path, json={"decision": "approve"}), 401)
    assert_problem(client.post(path, json={"decision": "maybe"}, headers=OPS), 422, "decision")
    assert_problem(client.post(path, json={"decision": "reject"}, headers=OPS), 422, "reason")
    assert_problem(client.post(path, data="nope", content_type="application/json", headers=OPS), 400)
    assert_problem(
        client.post(f"/api/v1/orders/{unheld['order_id']}/review", json={"decision": "approve"}, headers=OPS),
        409,
        "status",
    )
    assert client.post(path, json={"decision": "approve"}, headers=OPS).status_code == 200
    assert_problem(client.post(path, json={"decision": "approve"}, headers=OPS), 409)


# POST /orders/{id}/confirm-receipt ----------------------------------------------------------------------------
def test_confirm_receipt(client, place, saga, events):
    order = place()
    path = f"/api/v1/orders/{order['order_id']}/confirm-receipt"
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order)
    assert_problem(client.post(path, headers=BUYER), 409, "status")  # shipped, not delivered yet
    saga.deliver_parcel(order)
    assert_problem(client.post(path, headers=auth("buyer", sub="eve")), 404)
    assert_problem(client.post(path, headers=OPS), 403)
    assert_problem(client.post(path), 401)
    resp = client.post(path, headers=BUYER)
    assert resp.status_code == 200 and resp.get_json()["status"] == "completed"
    # The answer is the order as committed, its timeline ending with this change.
    assert resp.get_json()["completed_at"] is not None
    assert resp.get_json()["timeline"][-1]["status"] == "completed"
    assert resp.get_json() == client.get(f"/api/v1/orders/{order['order_id']}", headers=BUYER).get_json()
    (done,) = events("orders.OrderCompleted")
    assert done["payload"]["payable_fen"] == order["payable_fen"]
    assert done["payload"]["lines"][0]["category_id"] == "C-dress"
    assert_problem(client.post(path, headers=BUYER), 409)


def test_timeline_records_every_change(client, place, saga, db):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order)
    saga.deliver_parcel(order)
    client.post(f"/api/v1/orders/{order['order_id']}/confirm-receipt", headers=BUYER)
    body = client.get(f"/api/v1/orders/{order['order_id']}", headers=OPS).get_json()
    assert [(t["from_status"], t["status"]) for t in body["timeline"]] == [
        (None, "pending_payment"),
        ("pending_payment", "paid"),
        ("paid", "awaiting_shipment"),
        ("awaiting_shipment", "shipped"),
        ("shipped", "delivered"),
        ("delivered", "completed"),
    ]
    assert body["carrier"] == "顺丰" and body["tracking_no"] == "SF100"
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(TimelineEntry)).scalar_one() == 6


# Audit rules API ---------------------------------------------------------------------------------------------
def test_audit_rules_defaults_and_update(client):
    body = client.get("/api/v1/audit-rules", headers=OPS).get_json()
    assert body["is_default"] is True and body["auto_pass_max_fen"] == 50000 and body["shop_id"] == SHOP
    resp = client.put(
        "/api/v1/audit-rules", json={"auto_pass_middle": False, "remote_regions": ["新疆", "青海"]}, headers=OPS
    )
    assert resp.status_code == 200
    body = client.get("/api/v1/audit-rules", headers=OPS).get_json()
    assert body["is_default"] is False and body["auto_pass_middle"] is False
    assert body["remote_regions"] == ["新疆", "青海"] and body["hold_above_fen"] == 500000
    assert body["updated_by"] == "olga"
    # Other shops keep the seed rules; admin names the shop.
    assert client.get(f"/api/v1/audit-rules?shop_id={OTHER_SHOP}", headers=auth("admin")).get_json()["is_default"]
    assert client.get(f"/api/v1/audit-rules?shop_id={SHOP}", headers=auth("admin")).get_json()["is_default"] is False


def test_audit_rules_errors(client):
    assert_problem(client.get("/api/v1/audit-rules", headers=BUYER), 403)
    assert_problem(client.get("/api/v1/audit-rules", headers=auth("finance", shop_id=SHOP)), 403)
    assert_problem(client.get("/api/v1/audit-rules"), 401)
    assert_problem(client.get("/api/v1/audit-rules", headers=auth("admin")), 422, "shop_id")
    # another shop's rules do not exist for you (CONTRACTS.md: another tenant's resource is a 404)
    assert_problem(client.get(f"/api/v1/audit-rules?shop_id={OTHER_SHOP}", headers=OPS), 404)
    assert_problem(client.put(f"/api/v1/audit-rules?shop_id={OTHER_SHOP}", json={}, headers=OPS), 403)
    assert_problem(client.put("/api/v1/audit-rules", json={"hold_above_fen": 100}, headers=OPS), 422, "hold_above_fen")
    assert_problem(
        client.put("/api/v1/audit-rules", json={"repeat_phone_count": 1}, headers=OPS), 422, "repeat_phone_count"
    )
    assert_problem(
        client.put("/api/v1/audit-rules", json={"remote_regions": "新疆"}, headers=OPS), 422, "remote_regions"
    )
    assert_problem(client.put("/api/v1/audit-rules", data="{", content_type="application/json", headers=OPS), 400)
    assert client.get("/api/v1/audit-rules", headers=OPS).get_json()["is_default"] is True


def test_a_phone_in_a_note_is_masked_in_lists_in_any_spelling(client, place):
    """BUSINESS-RULES "Security": lists carry no phone; buyers write them every which way."""
    spellings = ["+86-139-8765-1236", "86 139 8765 1236", "１３９８７６５１２３６", "139.8765.1236"]
    for spelling in spellings:
        place(note=f"到了打{spelling}")
    listed = client.get("/api/v1/orders", headers=OPS).get_json()["items"]
    assert sorted(o["note"] for o in listed) == ["到了打139****1236"] * len(spellings)
