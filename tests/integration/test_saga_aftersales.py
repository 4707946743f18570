"""After-sales across the six real services (issue 6 "Must show"): a return from request to refund
with stock restored; an exchange with a replacement shipment; an auto-approved small refund; a
refund-only before shipment that cancels the order and releases stock; a second refund beyond what
was paid refused; SLA breaches escalated with an injectable clock; a serious complaint's solution
refunded through billing and its compensation coupon issued by marketing once; a custom-made
SKU refusing a no_reason return."""

from __future__ import annotations

import uuid

import pytest

from ecom_testkit import eventually

pytestmark = pytest.mark.integration


def open_case(saga, buyer, **body):
    return saga["aftersales"].post(
        "/api/v1/cases", role="buyer", sub=buyer, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def case(saga, case_id):
    return saga.ok(saga["aftersales"].get(f"/api/v1/cases/{case_id}", role="admin", sub="root"))


def wait_case(saga, case_id, status, timeout=30):
    return eventually(
        lambda: (c := case(saga, case_id))["status"] == status and c,
        timeout=timeout,
        message=f"case {case_id} {status}",
    )


def refunds_of(saga, order_id):
    return (
        saga["billing"].get("/api/v1/refunds", role="finance", sub="fin", params={"order_id": order_id}).json()["items"]
    )


def act(saga, case_id, action, role, body=None, sub="cathy"):
    return saga.ok(
        saga["aftersales"].post(
            f"/api/v1/cases/{case_id}/{action}",
            role=role,
            sub=sub,
            shop_id=None if role == "buyer" else "S1",
            json=body or {},
        )
    )


def test_return_from_request_to_refund_with_stock_restored(saga):
    saga.product("PH-RET", price_fen=20000, stock=3)
    oid = saga.delivered("PH-RET", 1, buyer="erin")
    assert saga.stock("PH-RET")["on_hand"] == 2
    c = saga.ok(
        open_case(
            saga, "erin", order_id=oid, type="return", reason="quality", lines=[{"sku_code": "PH-RET", "quantity": 1}]
        ),
        201,
    )
    assert c["status"] == "requested"
    act(saga, c["case_id"], "approve", "cs", {"reason": "质量问题属实"})
    act(saga, c["case_id"], "return-shipment", "buyer", {"carrier": "SF", "tracking_no": "SFRET0001"}, sub="erin")
    act(saga, c["case_id"], "receive", "warehouse", {"resellable": True}, sub="wang")
    closed = wait_case(saga, c["case_id"], "closed")
    assert [t["status"] for t in closed["timeline"]][-5:] == [
        "approved",
        "awaiting_return",
        "received",
        "refunding",
        "closed",
    ]
    eventually(lambda: saga.stock("PH-RET")["on_hand"] == 3, message="resellable return back on hand")
    refunds = [r for r in refunds_of(saga, oid) if r["status"] == "succeeded"]
    assert len(refunds) == 1 and refunds[0]["amount_fen"] == 20000


def test_exchange_ships_a_replacement(saga):
    saga.product("PH-EX-A", stock=2)
    saga.product("PH-EX-B", stock=2)
    oid = saga.delivered("PH-EX-A", 1, buyer="fay")
    c = saga.ok(
        open_case(
            saga,
            "fay",
            order_id=oid,
            type="exchange",
            reason="size",
            lines=[{"sku_code": "PH-EX-A", "quantity": 1, "new_sku_code": "PH-EX-B"}],
        ),
        201,
    )
    act(saga, c["case_id"], "approve", "cs")
    act(saga, c["case_id"], "return-shipment", "buyer", {"carrier": "ZTO", "tracking_no": "ZTRET0001"}, sub="fay")
    act(saga, c["case_id"], "receive", "warehouse", {"resellable": True}, sub="wang")

    def replacement():
        items = (
            saga["logistics"]
            .get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"case_id": c["case_id"]})
            .json()["items"]
        )
        return items and items[0]

    shipment = eventually(replacement, message="replacement shipment")
    assert [(l["sku_code"], l["quantity"]) for l in shipment["pick_list"]] == [("PH-EX-B", 1)]
    saga.dispatch(shipment["shipment_id"], "SFNEW00001")
    wait_case(saga, c["case_id"], "reshipped")
    eventually(lambda: saga.stock("PH-EX-B")["on_hand"] == 1, message="replacement taken from stock")
    carrier = (
        saga["logistics"]
        .get(f"/api/v1/shipments/{shipment['shipment_id']}", role="warehouse", shop_id="S1")
        .json()["carrier"]
    )
    assert saga.carrier_reports(carrier, "SFNEW00001", "delivered").status_code == 200
    wait_case(saga, c["case_id"], "closed")
    assert saga.order(oid)["status"] == "delivered"  # the replacement does not move the order


def special_goods(saga, product_id, sku):
    """Mark the product's one SKU custom-made (no 7-day no-reason return): a content edit, reviewed again."""
    catalog = saga["catalog"]
    skus = [{"sku_code": sku, "spec": {"存储容量": "128GB"}, "list_price_fen": 3000, "no_7day_return": True}]
    edited = saga.ok(catalog.put(f"/api/v1/products/{product_id}", json={"skus": skus}, shop_id=saga.shop))
    assert edited["status"] == "pending_review"
    saga.ok(catalog.post(f"/api/v1/products/{product_id}/approve", role="reviewer", sub="rita"))


