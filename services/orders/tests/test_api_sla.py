"""GET /sla: unpaid orders against the close timer, held orders against the 30-minute review SOP,
earliest deadline first, time left (negative once breached); the caller's shop only."""

from __future__ import annotations

from ecom_testkit import auth
from ecom_testkit.orders_support import ADDRESS, SHOP

OPS = auth("ops", sub="olga", shop_id=SHOP)
VAGUE = {**ADDRESS, "street": "文一西路", "detail": "村口大树旁边"}


def board(client, headers=OPS, **query):
    resp = client.get("/api/v1/sla", headers=headers, query_string=query)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def test_unpaid_and_held_orders_with_deadline_and_time_left(client, place, saga, clock):
    unpaid = place()
    clock.advance(minutes=10)
    held = place(address=VAGUE)
    saga.pay(held)
    saga.reserve(held)  # held now: due in 30 minutes
    passed = place(address={**ADDRESS, "phone": "13700000000"})
    saga.pay(passed)
    saga.reserve(passed)  # awaiting_shipment: no orders clock here
    clock.advance(minutes=25)
    items = board(client)
    assert [(i["kind"], i["id"]) for i in items] == [
        ("order.payment", unpaid["order_id"]),  # placed 35 min ago, 30 to pay: breached
        ("order.review", held["order_id"]),  # held 25 min ago: 5 left
    ]
    pay, review = items
    # the clock moves on in real time between the steps: a few seconds' slack
    assert pay["breached"] is True and -5 * 60 - 5 <= pay["seconds_left"] <= -5 * 60 + 5
    assert review["breached"] is False and 5 * 60 - 5 <= review["seconds_left"] <= 5 * 60 + 5
    assert review["due_at"].endswith("Z") and set(review) == {
        "kind",
        "id",
        "shop_id",
        "due_at",
        "seconds_left",
        "breached",
    }


def test_scoped_to_the_callers_shop(client, place):
    place()
    assert board(client, headers=auth("cs", sub="c", shop_id="S2")) == []
    assert len(board(client, headers=auth("admin", sub="root"))) == 1
    assert client.get("/api/v1/sla", headers=auth("ops", sub="x")).status_code == 403  # staff without a shop
    assert client.get("/api/v1/sla", headers=auth("buyer", sub="bob")).status_code == 403
    assert client.get("/api/v1/sla", headers=OPS, query_string={"shop_id": "S2"}).status_code == 404
    assert client.get("/api/v1/sla", headers=OPS, query_string={"limit": 0}).status_code == 422
