"""inventory's HTTP API: status codes, problem+json, scoping, idempotency, the ledger, policies and
the replenishment report."""

import pytest
import sqlalchemy as sa

from ecom_testkit import CRAFTED_CURSORS, auth
from inventory.models import StockMovement

SHOP = "S1"
WH = auth("warehouse", sub="wang", shop_id=SHOP)
ADJ = "/api/v1/stock/A/adjustments"


def ledger_size(db):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(StockMovement)).scalar_one()


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status
    return body


def test_inbound_receipt(client, list_sku, stock):
    list_sku("A")
    resp = client.post(ADJ, json={"kind": "inbound", "quantity": 20, "reference": "PO-1"}, headers=WH)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["stock"]["on_hand"] == 20 and body["stock"]["available"] == 20
    assert body["movement"]["kind"] == "in" and body["movement"]["by"] == "wang" and body["movement"]["movement_id"]
    assert body["movement"]["cause"] == "adjustment:inbound" and body["movement"]["reference"] == "PO-1"
    assert stock("A") == (20, 0)


def test_a_receipt_that_serves_waiting_orders_answers_its_own_movement(client, list_sku, pay, stock):
    list_sku("A")
    pay("O1", [("A", 2)])  # nothing on hand: the order waits (the default policy)
    resp = client.post(ADJ, json={"kind": "inbound", "quantity": 5}, headers=WH)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["served_orders"] == ["O1"]
    assert body["movement"]["kind"] == "in" and body["movement"]["on_hand_delta"] == 5
    assert body["stock"]["on_hand"] == 5 and body["stock"]["reserved"] == 2
    assert stock("A") == (5, 2)


def test_inbound_to_a_new_warehouse_creates_its_stock_item(client, list_sku, stock):
    list_sku("A")
    resp = client.post(ADJ, json={"kind": "inbound", "quantity": 4, "warehouse_code": "WH-SH"}, headers=WH)
    assert resp.status_code == 201
    assert stock("A", warehouse_code="WH-SH") == (4, 0)
    got = client.get("/api/v1/stock/A", headers=WH).get_json()
    assert [w["warehouse_code"] for w in got["warehouses"]] == ["WH-SH", "WH1"] and got["on_hand"] == 4


def test_count_correction_and_write_off(client, list_sku, receive, pay, stock, ledger_matches_stock):
    list_sku("A")
    receive("A", 10)
    pay("O1", [("A", 3)])
    resp = client.post(ADJ, json={"kind": "count_correction", "counted": 7, "reason": "cycle count"}, headers=WH)
    assert resp.status_code == 201
    assert resp.get_json()["movement"]["on_hand_delta"] == -3
    resp = client.post(ADJ, json={"kind": "damage", "quantity": 2, "reason": "crushed"}, headers=WH)
    assert resp.status_code == 201
    assert stock("A") == (5, 3)
    assert ledger_matches_stock()


def test_correction_below_reserved_is_422_and_changes_nothing(client, db, list_sku, receive, pay, stock):
    list_sku("A")
    receive("A", 10)
    pay("O1", [("A", 3)])
    before = ledger_size(db)
    body = problem(
        client.post(ADJ, json={"kind": "count_correction", "counted": 2, "reason": "count"}, headers=WH), 422
    )
    assert "counted" in body["errors"]
    body = problem(client.post(ADJ, json={"kind": "loss", "quantity": 8, "reason": "lost"}, headers=WH), 422)
    assert "quantity" in body["errors"]
    assert stock("A") == (10, 3) and ledger_size(db) == before


def test_adjustment_validation_names_the_field(client, db, list_sku):
    list_sku("A")
    before = ledger_size(db)
    cases = [
        ({"quantity": 1}, "kind"),
        ({"kind": "teleport", "quantity": 1}, "kind"),
        ({"kind": "inbound"}, "quantity"),
        ({"kind": "inbound", "quantity": 0}, "quantity"),
        ({"kind": "inbound", "quantity": "many"}, "quantity"),
        # Integers are JSON integers, as in every service (ecom_common.schemas.BodySchema).
        ({"kind": "inbound", "quantity": "5"}, "quantity"),
        ({"kind": "inbound", "quantity": 5.0}, "quantity"),
        ({"kind": "count_correction", "counted": "3", "reason": "x"}, "counted"),
        ({"kind": "inbound", "quantity": 1, "counted": 3}, "counted"),
        ({"kind": "count_correction", "reason": "x"}, "counted"),
        ({"kind": "count_correction", "counted": -1, "reason": "x"}, "counted"),
        ({"kind": "count_correction", "counted": 3}, "reason"),
        ({"kind": "damage", "quantity": 1}, "reason"),
        ({"kind": "inbound", "quantity": 1, "warehouse_code": "no spaces"}, "warehouse_code"),
        ({"kind": "inbound", "quantity": 1, "colour": "red"}, "colour"),
    ]
    for payload, field in cases:
        body = problem(client.post(ADJ, json=payload, headers=WH), 422)
        assert field in body["errors"], (payload, body)
    assert ledger_size(db) == before


