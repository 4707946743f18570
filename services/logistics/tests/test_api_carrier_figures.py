"""Actual carrier costs, per-carrier figures and statement reconciliation over the HTTP API."""

from __future__ import annotations

from datetime import timedelta

from ecom_common.clock import iso
from ecom_testkit import auth

FIN = auth("finance", sub="fei", shop_id="S1")


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def cost(client, shipment, fen, headers=FIN):
    return client.put(
        f"/api/v1/shipments/{shipment['shipment_id']}/carrier-cost", headers=headers, json={"cost_fen": fen}
    )


def test_recording_the_actual_cost(flow, client):
    pending = flow.ready(order_id="O0")
    problem(cost(client, pending, 800), 409)
    s = flow.dispatched()
    problem(cost(client, s, -1), 422)
    problem(cost(client, s, 2**31), 422)
    problem(cost(client, s, 800, headers=auth("finance", shop_id="S2")), 404)
    problem(cost(client, s, 800, headers=auth("cs", shop_id="S1")), 403)
    resp = cost(client, s, 1150)
    assert resp.status_code == 200 and resp.get_json()["carrier_cost_fen"] == 1150
    cost(client, s, 1150)  # same again: no second entry
    timeline = flow.get(s["shipment_id"])["timeline"]
    [entry] = [t for t in timeline if t["action"] == "carrier_cost_recorded"]
    assert entry["details"]["cost_fen"] == 1150 and entry["by"] == "fei"
    # the carrier's webhook may report it too
    assert flow.track(s, "in_transit", "c1", cost_fen=1180).status_code == 200
    assert flow.get(s["shipment_id"])["carrier_cost_fen"] == 1180


def test_per_carrier_figures(flow, client, clock):
    a = flow.dispatched(order_id="O1", tracking_no="SF0001")
    b = flow.dispatched(order_id="O2", tracking_no="SF0002")
    cost(client, a, 1000)
    cost(client, b, 1201)
    flow.track(a, "picked_up", "a0")
    clock.advance(hours=30)
    flow.track(a, "delivered", "a1")
    clock.advance(hours=60)
    flow.track(b, "delivered", "b1")  # 90 h: late
    resp = client.get("/api/v1/carriers/stats", headers=flow.ops)
    assert resp.status_code == 200, resp.get_json()
    [sf] = resp.get_json()["carriers"]
    assert (sf["carrier"], sf["shipments"], sf["delivered"], sf["on_time"], sf["on_time_rate"]) == ("SF", 2, 2, 1, 0.5)
    assert 59 < sf["mean_transit_hours"] < 61 and sf["cost_per_parcel_fen"] == 1101
    # another shop sees none of it; a window before the dispatch holds nothing
    assert client.get("/api/v1/carriers/stats", headers=auth("ops", shop_id="S2")).get_json()["carriers"] == []
    early = {"from": iso(clock.now() - timedelta(days=20)), "to": iso(clock.now() - timedelta(days=10))}
    assert client.get("/api/v1/carriers/stats", headers=flow.ops, query_string=early).get_json()["carriers"] == []
    problem(client.get("/api/v1/carriers/stats", headers=flow.ops, query_string={"from": "x"}), 422)
    backwards = {"from": early["to"], "to": early["from"]}
    problem(client.get("/api/v1/carriers/stats", headers=flow.ops, query_string=backwards), 422)
    long = {"from": iso(clock.now() - timedelta(days=400))}
    problem(client.get("/api/v1/carriers/stats", headers=flow.ops, query_string=long), 422)
    problem(
        client.get("/api/v1/carriers/stats", headers=auth("ops", shop_id="S1"), query_string={"shop_id": "S2"}), 404
    )
    assert client.get("/api/v1/carriers/stats", headers=auth("admin")).get_json()["carriers"][0]["shipments"] == 2


def test_a_carrier_statement_reconciled(flow, client, clock):
    a = flow.dispatched(order_id="O1", tracking_no="SF0001")
    b = flow.dispatched(order_id="O2", tracking_no="SF0002")
    flow.dispatched(order_id="O3", tracking_no="SF0003")  # not charged
    cost(client, a, 1000)
    cost(client, b, 1000)
    month = clock.now().strftime("%Y-%m")
    lines = [
        {"tracking_no": "SF0001", "charged_fen": 1000},
        {"tracking_no": "SF0002", "charged_fen": 1300},
        {"tracking_no": "SF9999", "charged_fen": 500},
    ]
    body = {"carrier": "SF", "month": month, "lines": lines}
    resp = client.post("/api/v1/carrier-statements", headers=FIN, json=body)
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert [(m["kind"], m["tracking_no"]) for m in out["mismatches"]] == [
        ("amount_differs", "SF0002"),
        ("extra", "SF9999"),
        ("missing", "SF0003"),
    ]
    assert out["matched"] == 1 and out["charged_total_fen"] == 2800 and out["recorded_total_fen"] == 2000
    # another shop's statement names none of S1's parcels; bad input is 422
    other = client.post("/api/v1/carrier-statements", headers=auth("finance", shop_id="S2"), json=body).get_json()
    assert {m["kind"] for m in other["mismatches"]} == {"extra"}
    problem(client.post("/api/v1/carrier-statements", headers=FIN, json={**body, "month": "2026-13"}), 422)
    problem(client.post("/api/v1/carrier-statements", headers=FIN, json={**body, "carrier": "NOPE"}), 422)
    problem(client.post("/api/v1/carrier-statements", headers=FIN, json={**body, "lines": [{"tracking_no": "x"}]}), 422)
    problem(client.post("/api/v1/carrier-statements", headers=auth("admin"), json=body), 422)  # which shop?
    assert (
        client.post("/api/v1/carrier-statements", headers=auth("admin"), json={**body, "shop_id": "S1"}).status_code
        == 200
    )
    problem(client.post("/api/v1/carrier-statements", headers=auth("cs", shop_id="S1"), json=body), 403)
