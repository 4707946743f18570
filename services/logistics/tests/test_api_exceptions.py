"""Exception handling (notes, a new estimated arrival with its event, the resolution) and the
carrier's pickup (揽收) time against its 2 h deadline, over the HTTP API on SQLite."""

from __future__ import annotations

from datetime import timedelta

from ecom_common.clock import iso, parse_iso
from ecom_testkit import auth, recorded_events


def near(text, expected, seconds=5):
    return abs((parse_iso(text) - expected).total_seconds()) < seconds


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def test_notes_estimate_and_resolution_of_an_exception(flow, client, db, clock):
    s = flow.dispatched()
    url = f"/api/v1/shipments/{s['shipment_id']}"
    cs = auth("cs", sub="carol", shop_id="S1")
    problem(client.post(f"{url}/exception/notes", headers=cs, json={"text": "x"}), 409)  # nothing open
    problem(client.post(f"{url}/exception/resolve", headers=cs, json={"reason": "x"}), 409)
    assert flow.track(s, "exception", "e1", reason="地址不详").status_code == 200
    problem(client.post(f"{url}/exception/notes", headers=cs, json={}), 422)
    problem(client.post(f"{url}/exception/notes", headers=auth("cs", shop_id="S2"), json={"text": "x"}), 404)
    problem(client.post(f"{url}/exception/notes", headers=auth("buyer", sub="b"), json={"text": "x"}), 403)
    assert client.post(f"{url}/exception/notes", headers=cs, json={"text": "已联系快递员"}).status_code == 200

    # a new estimated arrival: in the future, once per estimate, the buyer is told through the event
    problem(client.post(f"{url}/estimate", headers=cs, json={"estimated_arrival_at": iso(clock.now())}), 422)
    problem(client.post(f"{url}/estimate", headers=cs, json={"estimated_arrival_at": "tomorrow"}), 422)
    eta = iso(clock.now() + timedelta(days=2))
    body = {"estimated_arrival_at": eta, "reason": "改派中"}
    resp = client.post(f"{url}/estimate", headers=cs, json=body)
    assert resp.status_code == 200 and resp.get_json()["estimated_arrival_at"] == eta
    assert client.post(f"{url}/estimate", headers=cs, json=body).status_code == 200  # same estimate again
    [event] = recorded_events(db, "logistics.ArrivalEstimateChanged")
    p = event["payload"]
    assert (p["estimated_arrival_at"], p["previous_estimate_at"], p["reason"]) == (eta, None, "改派中")
    assert (p["order_id"], p["shop_id"], p["tracking_no"]) == ("O1", "S1", "SF0001")

    clock.advance(hours=1)
    resolved = client.post(f"{url}/exception/resolve", headers=flow.ops, json={"reason": "快递已改派，重新派送"})
    assert resolved.status_code == 200
    out = resolved.get_json()
    assert out["exception_open"] is False and out["exception_resolution"] == "快递已改派，重新派送"
    assert near(out["exception_resolved_at"], clock.now()) and out["status"] == "exception"
    assert client.get("/api/v1/shipments/exceptions", headers=flow.ops).get_json()["items"] == []
    detail = flow.get(s["shipment_id"])
    assert [(n["by"], n["text"]) for n in detail["exception_notes"]] == [("carol", "已联系快递员")]
    actions = [t["action"] for t in detail["timeline"]]
    assert actions[-3:] == ["exception_note", "arrival_estimated", "exception_resolved"]
    problem(client.post(f"{url}/exception/resolve", headers=cs, json={"reason": "again"}), 409)
    # a new exception reopens the queue entry and forgets the old resolution
    assert flow.track(s, "exception", "e2", reason="拒收").status_code == 200
    again = flow.get(s["shipment_id"])
    assert again["exception_open"] is True and again["exception_resolution"] is None


def test_an_estimate_needs_a_parcel_on_its_way(flow, client, clock):
    s = flow.ready()
    eta = iso(clock.now() + timedelta(days=1))
    resp = client.post(
        f"/api/v1/shipments/{s['shipment_id']}/estimate", headers=flow.ops, json={"estimated_arrival_at": eta}
    )
    problem(resp, 409)


def test_pickup_time_from_the_carrier_against_its_two_hour_deadline(flow, client, clock):
    s = flow.dispatched()
    assert near(s["pickup_due_at"], clock.now() + timedelta(hours=2))
    assert s["picked_up_at"] is None and s["pickup_late"] is False
    clock.advance(minutes=90)
    picked = clock.now() - timedelta(minutes=10)
    assert flow.track(s, "picked_up", "p1", occurred_at=iso(picked)).status_code == 200
    got = flow.get(s["shipment_id"])
    assert got["picked_up_at"] == iso(picked) and got["status"] == "dispatched" and got["pickup_late"] is False
    flow.track(s, "in_transit", "p2")  # a later report leaves the pickup time alone
    assert flow.get(s["shipment_id"])["picked_up_at"] == iso(picked)

    late = flow.dispatched(order_id="O2", tracking_no="SF0002")
    clock.advance(hours=3)
    assert flow.get(late["shipment_id"])["pickup_late"] is True  # still not collected, past its deadline
    flow.track(late, "in_transit", "q1")  # no explicit pickup: the first report stands for it
    got = flow.get(late["shipment_id"])
    assert near(got["picked_up_at"], clock.now()) and got["pickup_late"] is True


def test_a_carrier_change_restarts_the_pickup_clock(flow, client, clock):
    s = flow.dispatched()
    clock.advance(hours=3)
    body = {"carrier": "ZTO", "tracking_no": "ZTO1234", "reason": "顺丰未揽收"}
    changed = client.post(f"/api/v1/shipments/{s['shipment_id']}/change-carrier", headers=flow.wh, json=body)
    out = changed.get_json()
    assert near(out["pickup_due_at"], clock.now() + timedelta(hours=2)) and out["pickup_late"] is False
