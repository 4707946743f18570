"""Merchant notes and the contact log on an order: POST /orders/<id>/notes and /contacts, shown on the
order to the shop's staff (never to the buyer), scoped to the shop, Idempotency-Key required."""

from __future__ import annotations

import uuid

from ecom_testkit import auth
from ecom_testkit.orders_support import SHOP

OPS = auth("ops", sub="olga", shop_id=SHOP)
CS = auth("cs", sub="cindy", shop_id=SHOP)
FINANCE = auth("finance", sub="fred", shop_id=SHOP)
OTHER_CS = auth("cs", sub="carl", shop_id="S2")
BUYER = auth("buyer", sub="bob")


def post(client, path, body, headers, key="auto"):
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    return client.post(path, json=body, headers=h)


def test_notes_and_contacts_show_on_the_order_to_staff_not_to_the_buyer(client, place, clock):
    order = place()
    oid = order["order_id"]
    note = post(client, f"/api/v1/orders/{oid}/notes", {"text": "买家要求周末送达"}, OPS)
    assert note.status_code == 201, note.get_json()
    assert note.get_json()["kind"] == "note" and note.get_json()["by"] == "olga"
    clock.advance(minutes=5)
    contact = post(
        client,
        f"/api/v1/orders/{oid}/contacts",
        {"channel": "phone", "outcome": "verified", "note": "地址已核实, 回拨 13912345678"},
        CS,
    )
    assert contact.status_code == 201, contact.get_json()
    c = contact.get_json()
    assert (c["kind"], c["channel"], c["outcome"], c["by"]) == ("contact", "phone", "verified", "cindy")
    assert c["at"].endswith("Z")

    detail = client.get(f"/api/v1/orders/{oid}", headers=OPS).get_json()
    assert [(n["kind"], n["by"]) for n in detail["staff_notes"]] == [("note", "olga"), ("contact", "cindy")]
    assert "13912345678" in detail["staff_notes"][1]["text"]
    # finance sees masked data only: the phone in the text is masked
    fin = client.get(f"/api/v1/orders/{oid}", headers=FINANCE).get_json()
    assert "139****5678" in fin["staff_notes"][1]["text"] and "13912345678" not in fin["staff_notes"][1]["text"]
    # the buyer never sees the shop's notes
    assert "staff_notes" not in client.get(f"/api/v1/orders/{oid}", headers=BUYER).get_json()


def test_another_shop_gets_404_and_a_buyer_403(client, place):
    oid = place()["order_id"]
    assert post(client, f"/api/v1/orders/{oid}/notes", {"text": "x"}, OTHER_CS).status_code == 404
    assert post(client, f"/api/v1/orders/{oid}/notes", {"text": "x"}, BUYER).status_code == 403
    assert (
        post(client, f"/api/v1/orders/{oid}/contacts", {"channel": "phone", "outcome": "reached"}, FINANCE).status_code
        == 403
    )
    assert post(client, "/api/v1/orders/O-nope/notes", {"text": "x"}, OPS).status_code == 404
    assert post(client, f"/api/v1/orders/{oid}/notes", {"text": "x"}, {}).status_code == 401


def test_bad_bodies_are_422_and_write_nothing(client, place):
    oid = place()["order_id"]
    for path, body in (
        ("notes", {"text": "   "}),
        ("notes", {"text": "x" * 501}),
        ("notes", {}),
        ("contacts", {"channel": "pigeon", "outcome": "reached"}),
        ("contacts", {"channel": "phone", "outcome": "maybe"}),
        ("contacts", {"channel": "phone"}),
    ):
        resp = post(client, f"/api/v1/orders/{oid}/{path}", body, CS)
        assert resp.status_code == 422, (path, body, resp.get_json())
        assert resp.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/orders/{oid}", headers=CS).get_json()["staff_notes"] == []


def test_idempotency_key_required_and_replayed(client, place):
    oid = place()["order_id"]
    assert post(client, f"/api/v1/orders/{oid}/notes", {"text": "x"}, CS, key=None).status_code == 400
    first = post(client, f"/api/v1/orders/{oid}/notes", {"text": "once"}, CS, key="n-1")
    again = post(client, f"/api/v1/orders/{oid}/notes", {"text": "once"}, CS, key="n-1")
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert len(client.get(f"/api/v1/orders/{oid}", headers=CS).get_json()["staff_notes"]) == 1