def test_malformed_json_is_400(client, list_sku):
    list_sku("A")
    resp = client.post(ADJ, data="{not json", headers={**WH, "Content-Type": "application/json"})
    problem(resp, 400)


def test_auth_and_roles(client, list_sku):
    list_sku("A")
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1}), 401)
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1}, headers={"Authorization": "Bearer nope"}), 401)
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1}, headers=auth("ops", shop_id=SHOP)), 403)
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1}, headers=auth("finance", shop_id=SHOP)), 403)
    problem(client.get("/api/v1/stock", headers=auth("buyer")), 403)
    # a warehouse clerk of one shop cannot act for another
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1, "shop_id": "S2"}, headers=WH), 403)


def test_admin_must_name_the_shop(client, list_sku, stock):
    list_sku("A")
    admin = auth("admin")
    body = problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1}, headers=admin), 422)
    assert "shop_id" in body["errors"]
    assert client.post(ADJ, json={"kind": "inbound", "quantity": 1, "shop_id": SHOP}, headers=admin).status_code == 201
    assert stock("A") == (1, 0)


def test_unknown_or_other_shops_sku_is_404(client, list_sku):
    list_sku("A", shop_id="S2", product_id="P2")
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 1}, headers=WH), 404)
    problem(
        client.post(
            "/api/v1/stock/NOPE/adjustments", json={"kind": "count_correction", "counted": 1, "reason": "x"}, headers=WH
        ),
        404,
    )
    problem(client.get("/api/v1/stock/A", headers=WH), 404)
    problem(client.get("/api/v1/stock/A/movements", headers=WH), 404)
    problem(client.get("/api/v1/stock/A/movements?shop_id=S2", headers=WH), 404)


