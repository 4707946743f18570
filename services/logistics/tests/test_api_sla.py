"""Stage clocks: GET /sla with the open items, their deadlines and time left, oldest first; the
presale promise (orders' promised_ship_by) as the dispatch deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecom_common.clock import iso, parse_iso
from ecom_testkit import auth
from logistics import fulfilment as f


def board(client, headers, **params):
    resp = client.get("/api/v1/sla", headers=headers, query_string=params)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def test_stage_clocks_pure():
    t0 = datetime(2026, 11, 11, tzinfo=UTC)
    s = f.OpenShipment("S1", "shop", "O1", t0, t0 + timedelta(hours=24))
    hours = f.StageHours(1, 2)
    [printing, dispatch] = f.stage_clocks(s, hours, t0 + timedelta(minutes=90))
    assert (printing["kind"], printing["due_at"], printing["seconds_left"], printing["breached"]) == (
        "print",
        t0 + timedelta(hours=1),
        -1800,
        True,
    )
    assert dispatch["kind"] == "dispatch" and dispatch["basis"] == "standard"
    printed = f.OpenShipment("S1", "shop", "O1", t0, t0 + timedelta(hours=24), printed_at=t0 + timedelta(hours=1))
    assert f.stage_clocks(printed, hours, t0)[0]["due_at"] == t0 + timedelta(hours=3)
    gone = f.OpenShipment("S1", "shop", "O1", t0, t0, dispatched_at=t0, pickup_due_at=t0 + timedelta(hours=2))
    assert [c["kind"] for c in f.stage_clocks(gone, hours, t0)] == ["pickup"]
    picked = f.OpenShipment("S1", "shop", "O1", t0, t0, dispatched_at=t0, pickup_due_at=t0, picked_up_at=t0)
    assert f.stage_clocks(picked, hours, t0) == []


def test_the_board_follows_each_shipment_through_its_stages_oldest_first(flow, client, clock):
    a = flow.ready(order_id="O1")
    clock.advance(minutes=10)
    b = flow.ready(order_id="O2")
    items = board(client, flow.ops)
    assert [(i["kind"], i["shipment_id"]) for i in items] == [
        ("print", a["shipment_id"]),
        ("dispatch", a["shipment_id"]),
        ("print", b["shipment_id"]),
        ("dispatch", b["shipment_id"]),
    ]
    first = items[0]
    assert parse_iso(first["due_at"]) - parse_iso(first["started_at"]) == timedelta(hours=1)
    assert 0 < first["seconds_left"] <= 3000 and first["breached"] is False
    clock.advance(hours=1)
    assert board(client, flow.ops)[0]["breached"] is True
    # printed -> the handover clock (2 h from the print)
    client.post("/api/v1/waybills/print", headers=flow.wh, json={"shipment_ids": [a["shipment_id"]]})
    kinds = {(i["kind"], i["shipment_id"]) for i in board(client, flow.ops)}
    assert ("handover", a["shipment_id"]) in kinds and ("print", a["shipment_id"]) not in kinds
    # dispatched -> only the pickup clock; picked up -> nothing
    client.post(f"/api/v1/shipments/{a['shipment_id']}/dispatch", headers=flow.wh, json={"tracking_no": "SF0001"})
    assert [i["kind"] for i in board(client, flow.ops) if i["shipment_id"] == a["shipment_id"]] == ["pickup"]
    flow.track({"carrier": "SF", "tracking_no": "SF0001"}, "picked_up", "p1")
    assert [i for i in board(client, flow.ops) if i["shipment_id"] == a["shipment_id"]] == []
    # another shop sees nothing of it; staff without a shop nothing at all
    assert board(client, auth("ops", shop_id="S2")) == []
    assert client.get("/api/v1/sla", headers=auth("ops")).status_code == 403
    assert client.get("/api/v1/sla", headers=auth("buyer", sub="b")).status_code == 403
    assert (
        client.get("/api/v1/sla", headers=auth("ops", shop_id="S1"), query_string={"shop_id": "S2"}).status_code == 404
    )
    assert len(board(client, auth("admin"))) == 2 and len(board(client, flow.ops, limit=1)) == 1


def test_a_presale_promise_is_the_dispatch_deadline(flow, client, clock):
    promised = clock.now() + timedelta(days=3)
    s = flow.ready(order_id="O1", promised_ship_by=iso(promised), paid_at=iso(clock.now() - timedelta(days=2)))
    assert parse_iso(s["dispatch_due_at"]) == promised
    assert s["overdue"] is False  # born on time, not overdue from its payment
    [dispatch] = [i for i in board(client, flow.ops) if i["kind"] == "dispatch"]
    assert dispatch["basis"] == "presale" and parse_iso(dispatch["due_at"]) == promised
    plain = flow.ready(order_id="O2", promised_ship_by=None)
    [d2] = [i for i in board(client, flow.ops) if i["kind"] == "dispatch" and i["order_id"] == "O2"]
    assert d2["basis"] == "standard" and plain["dispatch_due_at"] != s["dispatch_due_at"]
