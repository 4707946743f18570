"""HTTP API and event handlers on SQLite with the in-memory bus: status codes, tenancy,
idempotency, the events written to the outbox, and clock-driven deadlines and stalls."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ecom_common.consumer import EventConsumer, Outcome
from ecom_common.events import make_event
from ecom_common.jobs import run_once
from ecom_testkit import CRAFTED_CURSORS, auth, recorded_events
from logistics import domain, handlers
from logistics.app import SERVICE

WEBHOOK_SECRET = "carrier-secret-for-tests"  # as configured by conftest.py

WH = auth("warehouse", sub="wang", shop_id="S1")
WH2 = auth("warehouse", sub="li", shop_id="S2")
OPS = auth("ops", sub="ops1", shop_id="S1")
ADMIN = auth("admin", sub="root")
ADDRESS = {
    "name": "张三",
    "phone": "13812345678",
    "province": "江苏省",
    "city": "南京市",
    "district": "鼓楼区",
    "detail": "中山路 1 号",
}


def deliver(db, routing_key: str, payload: dict) -> str:
    """Hand one event to the logistics consumer exactly as the worker would (inbox, handler, commit)."""
    consumer = EventConsumer(db, handlers.SUBSCRIPTIONS[0])
    return consumer.handle(make_event(routing_key, payload))


def ready(db, order_id="O1", shop_id="S1", address=None, **extra) -> dict:
    payload = {
        "order_id": order_id,
        "shop_id": shop_id,
        "lines": [{"sku_code": "SKU-A", "quantity": 2}, {"sku_code": "SKU-B", "quantity": 1}],
        "address": address or ADDRESS,
        **extra,
    }
    deliver(db, "orders.OrderReadyToShip", payload)
    return payload


def only_shipment(client, headers=WH, **filters) -> dict:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    items = client.get(f"/api/v1/shipments?{query}", headers=headers).get_json()["items"]
    assert len(items) == 1, items
    return items[0]


def types(db) -> list[str]:
    return [e["type"] for e in recorded_events(db)]


def is_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def signed_post(client, body: dict | bytes, secret=WEBHOOK_SECRET, signature=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sig = signature if signature is not None else domain.sign(secret, raw)
    return client.post(
        "/api/v1/tracking/webhook", data=raw, content_type="application/json", headers={domain.SIGNATURE_HEADER: sig}
    )


def track(client, shipment, status, event_id, reason=None, carrier=None):
    return signed_post(
        client,
        {
            "event_id": event_id,
            "carrier": carrier or shipment["carrier"],
            "tracking_no": shipment["tracking_no"],
            "status": status,
            "reason": reason,
            "location": "南京转运中心",
        },
    )


def dispatched(client, db, order_id="O1", tracking_no="SF0001", **extra) -> dict:
    ready(db, order_id=order_id, **extra)
    s = only_shipment(client, order_id=order_id)
    resp = client.post(f"/api/v1/shipments/{s['shipment_id']}/dispatch", headers=WH, json={"tracking_no": tracking_no})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


# Quotes ----------------------------------------------------------------------------------------
def test_quote_for_any_authenticated_role(client):
    resp = client.post(
        "/api/v1/shipping/quote",
        headers=auth("service", sub="service:orders"),
        json={"shop_id": "S9", "province": "新疆维吾尔自治区", "weight_g": 1500, "goods_fen": 99900},
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["fee_fen"] == 1000 + 500 + 1500 and body["served"] and body["province"] == "新疆"
    assert body["template"] == "default"
    assert sum(i["fen"] for i in body["breakdown"]) == body["fee_fen"]
    buyer = client.post(
        "/api/v1/shipping/quote",
        headers=auth("buyer", sub="b1"),
        json={"shop_id": "S9", "province": "上海市", "weight_g": 5000},
    )
    assert buyer.get_json()["fee_fen"] == 0


def test_quote_errors(client):
    url = "/api/v1/shipping/quote"
    is_problem(client.post(url, json={"shop_id": "S1", "province": "江苏", "weight_g": 1}), 401)
    assert (
        "weight_g"
        in is_problem(client.post(url, headers=OPS, json={"shop_id": "S1", "province": "江苏"}), 422)["errors"]
    )
    assert (
        "weight_g"
        in is_problem(client.post(url, headers=OPS, json={"shop_id": "S1", "province": "江苏", "weight_g": -1}), 422)[
            "errors"
        ]
    )
    assert (
        "province"
        in is_problem(client.post(url, headers=OPS, json={"shop_id": "S1", "province": "火星", "weight_g": 1}), 422)[
            "errors"
        ]
    )
    is_problem(client.post(url, headers=OPS, data="{not json", content_type="application/json"), 400)


def test_region_not_served_is_422_naming_the_province(client):
    put = client.put(
        "/api/v1/shipping/templates?shop_id=S1",
        headers=OPS,
        json={
            "default_rule": {
                "first_weight_g": 1000,
                "first_fen": 800,
                "additional_weight_g": 500,
                "additional_fen": 200,
            },
            "not_served": ["西藏自治区"],
        },
    )
    assert put.status_code == 200 and put.get_json()["template"]["not_served"] == ["西藏"]
    problem = is_problem(
        client.post(
            "/api/v1/shipping/quote", headers=OPS, json={"shop_id": "S1", "province": "西藏", "weight_g": 1000}
        ),
        422,
    )
    assert "西藏" in problem["detail"] and "province" in problem["errors"]
    ok = client.post(
        "/api/v1/shipping/quote", headers=OPS, json={"shop_id": "S1", "province": "广东", "weight_g": 1600}
    )
    assert ok.get_json()["fee_fen"] == 800 + 2 * 200 and ok.get_json()["template"] == "shop"


# Templates and sender --------------------------------------------------------------------------
def test_templates_tenancy_roles_and_revert(client):
    url = "/api/v1/shipping/templates"
    assert client.get(url, headers=OPS).get_json()["source"] == "default"
    is_problem(client.get(url + "?shop_id=S2", headers=OPS), 404)  # another shop: 404
    is_problem(client.get(url, headers=ADMIN), 422)  # platform role names a shop
    body = {"default_rule": {"first_weight_g": 1000, "first_fen": 0, "additional_weight_g": 1000, "additional_fen": 0}}
    is_problem(client.put(url + "?shop_id=S1", headers=auth("cs", shop_id="S1"), json=body), 403)
    is_problem(client.put(url + "?shop_id=S2", headers=OPS, json=body), 403)
    bad = is_problem(client.put(url, headers=OPS, json={**body, "never_free": ["Atlantis"]}), 422)
    assert "never_free" in bad["errors"]
    assert "default_rule" in is_problem(client.put(url, headers=OPS, json={}), 422)["errors"]
    assert client.get(url, headers=OPS).get_json()["source"] == "default"  # nothing was written
    assert client.put(url + "?shop_id=S1", headers=ADMIN, json=body).get_json()["source"] == "shop"
    assert client.get(url, headers=OPS).get_json()["updated_by"] == "root"
    assert client.delete(url, headers=OPS).status_code == 204
    assert client.get(url, headers=OPS).get_json()["source"] == "default"


def test_sender_default_and_per_shop(client):
    default = client.get("/api/v1/shipping/sender", headers=WH).get_json()
    assert default["source"] == "default" and default["sender"]["province"] == "浙江"
    put = client.put(
        "/api/v1/shipping/sender",
        headers=OPS,
        json={
            "name": "S1 仓",
            "phone": "025-88886666",
            "province": "江苏省",
            "city": "苏州市",
            "detail": "工业园区 8 号",
        },
    )
    assert put.status_code == 200 and put.get_json()["sender"]["province"] == "江苏"
    assert client.get("/api/v1/shipping/sender", headers=WH).get_json()["sender"]["name"] == "S1 仓"
    assert client.get("/api/v1/shipping/sender", headers=WH2).get_json()["source"] == "default"


# Carriers and rules ----------------------------------------------------------------------------
def test_carriers_seeded_and_replaced_by_admin_only(client):
    codes = {c["code"]: c for c in client.get("/api/v1/carriers", headers=WH).get_json()["items"]}
    assert set(codes) == {"SF", "ZTO", "EMS", "DBL"} and all(c["active"] for c in codes.values())
    body = {
        "items": [
            {"code": "ZTO", "name": "中通快递"},
            {"code": "EMS", "name": "中国邮政EMS"},
            {"code": "DBL", "name": "德邦快递"},
            {"code": "JD", "name": "京东物流"},
        ]
    }
    is_problem(client.put("/api/v1/carriers", headers=WH, json=body), 403)
    is_problem(client.put("/api/v1/carriers", headers=ADMIN, json={"items": [{"code": "x", "name": "?"}]}), 422)
    after = {
        c["code"]: c["active"] for c in client.put("/api/v1/carriers", headers=ADMIN, json=body).get_json()["items"]
    }
    assert after == {"SF": False, "ZTO": True, "EMS": True, "DBL": True, "JD": True}
    first = client.get("/api/v1/carriers", headers=WH, query_string={"limit": 2}).get_json()
    rest = client.get("/api/v1/carriers", headers=WH, query_string={"cursor": first["next_cursor"]}).get_json()
    assert [c["code"] for c in first["items"] + rest["items"]] == ["DBL", "EMS", "JD", "SF", "ZTO"]
    assert rest["next_cursor"] is None
    is_problem(client.get("/api/v1/carriers", headers=WH, query_string={"limit": 201}), 422)


def test_carrier_choice_on_creation_follows_the_rules_and_shop_rules(client, db):
    ready(db, order_id="O-js")  # 江苏 -> SF next day
    ready(db, order_id="O-xj", address={**ADDRESS, "province": "新疆维吾尔自治区"})  # remote -> EMS
    ready(db, order_id="O-gd-heavy", address={**ADDRESS, "province": "广东"}, weight_g=25000)
    ready(db, order_id="O-gd", address={**ADDRESS, "province": "广东"}, weight_g=800)
    carriers = {s["order_id"]: s["carrier"] for s in client.get("/api/v1/shipments", headers=WH).get_json()["items"]}
    assert carriers == {"O-js": "SF", "O-xj": "EMS", "O-gd-heavy": "DBL", "O-gd": "ZTO"}

    rules = {"rules": [{"carrier": "EMS", "provinces": ["广东省"]}], "default_carrier": "DBL"}
    is_problem(client.put("/api/v1/carrier-rules", headers=OPS, json=rules), 403)
    assert (
        "rules"
        in is_problem(client.put("/api/v1/carrier-rules", headers=WH, json={"rules": [{"carrier": "NOPE"}]}), 422)[
            "errors"
        ]
    )
    assert client.put("/api/v1/carrier-rules", headers=WH, json=rules).status_code == 200
    assert client.get("/api/v1/carrier-rules", headers=WH).get_json()["source"] == "shop"
    assert client.get("/api/v1/carrier-rules", headers=WH2).get_json()["source"] == "default"
    ready(db, order_id="O-gd2", address={**ADDRESS, "province": "广东"})
    ready(db, order_id="O-sc", address={**ADDRESS, "province": "四川"})
    assert only_shipment(client, order_id="O-gd2")["carrier"] == "EMS"
    assert only_shipment(client, order_id="O-sc")["carrier"] == "DBL"


# Shipment creation -----------------------------------------------------------------------------
def test_ready_to_ship_creates_one_pending_shipment_per_order(client, db):
    payload = ready(db, paid_at="2026-11-20T10:00:00Z", priority=True)
    s = only_shipment(client)
    assert s["status"] == "pending" and s["order_id"] == "O1" and s["priority"]
    assert s["pick_list"] == [{"sku_code": "SKU-A", "quantity": 2}, {"sku_code": "SKU-B", "quantity": 1}]
    assert s["receiver"]["name"] == "张*" and s["receiver"]["phone"] == "138****5678"
    assert s["dispatch_due_at"] == "2026-11-21T10:00:00Z"
    created = recorded_events(db, "logistics.ShipmentCreated")
    assert [e["payload"]["shipment_id"] for e in created] == [s["shipment_id"]]
    assert created[0]["payload"]["dispatch_by"] == "2026-11-21T10:00:00Z"  # analytics' dispatch on time
    assert "13812345678" not in json.dumps(recorded_events(db))
    # Another OrderReadyToShip for the same order (a second event, not a redelivery): still one.
    deliver(db, "orders.OrderReadyToShip", payload)
    only_shipment(client)
    assert len(recorded_events(db, "logistics.ShipmentCreated")) == 1


def test_shipment_ids_take_their_time_from_the_configured_clock(client, db, clock):
    # ecom_common.ids: "S" + milliseconds of the transaction's now (hex) + random; a test that moves
    # the clock on gets ids that sort after the earlier ones.
    clock.advance(days=400)
    ready(db)
    sid = only_shipment(client)["shipment_id"]
    assert sid.startswith("S") and len(sid) == 1 + 12 + 8
    millis = int(sid[1:13], 16)
    assert abs(millis / 1000 - clock.now().timestamp()) < 60


def test_redelivered_event_is_skipped_by_the_inbox(db):
    consumer = EventConsumer(db, handlers.SUBSCRIPTIONS[0])
    event = make_event(
        "orders.OrderReadyToShip",
        {"order_id": "O1", "shop_id": "S1", "address": ADDRESS, "lines": [{"sku_code": "A", "quantity": 1}]},
    )
    assert consumer.handle(event) == Outcome.HANDLED
    assert consumer.handle(event) == Outcome.DUPLICATE


def test_list_filters_pagination_and_tenancy(client, db):
    for i in range(3):
        ready(db, order_id=f"O{i}")
    ready(db, order_id="O-other", shop_id="S2")
    page = client.get("/api/v1/shipments?limit=2", headers=WH).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(f"/api/v1/shipments?limit=2&cursor={page['next_cursor']}", headers=WH).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {s["order_id"] for s in page["items"] + rest["items"]} == {"O0", "O1", "O2"}
    # Another shop named in the filter is a 404, as its resources are (ecom_common.auth.list_filter).
    assert client.get("/api/v1/shipments?shop_id=S2", headers=WH).status_code == 404
    assert len(client.get("/api/v1/shipments", headers=ADMIN).get_json()["items"]) == 4
    assert len(client.get("/api/v1/shipments?shop_id=S2", headers=ADMIN).get_json()["items"]) == 1
    assert client.get("/api/v1/shipments?status=dispatched", headers=WH).get_json()["items"] == []
    is_problem(client.get("/api/v1/shipments?status=lost", headers=WH), 422)
    is_problem(client.get("/api/v1/shipments?cursor=garbage", headers=WH), 400)
    is_problem(client.get("/api/v1/shipments", headers=auth("buyer", sub="b1")), 403)
    is_problem(client.get("/api/v1/shipments"), 401)
    other = only_shipment(client, ADMIN, shop_id="S2")
    for path in ("", "/waybill"):
        is_problem(client.get(f"/api/v1/shipments/{other['shipment_id']}{path}", headers=WH), 404)
    is_problem(
        client.post(f"/api/v1/shipments/{other['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "ZTO99999"}),
        404,
    )
    is_problem(client.get("/api/v1/shipments/S-nope", headers=WH), 404)


# Dispatch --------------------------------------------------------------------------------------
def test_dispatch_emits_shipment_dispatched_and_guards_the_state(client, db):
    ready(db)
    s = only_shipment(client)
    url = f"/api/v1/shipments/{s['shipment_id']}/dispatch"
    is_problem(client.post(url, headers=OPS, json={"tracking_no": "SF0001"}), 403)
    assert "tracking_no" in is_problem(client.post(url, headers=WH, json={}), 422)["errors"]
    assert (
        "carrier"
        in is_problem(client.post(url, headers=WH, json={"carrier": "NOPE", "tracking_no": "SF0001"}), 422)["errors"]
    )
    is_problem(client.post(url, headers=WH, data="{", content_type="application/json"), 400)
    assert recorded_events(db, "logistics.ShipmentDispatched") == []

    resp = client.post(url, headers=WH, json={"tracking_no": "SF0001"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "dispatched"
    [event] = recorded_events(db, "logistics.ShipmentDispatched")
    assert event["payload"] == {
        "shipment_id": s["shipment_id"],
        "order_id": "O1",
        "shop_id": "S1",
        "carrier": "SF",
        "tracking_no": "SF0001",
        "case_id": None,
        "lines": [{"sku_code": "SKU-A", "quantity": 2}, {"sku_code": "SKU-B", "quantity": 1}],
    }
    problem = is_problem(client.post(url, headers=WH, json={"tracking_no": "SF0002"}), 409)
    assert problem["errors"] == {"status": ["dispatched"]}
    assert len(recorded_events(db, "logistics.ShipmentDispatched")) == 1


def test_dispatch_idempotency_key_replays_and_refuses_another_body(client, db):
    ready(db)
    s = only_shipment(client)
    url = f"/api/v1/shipments/{s['shipment_id']}/dispatch"
    headers = {**WH, "Idempotency-Key": "k-1"}
    first = client.post(url, headers=headers, json={"tracking_no": "SF0001"})
    again = client.post(url, headers=headers, json={"tracking_no": "SF0001"})
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["tracking_no"] == "SF0001"
    is_problem(client.post(url, headers=headers, json={"tracking_no": "SF0002"}), 409)
    assert len(recorded_events(db, "logistics.ShipmentDispatched")) == 1


def test_warehouse_overrides_the_carrier_and_tracking_numbers_are_unique(client, db):
    ready(db, order_id="O1")
    ready(db, order_id="O2")
    s1, s2 = only_shipment(client, order_id="O1"), only_shipment(client, order_id="O2")
    assigned = client.post(
        f"/api/v1/shipments/{s1['shipment_id']}/carrier", headers=WH, json={"carrier": "ZTO", "reason": "SF 爆仓"}
    )
    assert assigned.status_code == 200 and assigned.get_json()["carrier"] == "ZTO"
    ok = client.post(f"/api/v1/shipments/{s1['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "T-1000"})
    assert ok.get_json()["carrier"] == "ZTO"
    is_problem(client.post(f"/api/v1/shipments/{s1['shipment_id']}/carrier", headers=WH, json={"carrier": "SF"}), 409)
    dup = is_problem(
        client.post(
            f"/api/v1/shipments/{s2['shipment_id']}/dispatch",
            headers=WH,
            json={"carrier": "ZTO", "tracking_no": "T-1000"},
        ),
        409,
    )
    assert "tracking_no" in dup["errors"]
    ok2 = client.post(
        f"/api/v1/shipments/{s2['shipment_id']}/dispatch", headers=WH, json={"carrier": "DBL", "tracking_no": "T-1000"}
    )
    assert ok2.status_code == 200 and ok2.get_json()["carrier_reason"] == "chosen by warehouse wang"


def test_change_carrier_after_a_failed_pickup_keeps_history(client, db):
    ready(db)
    s = only_shipment(client)
    url = f"/api/v1/shipments/{s['shipment_id']}/change-carrier"
    body = {"carrier": "ZTO", "tracking_no": "ZTO7777", "reason": "顺丰未揽收"}
    is_problem(client.post(url, headers=WH, json=body), 409)  # still pending
    client.post(f"/api/v1/shipments/{s['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "SF0001"})
    assert (
        "reason"
        in is_problem(client.post(url, headers=WH, json={"carrier": "ZTO", "tracking_no": "ZTO7777"}), 422)["errors"]
    )
    changed = client.post(url, headers=WH, json=body)
    assert changed.status_code == 200 and changed.get_json()["tracking_no"] == "ZTO7777"
    detail = client.get(f"/api/v1/shipments/{s['shipment_id']}", headers=OPS).get_json()
    change = [h for h in detail["carrier_history"] if h.get("old_carrier") == "SF"][0]
    assert change["old_tracking_no"] == "SF0001" and change["carrier"] == "ZTO" and change["reason"] == "顺丰未揽收"
    assert change["by"] == "wang"
    entry = [t for t in detail["timeline"] if t["action"] == "carrier_changed"][0]
    assert set(entry) == {"at", "by", "action", "from_status", "status", "reason", "details"}
    assert entry["by"] == "wang" and entry["status"] == entry["from_status"] == "dispatched"
    assert entry["details"]["old_carrier"] == "SF" and entry["at"].endswith("Z")
    [event] = recorded_events(db, "logistics.CarrierChanged")
    assert event["payload"] == {
        "shipment_id": s["shipment_id"],
        "order_id": "O1",
        "shop_id": "S1",
        "old_carrier": "SF",
        "old_tracking_no": "SF0001",
        "carrier": "ZTO",
        "tracking_no": "ZTO7777",
        "reason": "顺丰未揽收",
        "at": entry["at"],
        "case_id": None,
    }
    # The carrier now reports under the new number; the old one is unknown.
    assert track(client, {"carrier": "ZTO", "tracking_no": "ZTO7777"}, "in_transit", "z-1").status_code == 200
    assert track(client, {"carrier": "SF", "tracking_no": "SF0001"}, "in_transit", "s-1").status_code == 404


# Deadline --------------------------------------------------------------------------------------
def test_overdue_listed_and_counted_and_promotion_periods_give_48h(client, db, clock):
    paid = clock.now()
    ready(db, order_id="O-normal", paid_at=paid.isoformat())
    is_problem(client.put("/api/v1/promotion-periods", headers=OPS, json={"items": []}), 403)
    bad = {"items": [{"name": "双11", "starts_at": paid.isoformat(), "ends_at": paid.isoformat()}]}
    assert "ends_at" in json.dumps(
        is_problem(client.put("/api/v1/promotion-periods", headers=ADMIN, json=bad), 422)["errors"]
    )
    period = {
        "items": [
            {
                "name": "双11",
                "starts_at": (paid - timedelta(hours=1)).isoformat(),
                "ends_at": (paid + timedelta(hours=1)).isoformat(),
            }
        ]
    }
    assert client.put("/api/v1/promotion-periods", headers=ADMIN, json=period).status_code == 200
    periods = client.get("/api/v1/promotion-periods", headers=WH).get_json()
    assert periods["items"][0]["name"] == "双11" and periods["next_cursor"] is None
    assert periods["items"][0]["starts_at"] == (paid - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    ready(db, order_id="O-promo", paid_at=paid.isoformat())
    assert only_shipment(client, order_id="O-promo")["promotion"] == "双11"

    assert client.get("/api/v1/shipments?overdue=true", headers=WH).get_json()["items"] == []
    clock.advance(hours=25)
    overdue = client.get("/api/v1/shipments?overdue=true", headers=WH).get_json()["items"]
    assert [s["order_id"] for s in overdue] == ["O-normal"] and overdue[0]["overdue"]
    stats = client.get("/api/v1/shipments/stats", headers=WH).get_json()
    assert stats["overdue"] == 1 and stats["by_status"]["pending"] == 2
    clock.advance(hours=24)
    assert client.get("/api/v1/shipments/stats", headers=WH).get_json()["overdue"] == 2
    late = client.post(
        f"/api/v1/shipments/{overdue[0]['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "SF5555"}
    )
    assert late.get_json()["dispatched_late"] is True
    stats = client.get("/api/v1/shipments/stats", headers=WH).get_json()
    assert stats["overdue"] == 1 and stats["dispatched_late"] == 1
    assert client.get("/api/v1/shipments/stats", headers=WH2).get_json()["overdue"] == 0


# Cancellation ----------------------------------------------------------------------------------
def test_order_cancelled_cancels_a_pending_shipment_and_leaves_a_dispatched_one(client, db):
    ready(db, order_id="O-pending")
    dispatched(client, db, order_id="O-gone")
    deliver(db, "orders.OrderCancelled", {"order_id": "O-pending", "shop_id": "S1", "reason": "buyer asked"})
    deliver(db, "orders.OrderCancelled", {"order_id": "O-gone", "shop_id": "S1", "reason": "buyer asked"})
    pending = only_shipment(client, order_id="O-pending")
    assert pending["status"] == "cancelled" and pending["cancelled_at"]
    gone = only_shipment(client, order_id="O-gone")
    assert gone["status"] == "dispatched" and gone["order_cancelled_after_dispatch"]
    timeline = client.get(f"/api/v1/shipments/{gone['shipment_id']}", headers=WH).get_json()["timeline"]
    assert timeline[-1]["action"] == "order_cancelled_after_dispatch" and "buyer asked" in timeline[-1]["reason"]
    is_problem(
        client.post(
            f"/api/v1/shipments/{pending['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "SF1" * 3}
        ),
        409,
    )


def test_a_cancellation_handled_before_ready_to_ship_prevents_the_shipment(client, db):
    deliver(db, "orders.OrderCancelled", {"order_id": "O-late", "shop_id": "S1"})
    ready(db, order_id="O-late")
    assert client.get("/api/v1/shipments?order_id=O-late", headers=WH).get_json()["items"] == []


# Exchanges: replacement shipments --------------------------------------------------------------
def test_reship_reuses_the_original_address_and_carries_the_case_id(client, db):
    dispatched(client, db, order_id="O1")
    payload = {"case_id": "C1", "order_id": "O1", "shop_id": "S1", "lines": [{"sku_code": "SKU-A-L", "quantity": 1}]}
    deliver(db, "aftersales.ReshipRequested", payload)
    deliver(db, "aftersales.ReshipRequested", payload)  # a second event for the case: still one replacement
    replacement = only_shipment(client, case_id="C1")
    assert replacement["order_id"] == "O1" and replacement["status"] == "pending"
    assert replacement["receiver"]["name"] == "张*" and replacement["receiver"]["city"] == "南京市"
    assert replacement["pick_list"] == [{"sku_code": "SKU-A-L", "quantity": 1}]
    assert recorded_events(db, "logistics.ShipmentCreated")[-1]["payload"]["case_id"] == "C1"
    sent = client.post(
        f"/api/v1/shipments/{replacement['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "SF0002"}
    )
    assert sent.status_code == 200
    event = recorded_events(db, "logistics.ShipmentDispatched")[-1]["payload"]
    assert event["case_id"] == "C1" and event["lines"] == [{"sku_code": "SKU-A-L", "quantity": 1}]
    # The order's cancellation never touches the replacement.
    deliver(db, "orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1"})
    assert only_shipment(client, case_id="C1")["status"] == "dispatched"
    assert track(client, sent.get_json(), "delivered", "d-c1").status_code == 200
    assert recorded_events(db, "logistics.ShipmentDelivered")[-1]["payload"]["case_id"] == "C1"


def test_reship_without_an_original_shipment_asks_orders(client, db, monkeypatch):
    calls = []

    class FakeOrders:  # stands in for the orders service over HTTP
        def __init__(self, config, peer):
            assert peer == "orders"

        def get(self, path):
            calls.append(path)

            class Resp:
                status_code = 200

                def json(self):
                    return {
                        "order_id": "O-old",
                        "address": {
                            "name": "李四",
                            "phone": "13900001111",
                            "province": "广东省",
                            "city": "广州市",
                            "detail": "天河路 2 号",
                        },
                    }

            return Resp()

    monkeypatch.setattr(handlers, "PeerClient", FakeOrders)
    deliver(
        db,
        "aftersales.ReshipRequested",
        {"case_id": "C9", "order_id": "O-old", "shop_id": "S1", "lines": [{"sku_code": "X", "quantity": 1}]},
    )
    s = only_shipment(client, case_id="C9")
    assert calls == ["/api/v1/orders/O-old"]
    assert s["receiver"]["phone"] == "139****1111" and s["province"] == "广东" and s["carrier"] == "ZTO"


# Tracking webhook ------------------------------------------------------------------------------
def test_webhook_signature_is_required(client, db):
    s = dispatched(client, db)
    body = {"event_id": "e1", "carrier": "SF", "tracking_no": s["tracking_no"], "status": "in_transit"}
    is_problem(signed_post(client, body, signature=""), 401)
    is_problem(signed_post(client, body, secret="wrong-secret"), 401)
    raw = json.dumps(body).encode()
    tampered = signed_post(client, raw.replace(b"in_transit", b"delivered"), signature=domain.sign(WEBHOOK_SECRET, raw))
    is_problem(tampered, 401)
    assert client.get(f"/api/v1/shipments/{s['shipment_id']}", headers=WH).get_json()["status"] == "dispatched"


def test_webhook_validation(client, db):
    s = dispatched(client, db)
    is_problem(signed_post(client, b"{nope"), 400)
    base = {"event_id": "e1", "carrier": "SF", "tracking_no": s["tracking_no"]}
    assert "status" in is_problem(signed_post(client, {**base, "status": "teleported"}), 422)["errors"]
    assert "reason" in is_problem(signed_post(client, {**base, "status": "exception"}), 422)["errors"]
    is_problem(signed_post(client, {**base, "tracking_no": "SF-unknown", "status": "in_transit"}), 404)


def test_a_signed_webhook_nested_too_deeply_is_400(client):
    body = b'{"event_id": "e1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert is_problem(signed_post(client, body), 400)["errors"] == {"body": ["Nested deeper than 32 levels."]}


def test_webhook_without_a_configured_secret_refuses(tmp_path):
    from ecom_common.db import Database
    from ecom_testkit import unit_config

    config = unit_config("logistics", tmp_path)
    SERVICE.migrate(config)
    app = SERVICE.create_app(config, Database(config))
    resp = app.test_client().post("/api/v1/tracking/webhook", json={}, headers={domain.SIGNATURE_HEADER: "sha256=00"})
    assert resp.status_code == 503


def test_tracking_to_delivery_with_a_timeline_and_idempotent_events(client, db):
    s = dispatched(client, db)
    first = track(client, s, "in_transit", "e1")
    assert first.get_json() == {"shipment_id": s["shipment_id"], "status": "in_transit", "duplicate": False}
    assert track(client, s, "in_transit", "e1").get_json()["duplicate"] is True  # resent: no change
    assert track(client, s, "out_for_delivery", "e2").get_json()["status"] == "out_for_delivery"
    delivered = track(client, s, "delivered", "e3")
    assert delivered.get_json()["status"] == "delivered"
    [event] = recorded_events(db, "logistics.ShipmentDelivered")
    assert event["payload"]["shipment_id"] == s["shipment_id"] and event["payload"]["order_id"] == "O1"
    assert event["payload"]["case_id"] is None and event["payload"]["delivered_at"]
    assert track(client, s, "delivered", "e3").get_json()["duplicate"] is True
    late = is_problem(track(client, s, "in_transit", "e4"), 409)  # delivered is final
    assert late["errors"] == {"status": ["delivered"]}
    detail = client.get(f"/api/v1/shipments/{s['shipment_id']}", headers=auth("cs", shop_id="S1")).get_json()
    assert [t["carrier_event_id"] for t in detail["tracking"]] == ["e1", "e2", "e3"]
    assert [e["status"] for e in detail["timeline"]] == [
        "pending",
        "dispatched",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert len(recorded_events(db, "logistics.ShipmentDelivered")) == 1


def test_a_repeated_delivery_under_a_new_event_id_is_a_200_no_op(client, db):
    # Carriers retry until they get a 2xx, often with a fresh event id: delivered twice must not be 409.
    s = dispatched(client, db)
    assert track(client, s, "delivered", "d1").status_code == 200
    again = track(client, s, "delivered", "d2")
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json() == {"shipment_id": s["shipment_id"], "status": "delivered", "duplicate": True}
    detail = client.get(f"/api/v1/shipments/{s['shipment_id']}", headers=WH).get_json()
    assert [t["carrier_event_id"] for t in detail["tracking"]] == ["d1"]
    assert [e["status"] for e in detail["timeline"]] == ["pending", "dispatched", "delivered"]
    assert len(recorded_events(db, "logistics.ShipmentDelivered")) == 1
    # A transition the machine forbids is still a conflict.
    assert is_problem(track(client, s, "exception", "d3", reason="丢件"), 409)["errors"] == {"status": ["delivered"]}


def test_carrier_exception_enters_the_queue_until_progress(client, db, clock):
    s = dispatched(client, db)
    assert track(client, s, "exception", "x1", reason="地址不详").status_code == 200
    [event] = recorded_events(db, "logistics.ShipmentException")
    assert event["payload"]["reason"] == "地址不详"
    clock.advance(hours=3)
    queue = client.get("/api/v1/shipments/exceptions", headers=OPS).get_json()["items"]
    assert [q["shipment_id"] for q in queue] == [s["shipment_id"]]
    assert queue[0]["exception_kind"] == "carrier" and queue[0]["time_in_exception_s"] >= 3 * 3600
    assert client.get("/api/v1/shipments/exceptions", headers=auth("ops", shop_id="S2")).get_json()["items"] == []
    assert client.get("/api/v1/shipments/stats", headers=OPS).get_json()["exceptions_by_kind"] == {"carrier": 1}
    track(client, s, "in_transit", "x2")
    assert client.get("/api/v1/shipments/exceptions", headers=OPS).get_json()["items"] == []
    assert only_shipment(client)["exception_open"] is False


# Stalls ----------------------------------------------------------------------------------------
def test_stalled_shipments_are_flagged_once_after_48h_without_progress(client, db, clock):
    s = dispatched(client, db, order_id="O-stuck", tracking_no="SF0001")
    moving = dispatched(client, db, order_id="O-moving", tracking_no="SF0002")
    job = SERVICE.job("flag-stalled-shipments")
    clock.advance(hours=47)
    track(client, moving, "in_transit", "m1")
    assert run_once(db, job) == 0
    clock.advance(hours=1)
    assert run_once(db, job) == 1
    assert run_once(db, job) == 0  # safe to run twice: flagged once
    [event] = recorded_events(db, "logistics.ShipmentStalled")
    assert event["payload"]["shipment_id"] == s["shipment_id"] and event["payload"]["last_progress_at"]
    queue = client.get("/api/v1/shipments/exceptions?kind=stalled", headers=OPS).get_json()["items"]
    assert [q["shipment_id"] for q in queue] == [s["shipment_id"]] and "48 h" in queue[0]["exception_reason"]
    clock.advance(hours=47)
    assert run_once(db, job) == 1  # the other one stalls in its turn
    track(client, s, "in_transit", "s1")  # progress takes it out of the queue
    assert [q["order_id"] for q in client.get("/api/v1/shipments/exceptions", headers=OPS).get_json()["items"]] == [
        "O-moving"
    ]


def test_stall_hours_are_configurable(tmp_path):
    from ecom_common.db import Database
    from ecom_testkit import unit_config

    config = unit_config(
        "logistics",
        tmp_path,
        settings={"LOGISTICS_STALL_HOURS": "6", "LOGISTICS_CARRIER_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    SERVICE.migrate(config)
    db = Database(config)
    client = SERVICE.create_app(config, db).test_client()
    dispatched(client, db)
    config.clock.advance(hours=6)
    assert run_once(db, SERVICE.job("flag-stalled-shipments")) == 1


# Waybill ---------------------------------------------------------------------------------------
def test_waybill_json_and_printable_html(client, db):
    ready(db, address={**ADDRESS, "detail": "<script>alert(1)</script> 1 号"}, priority=True)
    s = only_shipment(client)
    bill = client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill", headers=WH)
    assert bill.status_code == 200 and bill.mimetype == "application/json"
    b = bill.get_json()
    assert b["order_id"] == "O1" and b["carrier"] == {"code": "SF", "name": "顺丰速运"} and b["tracking_no"] is None
    assert b["receiver"]["name"] == "张*" and b["receiver"]["phone"] == "138****5678"
    assert b["sender"]["name"] and b["lines"] == s["pick_list"] and b["total_quantity"] == 3
    page = client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill?format=html", headers=WH)
    text = page.get_data(as_text=True)
    assert page.mimetype == "text/html" and "138****5678" in text and "SKU-A" in text and "O1" in text
    assert "<script>" not in text and "&lt;script&gt;" in text and "加急" in text
    by_accept = client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill", headers={**WH, "Accept": "text/html"})
    assert by_accept.mimetype == "text/html"
    is_problem(client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill?format=pdf", headers=WH), 422)
    is_problem(client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill", headers=auth("cs", shop_id="S1")), 403)


def test_the_printable_waybill_escapes_every_value_a_caller_wrote(client, db):
    """The page is a template with autoescape on (templates/waybill.html): markup typed into a
    receiver, a sender, a carrier, a SKU code or a tracking number prints as text, never runs."""
    script = "<script>alert(1)</script>"
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    carriers = client.get("/api/v1/carriers", headers=WH).get_json()["items"]
    renamed = [{**c, "name": script} if c["code"] == "SF" else c for c in carriers]
    assert client.put("/api/v1/carriers", headers=ADMIN, json={"items": renamed}).status_code == 200
    assert (
        client.put(
            "/api/v1/shipping/sender",
            headers=OPS,
            json={"name": script, "phone": "025-88886666", "province": "江苏", "detail": script},
        ).status_code
        == 200
    )
    ready(db, address={**ADDRESS, "name": script, "detail": script}, lines=[{"sku_code": script, "quantity": 1}])
    s = only_shipment(client)
    assert (
        client.post(
            f"/api/v1/shipments/{s['shipment_id']}/dispatch", headers=WH, json={"tracking_no": script}
        ).status_code
        == 200
    )
    page = client.get(f"/api/v1/shipments/{s['shipment_id']}/waybill?format=html", headers=WH)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "<script" not in text
    # carrier, tracking number, receiver's address, sender's name and address, the SKU code
    assert text.count(escaped) == 6, text
    assert "&lt;" + "*" * (len(script) - 1) in text  # the receiver's name, masked (隐私面单) and escaped


def test_openapi_lists_the_logistics_paths(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/shipping/quote",
        "/api/v1/shipping/templates",
        "/api/v1/carriers",
        "/api/v1/carrier-rules",
        "/api/v1/shipments",
        "/api/v1/shipments/{shipment_id}/waybill",
        "/api/v1/tracking/webhook",
        "/api/v1/promotion-periods",
        "/api/v1/shipments/stats",
        "/api/v1/shipments/exceptions",
    ):
        assert path in paths, path


# A crafted cursor is refused before it reaches SQL (ecom_common.pagination.decode_cursor) -------------------
@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
def test_a_crafted_carriers_cursor_is_a_400(client, cursor):
    r = client.get("/api/v1/carriers", query_string={"cursor": cursor}, headers=ADMIN)
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data(as_text=True)
    assert "cursor" in r.get_json()["errors"]