def test_idempotency_key_replays_and_conflicts(client, list_sku, stock):
    list_sku("A")
    headers = {**WH, "Idempotency-Key": "rcpt-1"}
    first = client.post(ADJ, json={"kind": "inbound", "quantity": 5}, headers=headers)
    again = client.post(ADJ, json={"kind": "inbound", "quantity": 5}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert stock("A") == (5, 0)
    problem(client.post(ADJ, json={"kind": "inbound", "quantity": 6}, headers=headers), 409)
    assert stock("A") == (5, 0)


def test_failed_request_releases_its_idempotency_key(client, list_sku, receive, stock):
    list_sku("A")
    headers = {**WH, "Idempotency-Key": "count-1"}
    problem(client.post(ADJ, json={"kind": "loss", "quantity": 2, "reason": "x"}, headers=headers), 422)
    receive("A", 5)
    assert client.post(ADJ, json={"kind": "loss", "quantity": 2, "reason": "x"}, headers=headers).status_code == 201
    assert stock("A") == (3, 0)


def test_movements_ledger_paginated_and_filtered(client, list_sku, receive, pay):
    list_sku("A")
    for _ in range(3):
        receive("A", 2)
    pay("O1", [("A", 1)])
    page = client.get("/api/v1/stock/A/movements?limit=2", headers=WH).get_json()
    assert [m["kind"] for m in page["items"]] == ["reserve", "in"]
    rest = client.get(f"/api/v1/stock/A/movements?limit=10&cursor={page['next_cursor']}", headers=WH).get_json()
    assert [m["kind"] for m in rest["items"]] == ["in", "in", "create"] and rest["next_cursor"] is None
    only = client.get("/api/v1/stock/A/movements?cause=order:O1", headers=WH).get_json()["items"]
    assert [(m["kind"], m["reserved_delta"], m["by"]) for m in only] == [("reserve", 1, "orders")]
    problem(client.get("/api/v1/stock/A/movements?kind=teleport", headers=WH), 422)
    problem(client.get("/api/v1/stock/A/movements?cursor=garbage", headers=WH), 400)
    problem(client.get("/api/v1/stock/A/movements", headers=auth("admin")), 422)  # platform: name the shop
    assert client.get(f"/api/v1/stock/A/movements?shop_id={SHOP}", headers=auth("admin")).status_code == 200


def test_stock_list_filters(client, list_sku, receive):
    list_sku("A", "B", threshold=3)
    receive("A", 10)
    receive("B", 2)
    low = client.get("/api/v1/stock?low=true", headers=WH).get_json()["items"]
    assert [(i["sku_code"], i["low"]) for i in low] == [("B", True)]
    other = client.get("/api/v1/stock", headers=auth("warehouse", shop_id="S2")).get_json()["items"]
    assert other == []


def test_stock_policy_get_put(client, db):
    ops = auth("ops", sub="li", shop_id=SHOP)
    got = client.get("/api/v1/stock-policy", headers=ops).get_json()
    assert got["shortage_policy"] == "wait" and got["is_default"] is True
    resp = client.put("/api/v1/stock-policy", json={"shortage_policy": "cancel"}, headers=ops)
    assert resp.status_code == 200 and resp.get_json()["shortage_policy"] == "cancel"
    got = client.get(f"/api/v1/stock-policy?shop_id={SHOP}", headers=WH).get_json()
    assert (got["shortage_policy"], got["is_default"], got["updated_by"]) == ("cancel", False, "li")
    problem(client.put("/api/v1/stock-policy", json={"shortage_policy": "maybe"}, headers=ops), 422)
    problem(client.put("/api/v1/stock-policy?shop_id=S2", json={"shortage_policy": "wait"}, headers=ops), 403)
    problem(
        client.put("/api/v1/stock-policy", json={"shortage_policy": "wait"}, headers=auth("finance", shop_id=SHOP)), 403
    )
    problem(client.get("/api/v1/stock-policy?shop_id=S2", headers=ops), 404)
    problem(client.get("/api/v1/stock-policy", headers=auth("admin")), 422)
    problem(client.put("/api/v1/stock-policy", data="nope", headers={**ops, "Content-Type": "application/json"}), 400)
    admin = client.put("/api/v1/stock-policy?shop_id=S2", json={"shortage_policy": "cancel"}, headers=auth("admin"))
    assert admin.status_code == 200 and admin.get_json()["shop_id"] == "S2"


def test_replenishment_report_uses_sales_over_the_window(client, config, list_sku, receive, pay, deliver):
    list_sku("A", "B", "C")
    receive("A", 40)
    receive("B", 100)
    # 30 units of A and 30 of B sold (dispatched) now; C never sells
    for i, sku in enumerate(["A", "B"]):
        pay(f"O{i}", [(sku, 30)])
        deliver(
            "logistics.ShipmentDispatched",
            {
                "order_id": f"O{i}",
                "shop_id": SHOP,
                "shipment_id": f"S{i}",
                "carrier": "SF",
                "tracking_no": "T",
                "lines": [],
            },
        )
    pay("O9", [("C", 2)])  # waiting for C
    report = client.get("/api/v1/stock/replenishment", headers=WH).get_json()
    # A: 1/day, available 10 > 3 -> not listed with cover 3; B: 70 left -> not listed; C: 2 waiting
    assert [(i["sku_code"], i["suggested_quantity"]) for i in report["items"]] == [("C", 2)]
    report = client.get("/api/v1/stock/replenishment?window_days=3", headers=WH).get_json()
    # A: 10/day x 3 = 30 >= 10 -> reorder up to 150 (15 days); B: 10/day, 70 > 30 -> no
    by_sku = {i["sku_code"]: i for i in report["items"]}
    assert set(by_sku) == {"A", "C"}
    assert by_sku["A"]["average_daily_sales"] == 10 and by_sku["A"]["suggested_quantity"] == 140
    assert report["items"][0]["sku_code"] == "C"  # waiting orders first, then fewest days of cover
    # a month later the sales have left the window: only the waiting order remains
    config.clock.advance(days=31)
    report = client.get("/api/v1/stock/replenishment?window_days=30", headers=WH).get_json()
    assert [i["sku_code"] for i in report["items"]] == ["C"]
    problem(client.get("/api/v1/stock/replenishment?window_days=0", headers=WH), 422)
    problem(client.get("/api/v1/stock/replenishment", headers=auth("finance", shop_id=SHOP)), 403)


def test_reservations_detail_and_waiting_queue(client, list_sku, receive, pay):
    list_sku("A")
    pay("O2", [("A", 1)], minute=2)
    pay("O1", [("A", 1)], minute=1)
    queue = client.get("/api/v1/reservations?status=waiting", headers=WH).get_json()["items"]
    assert [r["order_id"] for r in queue] == ["O1", "O2"]
    receive("A", 1)
    detail = client.get("/api/v1/reservations/O1", headers=WH).get_json()
    assert detail["status"] == "reserved"
    assert detail["lines"] == [{"sku_code": "A", "quantity": 1, "warehouse_code": "WH1"}]
    assert [t["status"] for t in detail["timeline"]] == ["waiting", "reserved"]
    assert [(t["action"], t["from_status"]) for t in detail["timeline"]] == [("wait", None), ("reserve", "waiting")]
    assert set(detail["timeline"][0]) == {"at", "by", "action", "from_status", "status", "reason"}
    assert detail["timeline"][0]["at"].endswith("Z") and detail["paid_at"].endswith("Z")
    problem(client.get("/api/v1/reservations/O1", headers=auth("warehouse", shop_id="S2")), 404)
    problem(client.get("/api/v1/reservations/NOPE", headers=WH), 404)
    problem(client.get("/api/v1/reservations?status=lost", headers=WH), 422)


def test_openapi_lists_the_endpoints(client):
    spec = client.get("/openapi.json").get_json()
    for path in (
        "/api/v1/stock/{sku_code}/adjustments",
        "/api/v1/stock/{sku_code}/movements",
        "/api/v1/stock/replenishment",
        "/api/v1/stock-policy",
        "/api/v1/reservations/{order_id}",
    ):
        assert path in spec["paths"], path


# A crafted cursor is refused before it reaches SQL (ecom_common.pagination.decode_cursor) -------------------
@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
@pytest.mark.parametrize("path", ["/api/v1/stock", "/api/v1/stock/A/movements"])
def test_a_crafted_cursor_is_a_400(client, list_sku, path, cursor):
    list_sku("A")
    body = problem(client.get(path, query_string={"cursor": cursor}, headers=WH), 400)
    assert "cursor" in body["errors"]