def test_small_refund_only_is_approved_automatically(saga):
    pid = saga.product("PH-SMALL", price_fen=3000, stock=2)
    special_goods(saga, pid, "PH-SMALL")  # catalog -> orders' line -> aftersales: no no_reason refund
    oid = saga.delivered("PH-SMALL", 1, buyer="gus")
    order = saga.ok(saga["orders"].get(f"/api/v1/orders/{oid}", role="admin", sub="root"))
    assert [line["no_7day_return"] for line in order["lines"]] == [True]
    refused = open_case(
        saga, "gus", order_id=oid, type="return", reason="no_reason", lines=[{"sku_code": "PH-SMALL", "quantity": 1}]
    )
    assert refused.status_code == 422 and "不支持七天无理由退货" in refused.text, refused.text
    c = saga.ok(
        open_case(
            saga,
            "gus",
            order_id=oid,
            type="refund_only",
            reason="not_as_described",
            lines=[{"sku_code": "PH-SMALL", "quantity": 1}],
            amount_fen=2000,
        ),
        201,
    )
    closed = wait_case(saga, c["case_id"], "closed")
    assert "approved" in [t["status"] for t in closed["timeline"]]
    assert [r["amount_fen"] for r in refunds_of(saga, oid) if r["status"] == "succeeded"] == [2000]
    # a second refund beyond what was paid for the line is refused
    again = open_case(
        saga,
        "gus",
        order_id=oid,
        type="refund_only",
        reason="quality",
        lines=[{"sku_code": "PH-SMALL", "quantity": 1}],
        amount_fen=1500,
    )
    assert again.status_code == 422, again.text


def test_refund_only_before_shipment_cancels_the_order_and_releases_stock(saga):
    saga.product("PH-EARLY", price_fen=8000, stock=2)
    oid = saga.placed_and_paid("PH-EARLY", 1, buyer="hal")
    saga.wait_status(oid, "awaiting_shipment")
    assert saga.stock("PH-EARLY")["reserved"] == 1
    c = saga.ok(open_case(saga, "hal", order_id=oid, type="refund_only", reason="no_reason"), 201)
    if case(saga, c["case_id"])["status"] == "requested":
        act(saga, c["case_id"], "approve", "cs")
    wait_case(saga, c["case_id"], "closed")
    saga.wait_status(oid, "cancelled")
    eventually(lambda: saga.stock("PH-EARLY")["reserved"] == 0, message="reservation released")
    assert (
        sum(r["amount_fen"] for r in refunds_of(saga, oid) if r["status"] == "succeeded")
        == saga.order(oid)["payable_fen"]
    )


def test_complaint_sla_breach_is_escalated(saga):
    saga.product("PH-CMP", stock=1)
    oid = saga.placed_and_paid("PH-CMP", 1, buyer="ivy")
    saga.wait_status(oid, "awaiting_shipment")
    comp = saga.ok(
        saga["aftersales"].post(
            "/api/v1/complaints", role="buyer", sub="ivy", json={"order_id": oid, "tier": "general", "text": "还没发货"}
        ),
        201,
    )
    assert saga.p.run_job("aftersales", "escalate-complaint-breaches") == 0
    saga.p.clock.advance(hours=2, minutes=1)
    assert saga.p.run_job("aftersales", "escalate-complaint-breaches") == 1
    assert saga.p.run_job("aftersales", "escalate-complaint-breaches") == 0  # once per breach
    detail = saga.ok(saga["aftersales"].get(f"/api/v1/complaints/{comp['complaint_id']}", role="admin", sub="root"))
    assert [e["kind"] for e in detail["escalations"]][-1].startswith("breach")
    # cs classifies it serious (质量); its solution refunds part of the order through billing and asks
    # marketing for a compensation coupon
    cs = {"role": "cs", "sub": "cathy", "shop_id": "S1"}
    path = f"/api/v1/complaints/{comp['complaint_id']}"
    saga.ok(saga["aftersales"].post(f"{path}/tier", json={"tier": "serious", "reason": "质量问题"}, **cs))
    solution = {"text": "退款 10 元并补偿 5 元券", "refund_fen": 1000, "coupon_fen": 500}
    resolved = saga.ok(saga["aftersales"].post(f"{path}/resolve", json=solution, **cs))
    assert [t["action"] for t in resolved["timeline"]][-2:] == ["refund", "compensation_coupon"]
    wait_case(saga, resolved["refund_case_id"], "closed")
    assert [r["amount_fen"] for r in refunds_of(saga, oid) if r["status"] == "succeeded"] == [1000]

    # marketing issues the compensation coupon once (the request is keyed by the complaint)
    def coupons():
        r = saga["marketing"].get("/api/v1/coupon-claims", role="buyer", sub="ivy")
        return [c for c in saga.ok(r)["items"] if c["shop_id"] == "S1"]

    [coupon] = eventually(coupons, message="compensation coupon issued")
    assert coupon["status"] == "available" and coupon["funded_by"] == "shop"
    assert saga["aftersales"].post(f"{path}/resolve", json=solution, **cs).status_code == 409
    assert len(coupons()) == 1
