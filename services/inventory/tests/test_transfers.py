"""Transfers between warehouses over HTTP: a ledger pair, never negative, reserved units stay,
idempotent with Idempotency-Key, problem+json for bad input."""

import sqlalchemy as sa

from ecom_testkit import auth
from inventory.models import StockMovement

SHOP = "S1"
WH = auth("warehouse", sub="wang", shop_id=SHOP)
OPS = auth("ops", sub="li", shop_id=SHOP)
URL = "/api/v1/transfers"


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def ledger_size(db):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(StockMovement)).scalar_one()


def body(**kw):
    return {"sku_code": "A", "from_warehouse": "WH1", "to_warehouse": "HZ", "quantity": 3, **kw}


def test_a_transfer_moves_available_units_as_a_ledger_pair(client, list_sku, receive, stock, ledger_matches_stock):
    list_sku("A")
    receive("A", 5)
    resp = client.post(URL, json=body(reason="补货到杭州", reference="TR-1"), headers={**WH, "Idempotency-Key": "t1"})
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()
    assert got["from_stock"]["on_hand"] == 2 and got["to_stock"]["on_hand"] == 3
    assert [(m["kind"], m["warehouse_code"], m["on_hand_delta"]) for m in got["movements"]] == [
        ("transfer_out", "WH1", -3),
        ("transfer_in", "HZ", 3),
    ]
    assert {m["cause"] for m in got["movements"]} == {f"transfer:{got['transfer_id']}"}
    assert stock("A") == (2, 0) and stock("A", warehouse_code="HZ") == (3, 0)
    # the same key and body: the first answer, nothing moves twice
    again = client.post(URL, json=body(reason="补货到杭州", reference="TR-1"), headers={**WH, "Idempotency-Key": "t1"})
    assert again.status_code == 201 and again.get_json() == got
    assert stock("A") == (2, 0) and stock("A", warehouse_code="HZ") == (3, 0)
    problem(client.post(URL, json=body(quantity=1), headers={**WH, "Idempotency-Key": "t1"}), 409)
    ledger = client.get(f"/api/v1/stock/A/movements?cause=transfer:{got['transfer_id']}", headers=WH).get_json()
    # the destination's stock row was created by the transfer (0 on hand), then the pair
    assert sorted(m["kind"] for m in ledger["items"]) == ["create", "transfer_in", "transfer_out"]
    assert ledger_matches_stock()


def test_reserved_units_never_move_and_nothing_goes_negative(db, client, list_sku, receive, pay, stock):
    list_sku("A")
    receive("A", 5)
    pay("O1", [("A", 4)])  # 4 of the 5 are promised
    before = ledger_size(db)
    body_ = problem(client.post(URL, json=body(quantity=2), headers=WH), 422)
    assert "quantity" in str(body_)
    assert stock("A") == (5, 4) and ledger_size(db) == before
    assert client.post(URL, json=body(quantity=1), headers=WH).status_code == 201
    assert stock("A") == (4, 4) and stock("A", warehouse_code="HZ") == (1, 0)
    before = ledger_size(db)
    # HZ exists now and sorts first: its half runs first and is rolled back with the refused one
    problem(client.post(URL, json=body(quantity=1), headers=WH), 422)
    assert stock("A") == (4, 4) and stock("A", warehouse_code="HZ") == (1, 0) and ledger_size(db) == before


def test_a_transfer_serves_an_order_no_single_warehouse_could(client, list_sku, receive, pay, stock):
    list_sku("A")
    receive("A", 3)
    receive("A", 3, warehouse_code="HZ")
    pay("O1", [("A", 5)])  # a line is never split: waits
    got = client.post(URL, json=body(quantity=2, from_warehouse="WH1", to_warehouse="HZ"), headers=WH).get_json()
    assert got["served_orders"] == ["O1"]
    assert stock("A", warehouse_code="HZ") == (5, 5)


def test_bad_transfers(client, list_sku, receive, stock):
    list_sku("A")
    receive("A", 5)
    assert (
        client.post(
            "/api/v1/warehouses", json={"code": "OFF", "name": "x", "province": "北京", "active": False}, headers=OPS
        ).status_code
        == 201
    )
    problem(client.post(URL, json=body(to_warehouse="WH1"), headers=WH), 422)
    problem(client.post(URL, json=body(from_warehouse="NOPE"), headers=WH), 422)
    problem(client.post(URL, json=body(to_warehouse="OFF"), headers=WH), 422)
    problem(client.post(URL, json=body(sku_code="ZZZ"), headers=WH), 404)
    problem(client.post(URL, json=body(quantity=0), headers=WH), 422)
    problem(client.post(URL, json=body(quantity="3"), headers=WH), 422)
    problem(client.post(URL, json=body(to_warehouse="bad code!"), headers=WH), 422)
    problem(client.post(URL, json=body(shop_id="S2"), headers=WH), 403)
    problem(client.post(URL, json=body(), headers=auth("cs", shop_id=SHOP)), 403)
    problem(client.post(URL, data="{", headers={**WH, "Content-Type": "application/json"}), 400)
    assert stock("A") == (5, 0)
