"""Cases over HTTP with a fake orders gateway: the three paths, the rules, errors, tenancy,
idempotency, the SLA lists, and the handlers of billing's and logistics' events."""

import csv
import io

from ecom_common.clock import iso


def actions(case):
    return [(t["action"], t["status"], t["by"]) for t in case["timeline"]]


# Opening a case ---------------------------------------------------------------------------------
def test_buyer_opens_a_return_with_evidence(api):
    case = api.open_case(
        lines=[{"sku_code": "RED-M", "quantity": 2}],
        amount_fen=5000,
        evidence={"images": ["https://img.example/1.jpg"], "text": "线头开了"},
    )
    assert case["case_id"].startswith("C") and case["status"] == "requested"
    assert case["shop_id"] == "S1" and case["amount_fen"] == 5000
    assert case["lines"] == [
        {"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000, "amount_fen": 5000, "new_sku_code": None}
    ]
    assert case["evidence"]["images"] == ["https://img.example/1.jpg"]
    assert case["sla"]["kind"] == "response" and case["sla"]["seconds_left"] > 24 * 3600 - 60
    assert case["allowed_actions"] == ["approve", "reject"]
    assert actions(case) == [("request", "requested", "bob")]
    [ev] = api.events("aftersales.CaseRequested")
    assert ev["payload"] == {"case_id": case["case_id"], "order_id": "O1", "shop_id": "S1", "case_type": "return"}


def test_errors_change_nothing(api):
    r = api.post("/api/v1/cases", json={"order_id": "O1", "type": "return", "reason": "quality"}, role=None)
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    r = api.post(
        "/api/v1/cases", json={"order_id": "O1", "type": "return", "reason": "quality"}, role="cs", shop_id="S1"
    )
    assert r.status_code == 403
    r = api.client.post(
        "/api/v1/cases", data="{not json", content_type="application/json", headers=api._h("buyer", "bob", None, None)
    )
    assert r.status_code == 400
    r = api.post(
        "/api/v1/cases",
        json={"order_id": "O1", "type": "swap", "reason": "meh", "lines": [{"sku_code": "RED-M", "quantity": 0}]},
    )
    assert r.status_code == 422
    assert {"type", "reason", "lines"} <= set(r.get_json()["errors"])
    r = api.post(
        "/api/v1/cases",
        json={"order_id": "O1", "type": "return", "reason": "quality", "lines": [{"sku_code": "RED-M", "quantity": 3}]},
    )
    assert r.status_code == 422 and "lines.0.quantity" in r.get_json()["errors"]
    r = api.post(
        "/api/v1/cases",
        json={
            "order_id": "O1",
            "type": "return",
            "reason": "quality",
            "evidence": {"images": ["not a url"]},
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
        },
    )
    assert r.status_code == 422
    assert api.count("cases") == 0 and api.events() == []


def test_someone_elses_or_unknown_order_is_404(api):
    api.orders.add(order_id="O2", buyer_id="eve")
    for order_id in ("O2", "O404"):
        r = api.post(
            "/api/v1/cases",
            json={
                "order_id": order_id,
                "type": "return",
                "reason": "quality",
                "lines": [{"sku_code": "RED-M", "quantity": 1}],
            },
        )
        assert r.status_code == 404, r.get_json()
    assert api.count("cases") == 0


def test_orders_down_is_503_and_nothing_is_written(api):
    api.orders.down = True
    r = api.post(
        "/api/v1/cases",
        json={"order_id": "O1", "type": "return", "reason": "quality", "lines": [{"sku_code": "RED-M", "quantity": 1}]},
        headers={"Idempotency-Key": "k-down"},
    )
    assert r.status_code == 503 and r.mimetype == "application/problem+json"
    assert api.count("cases") == 0 and api.count("claims") == 0 and api.events() == []
    # The key was released: the same request succeeds once orders is back.
    api.orders.down = False
    r = api.post(
        "/api/v1/cases",
        json={"order_id": "O1", "type": "return", "reason": "quality", "lines": [{"sku_code": "RED-M", "quantity": 1}]},
        headers={"Idempotency-Key": "k-down"},
    )
    assert r.status_code == 201


def test_order_not_yet_delivered_and_no_reason_window(api):
    api.orders.add(order_id="O3", status="shipped")
    r = api.post(
        "/api/v1/cases",
        json={"order_id": "O3", "type": "return", "reason": "quality", "lines": [{"sku_code": "RED-M", "quantity": 1}]},
    )
    assert r.status_code == 422 and "order_id" in r.get_json()["errors"]
    api.orders.add(order_id="O4", delivered_at=api.now_iso(days=-6))
    api.open_case(order_id="O4", reason="no_reason")
    api.clock.advance(days=1, minutes=1)  # now 7 days and a minute after delivery
    r = api.post(
        "/api/v1/cases",
        json={
            "order_id": "O4",
            "type": "return",
            "reason": "no_reason",
            "lines": [{"sku_code": "BLUE-L", "quantity": 1}],
        },
    )
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]


