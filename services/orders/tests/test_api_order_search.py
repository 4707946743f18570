"""Finding an order (GET /orders filters): the receiver's phone (last four digits or the full number
in any spelling), the receiver's name, the buyer, a SKU, the placed-at range; shop scoping; masking."""

from __future__ import annotations

import json

import sqlalchemy as sa

from ecom_testkit import auth
from ecom_testkit.orders_support import ADDRESS, SHOP
from orders.models import Order

OPS = auth("ops", sub="olga", shop_id=SHOP)
OTHER_OPS = auth("ops", sub="oscar", shop_id="S2")
CS = auth("cs", sub="cindy", shop_id=SHOP)


def address(**changes):
    return {**ADDRESS, **changes}


def found(client, headers=OPS, **query):
    resp = client.get("/api/v1/orders", query_string=query, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return [o["order_id"] for o in resp.get_json()["items"]]


def test_phone_by_last_four_digits_or_full_number_in_any_spelling(client, place):
    a = place(address=address(phone="13812345678"))["order_id"]
    b = place(address=address(phone="+86 139-0000-5678"))["order_id"]
    c = place(address=address(phone="13700001111"))["order_id"]
    assert set(found(client, phone="5678")) == {a, b}
    assert found(client, phone="1111") == [c]
    assert found(client, phone="13812345678") == [a]
    assert found(client, phone="+86 138 1234 5678") == [a]
    assert found(client, phone="１３９００００５６７８") == [b]  # full-width, as typed on a phone
    assert found(client, phone="13812340000") == []


def test_phone_is_stored_as_last_four_and_a_keyed_hash_never_searched_in_plain_text(client, place, db):
    order = place(address=address(phone="13812345678"))
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(Order).where(Order.id == order["order_id"])).one()
    assert row.receiver_phone_last4 == "5678"
    assert len(row.receiver_phone_hash) == 64 and "13812345678" not in row.receiver_phone_hash


def test_answers_keep_the_phone_masked(client, place):
    place(address=address(phone="13812345678"))
    resp = client.get("/api/v1/orders", query_string={"phone": "13812345678"}, headers=CS)
    (item,) = resp.get_json()["items"]
    assert item["address"]["phone"] == "138****5678" and item["address_masked"] is True
    assert "13812345678" not in json.dumps(resp.get_json())


def test_receiver_name_buyer_sku_status_and_placed_range(client, place, clock):
    first = place(buyer="bob", address=address(name="李四"))["order_id"]
    clock.advance(minutes=10)
    middle = clock.now()
    second = place(buyer="amy", lines=[{"sku_code": "BLUE-L", "quantity": 1}])["order_id"]
    assert found(client, receiver_name="李四") == [first]
    assert found(client, receiver_name="李") == []  # the name as written, not a part of it
    assert found(client, buyer_id="amy") == [second]
    assert found(client, sku_code="BLUE-L") == [second]
    assert set(found(client, sku_code="RED-M")) == {first}
    assert found(client, created_from=middle.isoformat()) == [second]
    assert found(client, created_to=middle.isoformat()) == [first]
    assert found(client, status="pending_payment", phone="5678", sku_code="BLUE-L") == [second]
    assert found(client, status="paid", phone="5678") == []


def test_search_stays_in_the_callers_shop_and_paginates(client, place):
    ids = [place(address=address(phone="13812345678"))["order_id"] for _ in range(3)]
    assert found(client, headers=OTHER_OPS, phone="5678") == []
    page = client.get("/api/v1/orders", query_string={"phone": "5678", "limit": 2}, headers=OPS).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(
        "/api/v1/orders", query_string={"phone": "5678", "limit": 2, "cursor": page["next_cursor"]}, headers=OPS
    ).get_json()
    assert {o["order_id"] for o in page["items"] + rest["items"]} == set(ids)
    # a buyer searching finds only their own orders
    assert found(client, headers=auth("buyer", sub="someone-else"), phone="5678") == []


def test_bad_search_arguments_are_422(client):
    for query in ({"phone": "56"}, {"phone": "56789"}, {"phone": "abcd"}, {"receiver_name": "x" * 51}):
        resp = client.get("/api/v1/orders", query_string=query, headers=OPS)
        assert resp.status_code == 422, (query, resp.get_json())
        assert resp.mimetype == "application/problem+json"
