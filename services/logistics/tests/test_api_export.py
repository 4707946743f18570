"""CSV exports of shipments and exceptions: the list's filters and tenancy, UTF-8 with BOM, formula
cells neutralised, the receiver's phone masked, streamed."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from ecom_testkit import auth
from logistics.models import Shipment


def parse(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8" and resp.is_streamed
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8")[1:])))
    return rows


def test_shipments_csv_follows_the_filters_and_the_shop(flow, client, clock):
    evil = {**flow.ADDRESS, "name": "=cmd|' /C calc'!A0", "city": "@SUM(1)"}
    flow.ready(order_id="O1", address=evil)
    flow.dispatched(order_id="O2", tracking_no="SF0002")
    flow.ready(order_id="O9", shop_id="S2")
    rows = parse(client.get("/api/v1/shipments?format=csv", headers=flow.ops))
    assert [r["order_id"] for r in rows] == ["O2", "O1"]  # newest first, own shop only
    o1 = rows[1]
    assert o1["receiver_phone"] == "138****5678" and o1["receiver_name"].startswith("'=")
    assert o1["city"] == "'@SUM(1)" and o1["items"] == "SKU-A x2; SKU-B x1" and o1["status"] == "pending"
    assert rows[0]["tracking_no"] == "SF0002" and rows[0]["dispatched_at"].endswith("Z")
    only = parse(client.get("/api/v1/shipments?format=csv&status=pending", headers=flow.ops))
    assert [r["order_id"] for r in only] == ["O1"]
    admin = parse(client.get("/api/v1/shipments?format=csv", headers=auth("admin")))
    assert {r["shop_id"] for r in admin} == {"S1", "S2"}
    assert client.get("/api/v1/shipments?format=csv", headers=auth("ops")).status_code == 403
    assert client.get("/api/v1/shipments?format=csv&shop_id=S2", headers=flow.ops).status_code == 404
    assert client.get("/api/v1/shipments?format=xls", headers=flow.ops).status_code == 422
    # the JSON list is unchanged
    assert len(client.get("/api/v1/shipments", headers=flow.ops).get_json()["items"]) == 2


def test_exceptions_csv(flow, client, clock):
    s = flow.dispatched()
    flow.track(s, "exception", "e1", reason="-地址不详")
    clock.advance(hours=2)
    [row] = parse(client.get("/api/v1/shipments/exceptions?format=csv", headers=flow.ops))
    assert row["exception_kind"] == "carrier" and row["exception_reason"] == "'-地址不详"
    assert int(row["time_in_exception_s"]) >= 7200 and row["receiver_phone"] == "138****5678"
    assert parse(client.get("/api/v1/shipments/exceptions?format=csv&kind=stalled", headers=flow.ops)) == []
    assert parse(client.get("/api/v1/shipments/exceptions?format=csv", headers=auth("ops", shop_id="S2"))) == []


def test_a_large_export_streams_every_row(flow, client, db, clock):
    now = clock.now()
    rows = [
        {
            "id": f"SB{i:05d}",
            "dedupe_key": f"order:B{i:05d}",
            "shop_id": "S1",
            "order_id": f"B{i:05d}",
            "status": "pending",
            "lines": [{"sku_code": "X", "quantity": 1}],
            "receiver": {"name": "张*", "phone": "138****5678"},
            "priority": False,
            "dispatch_due_at": now,
            "created_at": now,
            "dispatched_late": False,
            "exception_open": False,
            "order_cancelled_after_dispatch": False,
            "version": 1,
        }
        for i in range(1200)
    ]
    with db.Session() as session:
        session.execute(sa.insert(Shipment), rows)
        session.commit()
    resp = client.get("/api/v1/shipments?format=csv", headers=flow.ops)
    assert len(list(resp.response)) >= 3  # the header, then the rows in batches: written as they are read
    assert len(parse(client.get("/api/v1/shipments?format=csv", headers=flow.ops))) == 1200