def test_no_reason_is_refused_for_custom_made_or_fresh_lines_other_reasons_are_not(api):
    lines = [
        {"sku_code": "CAKE", "quantity": 1, "unit_price_fen": 6000, "no_7day_return": True},
        {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 8000, "no_7day_return": False},
    ]
    api.orders.add(order_id="O5", delivered_at=api.now_iso(days=-1), lines=lines)
    for case_type in ("return", "refund_only"):
        r = api.post(
            "/api/v1/cases",
            json={
                "order_id": "O5",
                "type": case_type,
                "reason": "no_reason",
                "lines": [{"sku_code": "CAKE", "quantity": 1}],
            },
        )
        assert r.status_code == 422 and r.mimetype == "application/problem+json"
        body = r.get_json()
        assert "custom-made or fresh" in body["detail"] and body["errors"] == {
            "lines.0.sku_code": ["不支持七天无理由退货"]
        }
    assert api.count("cases") == 0
    api.open_case(order_id="O5", reason="no_reason", lines=[{"sku_code": "BLUE-L", "quantity": 1}])  # ordinary goods
    api.open_case(order_id="O5", reason="quality", lines=[{"sku_code": "CAKE", "quantity": 1}])  # a problem: allowed


def test_idempotency_key_replays_and_refuses_another_body(api):
    body = {"order_id": "O1", "type": "return", "reason": "quality", "lines": [{"sku_code": "RED-M", "quantity": 1}]}
    first = api.post("/api/v1/cases", json=body, headers={"Idempotency-Key": "abc"})
    again = api.post("/api/v1/cases", json=body, headers={"Idempotency-Key": "abc"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["case_id"] == first.get_json()["case_id"]
    other = api.post("/api/v1/cases", json={**body, "reason": "size"}, headers={"Idempotency-Key": "abc"})
    assert other.status_code == 409
    assert api.count("cases") == 1


def test_units_and_money_cannot_be_claimed_twice(api):
    first = api.open_case(lines=[{"sku_code": "RED-M", "quantity": 2}])
    r = api.post(
        "/api/v1/cases",
        json={
            "order_id": "O1",
            "type": "refund_only",
            "reason": "quality",
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
            "amount_fen": 100,
        },
    )
    assert r.status_code == 422 and "already claimed" in r.get_json()["detail"]
    api.open_case(lines=[{"sku_code": "BLUE-L", "quantity": 1}])  # another line is still free
    api.act(first["case_id"], "reject", {"reason": "photos show wear"})
    api.open_case(type="refund_only", lines=[{"sku_code": "RED-M", "quantity": 1}], amount_fen=100)  # freed


def test_a_second_refund_beyond_what_was_paid_is_refused(api):
    # A discounted order: 14000 worth of lines, 9000 paid.
    api.orders.add(order_id="O5", payable_fen=9000, delivered_at=api.now_iso(days=-1))
    api.open_case(
        order_id="O5",
        type="refund_only",
        reason="not_as_described",
        lines=[{"sku_code": "BLUE-L", "quantity": 1}],
        amount_fen=8000,
    )
    r = api.post(
        "/api/v1/cases",
        json={
            "order_id": "O5",
            "type": "return",
            "reason": "quality",
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
            "amount_fen": 3000,
        },
    )
    assert r.status_code == 422 and "amount_fen" in r.get_json()["errors"]


# Refund-only ------------------------------------------------------------------------------------
def test_small_refund_only_is_approved_automatically(api):
    case = api.open_case(
        type="refund_only", reason="not_as_described", amount_fen=4999, lines=[{"sku_code": "RED-M", "quantity": 2}]
    )
    assert case["status"] == "refunding"
    assert actions(case) == [
        ("request", "requested", "bob"),
        ("approve", "approved", "system"),
        ("start_refund", "refunding", "system"),
    ]
    assert case["sla"]["kind"] == "refund"
    [ev] = api.events("aftersales.RefundApproved")
    assert ev["payload"]["amount_fen"] == 4999 and ev["payload"]["lines"] == [{"sku_code": "RED-M", "quantity": 2}]
    outcome, _ = api.deliver(
        "billing.RefundSucceeded",
        {"order_id": "O1", "shop_id": "S1", "refund_id": "R1", "amount_fen": 4999, "case_id": case["case_id"]},
    )
    assert outcome == "handled"
    closed = api.case(case["case_id"])
    assert closed["status"] == "closed" and closed["refund"]["refund_id"] == "R1" and closed["sla"]["kind"] is None
    assert [e["payload"]["outcome"] for e in api.events("aftersales.CaseClosed")] == ["refunded"]


def test_refund_only_at_threshold_waits_for_cs(api):
    case = api.open_case(
        type="refund_only", reason="quality", amount_fen=5000, lines=[{"sku_code": "RED-M", "quantity": 2}]
    )
    assert case["status"] == "requested" and api.events("aftersales.RefundApproved") == []
    r = api.post(f"/api/v1/cases/{case['case_id']}/approve", json={}, role="buyer")
    assert r.status_code == 403
    done = api.act(case["case_id"], "approve", {"reason": "photos confirm the defect"})
    assert done["status"] == "refunding"
    assert len(api.events("aftersales.RefundApproved")) == 1


def test_refund_only_before_shipment_asks_orders_to_cancel(api):
    api.orders.add(order_id="O6", status="awaiting_shipment")
    case = api.open_case(order_id="O6", type="refund_only", reason="other", lines=[])
    assert case["before_shipment"] and case["amount_fen"] == 14000 and case["status"] == "requested"
    api.act(case["case_id"], "approve")
    [ev] = api.events("aftersales.OrderCancelRequested")
    assert ev["payload"]["case_id"] == case["case_id"] and ev["payload"]["order_id"] == "O6"
    assert api.events("aftersales.RefundApproved") == []
    api.deliver(
        "orders.OrderCancelled", {"order_id": "O6", "shop_id": "S1", "was_paid": True, "case_id": case["case_id"]}
    )
    api.deliver(
        "billing.RefundSucceeded",
        {"order_id": "O6", "shop_id": "S1", "refund_id": "R6", "amount_fen": 14000, "case_id": case["case_id"]},
    )
    closed = api.case(case["case_id"])
    assert closed["status"] == "closed"
    assert [t["action"] for t in closed["timeline"]][-2:] == ["order_cancelled", "close"]


def test_order_cancelled_elsewhere_rejects_cases_waiting_for_cs(api):
    api.orders.add(order_id="O7", status="paid")
    case = api.open_case(order_id="O7", type="refund_only", reason="other", lines=[])
    api.deliver("orders.OrderCancelled", {"order_id": "O7", "shop_id": "S1", "was_paid": True, "reason": "timeout"})
    assert api.case(case["case_id"])["status"] == "rejected"


def test_refund_failure_stays_refunding_and_cs_retries(api):
    case = api.open_case(type="refund_only", reason="quality", amount_fen=1000)
    cid = case["case_id"]
    api.act(cid, "retry-refund", expect=409)  # nothing failed yet
    api.deliver(
        "billing.RefundFailed",
        {"order_id": "O1", "shop_id": "S1", "refund_id": "R9", "reason": "provider timeout", "case_id": cid},
    )
    failed = api.case(cid)
    assert failed["status"] == "refunding" and failed["refund"]["failed"]
    assert (
        failed["timeline"][-1]["action"] == "refund_failed" and "provider timeout" in failed["timeline"][-1]["reason"]
    )
    retried = api.act(cid, "retry-refund", {"reason": "provider back"})
    assert retried["refund"] == {"attempts": 2, "failed": False, "last_error": "provider timeout", "refund_id": "R9"}
    assert [e["payload"]["attempt"] for e in api.events("aftersales.RefundApproved")] == [1, 2]


def test_duplicate_event_is_handled_once(api):
    case = api.open_case(type="refund_only", reason="quality", amount_fen=1000)
    payload = {"order_id": "O1", "shop_id": "S1", "refund_id": "R1", "amount_fen": 1000, "case_id": case["case_id"]}
    from ecom_common.events import make_event

    event = make_event("billing.RefundSucceeded", payload)
    assert api.consumer.handle(event) == "handled"
    assert api.consumer.handle(event) == "duplicate"
    assert len(api.events("aftersales.CaseClosed")) == 1


# Return -----------------------------------------------------------------------------------------
def test_return_walks_to_closed(api):
    cid = api.open_case(reason="quality", lines=[{"sku_code": "RED-M", "quantity": 2}])["case_id"]
    api.act(cid, "receive", {"resellable": True}, role="warehouse", sub="wally", expect=409)
    approved = api.act(cid, "approve")
    assert approved["status"] == "approved" and "S1 退货仓" in approved["return_address"]
    r = api.post(f"/api/v1/cases/{cid}/return-shipment", json={"carrier": "SF"})
    assert r.status_code == 422 and "tracking_no" in r.get_json()["errors"]
    shipped = api.act(
        cid, "return-shipment", {"carrier": "SF", "tracking_no": "SF123456"}, role="buyer", sub="bob", shop_id=None
    )
    assert shipped["status"] == "awaiting_return" and shipped["return_shipment"]["tracking_no"] == "SF123456"
    received = api.act(cid, "receive", {"resellable": False, "note": "stained"}, role="warehouse", sub="wally")
    assert received["status"] == "refunding" and received["inspection"]["resellable"] is False
    assert received["sla"]["kind"] == "refund"
    [rr] = api.events("aftersales.ReturnReceived")
    assert rr["payload"]["resellable"] is False and rr["payload"]["lines"] == [{"sku_code": "RED-M", "quantity": 2}]
    [ra] = api.events("aftersales.RefundApproved")
    assert ra["payload"]["amount_fen"] == 6000
    api.deliver(
        "billing.RefundSucceeded",
        {"order_id": "O1", "shop_id": "S1", "refund_id": "R2", "amount_fen": 6000, "case_id": cid},
    )
    closed = api.case(cid, role="cs", sub="carol", shop_id="S1")
    assert [t["status"] for t in closed["timeline"]] == [
        "requested",
        "approved",
        "awaiting_return",
        "received",
        "refunding",
        "closed",
    ]
    assert [t["from_status"] for t in closed["timeline"]] == [
        None,
        "requested",
        "approved",
        "awaiting_return",
        "received",
        "refunding",
    ]
    assert set(closed["timeline"][0]) == {"at", "by", "action", "from_status", "status", "reason"}
    api.act(cid, "approve", expect=409)


def test_refund_overdue_after_receipt(api):
    cid = api.open_case()["case_id"]
    api.act(cid, "approve")
    api.act(cid, "return-shipment", {"carrier": "YTO", "tracking_no": "YT0001"}, role="buyer", sub="bob", shop_id=None)
    api.act(cid, "receive", {"resellable": True}, role="warehouse", sub="wally")
    api.clock.advance(hours=23)
    assert api.get("/api/v1/cases?overdue=true", role="cs", sub="carol", shop_id="S1").get_json()["items"] == []
    api.clock.advance(hours=2)
    [item] = api.get("/api/v1/cases?overdue=true", role="cs", sub="carol", shop_id="S1").get_json()["items"]
    assert item["case_id"] == cid and item["sla"]["kind"] == "refund" and item["sla"]["overdue"]


def test_response_overdue_is_listed(api):
    cid = api.open_case()["case_id"]
    api.open_case(lines=[{"sku_code": "BLUE-L", "quantity": 1}])
    done = api.open_case(type="refund_only", amount_fen=100, lines=[{"sku_code": "RED-M", "quantity": 1}])
    assert done["status"] == "refunding"
    api.clock.advance(hours=24, minutes=1)
    api.act(cid, "approve")  # answered late, but answered: waiting on the buyer now
    overdue = api.get("/api/v1/cases?overdue=true", role="admin", sub="root").get_json()["items"]
    assert [c["sla"]["kind"] for c in overdue] == ["response"]
    api.clock.advance(hours=24)
    overdue = api.get("/api/v1/cases?overdue=true", role="admin", sub="root").get_json()["items"]
    assert sorted(c["sla"]["kind"] for c in overdue) == ["refund", "response"]


# Exchange ---------------------------------------------------------------------------------------
def test_exchange_reships_the_new_spec_and_closes_on_delivery(api):
    cid = api.open_case(
        type="exchange", reason="size", lines=[{"sku_code": "RED-M", "quantity": 1, "new_sku_code": "RED-L"}]
    )["case_id"]
    api.act(cid, "approve")
    api.act(cid, "return-shipment", {"carrier": "ZTO", "tracking_no": "ZT7788"}, role="buyer", sub="bob", shop_id=None)
    received = api.act(cid, "receive", {"resellable": True}, role="warehouse", sub="wally")
    assert received["status"] == "received" and received["sla"]["kind"] == "reship"
    [rs] = api.events("aftersales.ReshipRequested")
    assert rs["payload"]["lines"] == [{"sku_code": "RED-L", "quantity": 1}]
    assert rs["payload"]["shipping_paid_by"] == "buyer"
    assert api.events("aftersales.RefundApproved") == []
    delivered = {"order_id": "O1", "shop_id": "S1", "shipment_id": "S9", "case_id": cid}
    # Delivered overtaking Dispatched is retried, not lost.
    import pytest

    from ecom_common.errors import RetryLater

    with pytest.raises(RetryLater):
        api.deliver("logistics.ShipmentDelivered", delivered)
    api.deliver(
        "logistics.ShipmentDispatched",
        {
            "order_id": "O1",
            "shop_id": "S1",
            "shipment_id": "S9",
            "carrier": "SF",
            "tracking_no": "SF999",
            "lines": [{"sku_code": "RED-L", "quantity": 1}],
            "case_id": cid,
        },
    )
    assert api.case(cid)["status"] == "reshipped"
    api.deliver("logistics.ShipmentDelivered", delivered)
    closed = api.case(cid)
    assert closed["status"] == "closed" and closed["replacement"] == {"shipment_id": "S9", "tracking_no": "SF999"}


def test_shipments_without_case_are_ignored(api):
    cid = api.open_case(
        type="exchange", reason="quality", lines=[{"sku_code": "RED-M", "quantity": 1, "new_sku_code": "RED-M"}]
    )["case_id"]
    outcome, _ = api.deliver(
        "logistics.ShipmentDispatched",
        {
            "order_id": "O1",
            "shop_id": "S1",
            "shipment_id": "S1",
            "carrier": "SF",
            "tracking_no": "SF1",
            "lines": [{"sku_code": "RED-M", "quantity": 1}],
        },
    )
    assert outcome == "handled" and api.case(cid)["status"] == "requested"


# Tenancy and lists ------------------------------------------------------------------------------
def test_other_tenants_get_404(api):
    cid = api.open_case()["case_id"]
    assert api.get(f"/api/v1/cases/{cid}", sub="eve").status_code == 404
    assert api.get(f"/api/v1/cases/{cid}", role="cs", sub="x", shop_id="S2").status_code == 404
    r = api.post(f"/api/v1/cases/{cid}/approve", json={}, role="cs", sub="x", shop_id="S2")
    assert r.status_code == 404
    r = api.post(f"/api/v1/cases/{cid}/return-shipment", json={"carrier": "SF", "tracking_no": "SF0001"}, sub="eve")
    assert r.status_code == 404
    assert api.case(cid)["status"] == "requested"
    assert api.get(f"/api/v1/cases/{cid}", role="cs", sub="carol", shop_id="S1").status_code == 200
    assert api.get("/api/v1/cases/C-nope", role="admin", sub="root").status_code == 404


def test_lists_filter_scope_and_paginate(api):
    api.orders.add(order_id="O8", buyer_id="eve", shop_id="S2", delivered_at=api.now_iso(days=-1))
    ids = [
        api.open_case(lines=[{"sku_code": "RED-M", "quantity": 1}])["case_id"],
        api.open_case(lines=[{"sku_code": "RED-M", "quantity": 1}])["case_id"],
        api.open_case(type="refund_only", amount_fen=100, lines=[{"sku_code": "BLUE-L", "quantity": 1}])["case_id"],
    ]
    r = api.post(
        "/api/v1/cases",
        json={"order_id": "O8", "type": "return", "reason": "size", "lines": [{"sku_code": "RED-M", "quantity": 1}]},
        sub="eve",
    )
    assert r.status_code == 201
    mine = api.get("/api/v1/cases").get_json()["items"]
    assert sorted(c["case_id"] for c in mine) == sorted(ids) and "timeline" not in mine[0]
    assert [c["case_id"] for c in api.get("/api/v1/cases", role="cs", sub="c", shop_id="S2").get_json()["items"]] == [
        r.get_json()["case_id"]
    ]
    assert len(api.get("/api/v1/cases", role="admin", sub="root").get_json()["items"]) == 4
    assert len(api.get("/api/v1/cases?shop_id=S1", role="admin", sub="root").get_json()["items"]) == 3
    refunding = api.get("/api/v1/cases?status=refunding", role="cs", sub="c", shop_id="S1").get_json()["items"]
    assert [c["case_id"] for c in refunding] == [ids[2]]
    assert len(api.get("/api/v1/cases?type=return", role="cs", sub="c", shop_id="S1").get_json()["items"]) == 2
    page1 = api.get("/api/v1/cases?limit=2").get_json()
    page2 = api.get(f"/api/v1/cases?limit=2&cursor={page1['next_cursor']}").get_json()
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1 and page2["next_cursor"] is None
    assert {c["case_id"] for c in page1["items"] + page2["items"]} == set(ids)
    assert api.get("/api/v1/cases?status=lost").status_code == 422
    assert api.get("/api/v1/cases?cursor=garbage").status_code == 400


def test_the_case_list_exports_as_csv_with_its_filters_and_scope(api):
    api.orders.add(order_id="O8", buyer_id="eve", shop_id="S2", delivered_at=api.now_iso(days=-1))
    ret = api.open_case(lines=[{"sku_code": "RED-M", "quantity": 2}])["case_id"]
    refund = api.open_case(type="refund_only", amount_fen=100, lines=[{"sku_code": "BLUE-L", "quantity": 1}])
    other = api.post(
        "/api/v1/cases",
        json={"order_id": "O8", "type": "return", "reason": "size", "lines": [{"sku_code": "RED-M", "quantity": 1}]},
        sub="eve",
    )
    assert other.status_code == 201

    def rows(url, **who):
        resp = api.get(url, **who)
        assert resp.status_code == 200 and resp.mimetype == "text/csv", resp.get_data(as_text=True)[:200]
        assert "attachment" in resp.headers["Content-Disposition"]
        body = resp.get_data().decode("utf-8")
        assert body.startswith("\ufeff")
        return list(csv.reader(io.StringIO(body[1:])))

    shop = rows("/api/v1/cases?format=csv&limit=1", role="cs", sub="c", shop_id="S1")
    assert shop[0][:3] == ["case_id", "order_id", "shop_id"] and "lines" in shop[0]
    assert [r[0] for r in shop[1:]] == [refund["case_id"], ret]  # every row (limit ignored), newest first
    assert shop[2][shop[0].index("lines")] == "RED-M x2" and {r[2] for r in shop[1:]} == {"S1"}
    returns = rows("/api/v1/cases?format=csv&type=return", role="admin", sub="root")
    assert sorted(r[0] for r in returns[1:]) == sorted([ret, other.get_json()["case_id"]])
    assert api.get("/api/v1/cases?format=xls", role="admin", sub="root").status_code == 422


# Feedback ---------------------------------------------------------------------------------------
def test_feedback_after_closing_and_report(api):
    cid = api.open_case(type="refund_only", amount_fen=1000)["case_id"]
    r = api.post(f"/api/v1/cases/{cid}/feedback", json={"score": 5})
    assert r.status_code == 409  # not over yet
    api.deliver(
        "billing.RefundSucceeded",
        {"order_id": "O1", "shop_id": "S1", "refund_id": "R1", "amount_fen": 1000, "case_id": cid},
    )
    assert api.post(f"/api/v1/cases/{cid}/feedback", json={"score": 6}).status_code == 422
    assert api.post(f"/api/v1/cases/{cid}/feedback", json={"score": 4}, sub="eve").status_code == 404
    r = api.post(f"/api/v1/cases/{cid}/feedback", json={"score": 4, "comment": "快"}, headers={"Idempotency-Key": "f1"})
    assert r.status_code == 201 and r.get_json()["score"] == 4
    again = api.post(
        f"/api/v1/cases/{cid}/feedback", json={"score": 4, "comment": "快"}, headers={"Idempotency-Key": "f1"}
    )
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert api.post(f"/api/v1/cases/{cid}/feedback", json={"score": 1}).status_code == 409
    rejected = api.open_case(lines=[{"sku_code": "BLUE-L", "quantity": 1}])["case_id"]
    api.act(rejected, "reject", {"reason": "outside policy"})
    api.post(f"/api/v1/cases/{rejected}/feedback", json={"score": 1, "comment": "不满意"})
    report = api.get("/api/v1/feedback/report", role="cs", sub="carol", shop_id="S1").get_json()
    assert report["count"] == 2 and report["average_score"] == 2.5 and report["satisfied_share"] == 0.5
    assert report["distribution"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 0}
    assert api.get("/api/v1/feedback/report?shop_id=S2", role="cs", sub="carol", shop_id="S1").status_code == 404
    assert api.get("/api/v1/feedback/report", role="admin", sub="root").status_code == 422
    assert api.get("/api/v1/feedback/report?shop_id=S1", role="admin", sub="root").get_json()["count"] == 2
    assert api.get("/api/v1/feedback/report?shop_id=S1", role="buyer").status_code == 403


def test_openapi_lists_the_endpoints(api):
    spec = api.client.get("/openapi.json").get_json()
    for path in (
        "/api/v1/cases",
        "/api/v1/cases/{case_id}/receive",
        "/api/v1/complaints/dashboard",
        "/api/v1/feedback/report",
    ):
        assert path in spec["paths"]
    assert iso(api.clock.now())  # the clock is the injectable one
