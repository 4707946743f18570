"""POST /orders/review/bulk: each held order decided on its own (done / refused with the reason), one
bad item never blocks the rest, each item idempotent (asking again answers done, sends nothing)."""

from __future__ import annotations

from ecom_testkit import auth
from ecom_testkit.orders_support import SHOP

OPS = auth("ops", sub="olga", shop_id=SHOP)
OTHER_OPS = auth("ops", sub="oscar", shop_id="S2")
VAGUE = {"street": "文一西路", "detail": "村口大树旁边"}


def held_order(place, saga):
    from ecom_testkit.orders_support import ADDRESS

    order = place(address={**ADDRESS, **VAGUE})
    saga.pay(order)
    saga.reserve(order)
    return order


def bulk(client, body, headers=OPS, key=None):
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    return client.post("/api/v1/orders/review/bulk", json=body, headers=h)


def test_each_item_on_its_own_merits(client, place, saga, events):
    a, b = held_order(place, saga), held_order(place, saga)
    not_held = place()  # pending_payment
    ids = [a["order_id"], "O-missing", not_held["order_id"], b["order_id"], a["order_id"]]
    resp = bulk(client, {"decision": "approve", "order_ids": ids})
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert (out["succeeded"], out["failed"]) == (2, 2)
    by_id = {r["order_id"]: r for r in out["results"]}
    assert [r["order_id"] for r in out["results"]] == ids[:4]  # a repeat is decided once
    assert by_id[a["order_id"]] == {
        "order_id": a["order_id"],
        "ok": True,
        "already": False,
        "status": "awaiting_shipment",
        "error": None,
    }
    assert by_id[b["order_id"]]["ok"] and by_id[b["order_id"]]["status"] == "awaiting_shipment"
    assert by_id["O-missing"]["error"]["status"] == 404
    refused = by_id[not_held["order_id"]]
    assert not refused["ok"] and refused["error"]["status"] == 409
    assert refused["error"]["errors"] == {"status": ["pending_payment"]}
    assert len(events("orders.OrderReadyToShip")) == 2


def test_asking_again_answers_done_and_sends_nothing_twice(client, place, saga, events):
    a = held_order(place, saga)
    first = bulk(client, {"decision": "reject", "reason": "地址不详, 联系不上", "order_ids": [a["order_id"]]})
    assert first.get_json()["results"][0]["status"] == "cancelled"
    again = bulk(client, {"decision": "reject", "reason": "地址不详, 联系不上", "order_ids": [a["order_id"]]})
    (item,) = again.get_json()["results"]
    assert item["ok"] and item["already"] and item["status"] == "cancelled"
    assert len(events("orders.OrderCancelled")) == 1
    # the opposite decision on a decided order is refused
    (other,) = bulk(client, {"decision": "approve", "order_ids": [a["order_id"]]}).get_json()["results"]
    assert not other["ok"] and other["error"]["status"] == 409


def test_another_shops_orders_are_refused_as_not_found(client, place, saga):
    a = held_order(place, saga)
    (item,) = bulk(client, {"decision": "approve", "order_ids": [a["order_id"]]}, headers=OTHER_OPS).get_json()[
        "results"
    ]
    assert not item["ok"] and item["error"]["status"] == 404
    assert client.get(f"/api/v1/orders/{a['order_id']}", headers=OPS).get_json()["status"] == "on_hold"


def test_bad_bodies_and_roles(client):
    for body in (
        {"decision": "approve", "order_ids": []},
        {"decision": "approve", "order_ids": ["x"] * 201},
        {"decision": "reject", "order_ids": ["x"]},  # a rejection needs a reason
        {"decision": "maybe", "order_ids": ["x"]},
        {"decision": "approve"},
    ):
        resp = bulk(client, body)
        assert resp.status_code == 422, (body, resp.get_json())
    assert (
        bulk(client, {"decision": "approve", "order_ids": ["x"]}, headers=auth("cs", sub="c", shop_id=SHOP)).status_code
        == 403
    )
    assert bulk(client, {"decision": "approve", "order_ids": ["x"]}, headers={}).status_code == 401


def test_idempotency_key_replays_the_whole_answer(client, place, saga, events):
    a = held_order(place, saga)
    first = bulk(client, {"decision": "approve", "order_ids": [a["order_id"]]}, key="bulk-1")
    again = bulk(client, {"decision": "approve", "order_ids": [a["order_id"]]}, key="bulk-1")
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json() == first.get_json()
    assert len(events("orders.OrderReadyToShip")) == 1
