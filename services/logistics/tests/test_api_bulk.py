"""Bulk dispatch and batch waybill printing: each item on its own (done / refused with the reason),
one bad item never blocks the rest, each item idempotent; the pick list's title, spec, handling marks
and gifts."""

from __future__ import annotations

from ecom_common.clock import parse_iso
from ecom_testkit import auth, recorded_events


def test_bulk_dispatch_answers_per_item(flow, client, db):
    a, b, c = (flow.ready(order_id=o) for o in ("O1", "O2", "O3"))
    other = flow.ready(order_id="O9", shop_id="S2")
    flow.deliver("orders.OrderCancelled", {"order_id": "O3", "shop_id": "S1", "reason": "buyer"})
    items = [
        {"shipment_id": a["shipment_id"], "tracking_no": "SF1001"},
        {"shipment_id": b["shipment_id"], "tracking_no": "SF1001"},  # number taken by the first
        {"shipment_id": c["shipment_id"], "tracking_no": "SF1003"},  # cancelled
        {"shipment_id": other["shipment_id"], "tracking_no": "SF1004"},  # another shop's
        {"shipment_id": "nope", "tracking_no": "SF1005"},
        {"shipment_id": b["shipment_id"], "tracking_no": "ZTO1002", "carrier": "ZTO"},
    ]
    resp = client.post("/api/v1/shipments/bulk/dispatch", headers=flow.wh, json={"items": items})
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert (out["done"], out["refused"]) == (2, 4)
    got = [(r["outcome"], r.get("error", {}).get("status")) for r in out["results"]]
    assert got == [
        ("done", None),
        ("refused", 409),
        ("refused", 409),
        ("refused", 404),
        ("refused", 404),
        ("done", None),
    ]
    assert "already used" in out["results"][1]["error"]["detail"]
    assert out["results"][5]["carrier"] == "ZTO" and out["results"][0]["already"] is False
    assert len(recorded_events(db, "logistics.ShipmentDispatched")) == 2
    # the same request again (no Idempotency-Key): done already, nothing dispatched twice
    again = client.post("/api/v1/shipments/bulk/dispatch", headers=flow.wh, json={"items": items[:1]}).get_json()
    assert again["results"][0]["outcome"] == "done" and again["results"][0]["already"] is True
    assert len(recorded_events(db, "logistics.ShipmentDispatched")) == 2
    # bounded, validated, warehouse only
    too_many = {"items": [{"shipment_id": "x", "tracking_no": "SF0000"}] * 201}
    assert client.post("/api/v1/shipments/bulk/dispatch", headers=flow.wh, json=too_many).status_code == 422
    assert client.post("/api/v1/shipments/bulk/dispatch", headers=flow.wh, json={"items": []}).status_code == 422
    assert client.post("/api/v1/shipments/bulk/dispatch", headers=flow.ops, json={"items": items}).status_code == 403


def test_batch_print_records_the_first_printing(flow, client, clock):
    a, b = flow.ready(order_id="O1"), flow.ready(order_id="O2")
    c = flow.ready(order_id="O3")
    flow.deliver("orders.OrderCancelled", {"order_id": "O3", "shop_id": "S1", "reason": "buyer"})
    body = {"shipment_ids": [a["shipment_id"], b["shipment_id"], c["shipment_id"], a["shipment_id"]]}
    first = client.post("/api/v1/waybills/print?format=json", headers=flow.wh, json=body).get_json()
    assert (first["done"], first["refused"]) == (2, 1)
    assert [r["outcome"] for r in first["results"]] == ["done", "done", "refused"]
    printed_at = first["results"][0]["printed_at"]
    assert first["results"][0]["reprint"] is False and first["results"][0]["waybill"]["order_id"] == "O1"
    clock.advance(hours=1)
    again = client.post("/api/v1/waybills/print", headers=flow.wh, json={"shipment_ids": [a["shipment_id"]]})
    r = again.get_json()["results"][0]
    assert r["reprint"] is True and r["printed_at"] == printed_at  # the first time is kept
    got = flow.get(a["shipment_id"])
    assert got["printed_at"] == printed_at
    assert [t["action"] for t in got["timeline"] if "waybill" in t["action"]] == [
        "waybill_printed",
        "waybill_reprinted",
    ]
    # one printable document for all of them, the refused one listed on screen
    page = client.post("/api/v1/waybills/print", headers={**flow.wh, "Accept": "text/html"}, json=body)
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert html.count("class=sheet") == 2 and "未打印 1 张" in html and c["shipment_id"] in html
    assert client.post("/api/v1/waybills/print", headers=auth("cs", shop_id="S1"), json=body).status_code == 403
    assert client.post("/api/v1/waybills/print?format=pdf", headers=flow.wh, json=body).status_code == 422
    assert abs((parse_iso(printed_at) - clock.now()).total_seconds()) > 3000


def test_pick_list_carries_title_spec_marks_and_gifts(flow, client):
    lines = [
        {"sku_code": "CUP-1", "quantity": 1, "title": "玻璃杯", "spec": {"颜色": "透明"}, "handling": ["fragile"]},
        {"sku_code": "OIL-1", "quantity": 2, "title": "橄榄油 <b>", "spec": "500ml", "handling": ["liquid"]},
        {"sku_code": "CUP-1", "quantity": 1},
        {"sku_code": "TEE-1", "quantity": 1},
    ]
    flow.deliver(
        "orders.OrderReadyToShip", {"order_id": "O1", "shop_id": "S1", "lines": lines, "address": flow.ADDRESS}
    )
    gift = {
        "order_id": "O1",
        "shop_id": "S1",
        "buyer_id": "b",
        "promotion_id": "P1",
        "gift_sku_code": "BAG",
        "quantity": 1,
    }
    flow.deliver("marketing.GiftGranted", gift)
    s = client.get("/api/v1/shipments?order_id=O1", headers=flow.wh).get_json()["items"][0]
    assert s["pick_list"] == [
        {"sku_code": "CUP-1", "quantity": 2, "title": "玻璃杯", "spec": {"颜色": "透明"}, "handling": ["fragile"]},
        {"sku_code": "OIL-1", "quantity": 2, "title": "橄榄油 <b>", "spec": "500ml", "handling": ["liquid"]},
        {"sku_code": "TEE-1", "quantity": 1},  # the line carries nothing: nothing shown
        {"sku_code": "BAG", "quantity": 1, "gift": True, "promotion_id": "P1", "charge_fen": 0},
    ]
    html = client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill?format=html", headers=flow.wh).get_data(
        as_text=True
    )
    assert "[易碎]" in html and "[液体]" in html and "透明" in html and "(赠品)" in html
    assert "橄榄油 &lt;b&gt;" in html
