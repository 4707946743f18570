"""A serious or crisis complaint's solution: a refund through the refund path (a refund-only case,
capped by what the order paid less its claims) and a compensation coupon asked of marketing, once,
on the complaint's timeline; all or nothing."""

from __future__ import annotations


def complain(api, tier="serious", order_id="O1"):
    r = api.post("/api/v1/complaints", json={"order_id": order_id, "tier": tier, "text": "面料起球，质量太差"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def resolve(api, cid, expect=200, **solution):
    body = {"text": "退款 50 元并补偿 10 元券", **solution}
    r = api.post(f"/api/v1/complaints/{cid}/resolve", json=body, role="cs", sub="carol", shop_id="S1")
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def test_serious_solution_refunds_through_a_case_and_asks_for_a_coupon_once(api):
    c = complain(api)  # order O1: 2 x 30 yuan + 1 x 80 yuan, 140 yuan paid
    done = resolve(api, c["complaint_id"], refund_fen=5000, coupon_fen=1000)
    assert (done["status"], done["refund_fen"], done["coupon_fen"]) == ("resolved", 5000, 1000)
    assert [t["action"] for t in done["timeline"]] == ["open", "resolve", "refund", "compensation_coupon"]
    assert done["refund_case_id"] in done["timeline"][2]["reason"]
    case = api.case(done["refund_case_id"])  # the buyer's own case
    assert (case["type"], case["status"], case["amount_fen"]) == ("refund_only", "refunding", 5000)
    [approved] = api.events("aftersales.RefundApproved")
    assert approved["payload"]["case_id"] == case["case_id"] and approved["payload"]["amount_fen"] == 5000
    assert approved["payload"]["lines"] == []  # money only: billing spreads it over the order's lines
    [coupon] = api.events("aftersales.CompensationCouponRequested")
    assert {k: coupon["payload"][k] for k in ("complaint_id", "buyer_id", "shop_id", "amount_fen", "funded_by")} == {
        "complaint_id": c["complaint_id"],
        "buyer_id": "bob",
        "shop_id": "S1",
        "amount_fen": 1000,
        "funded_by": "shop",
    }
    resolve(api, c["complaint_id"], refund_fen=5000, coupon_fen=1000, expect=409)  # once per complaint
    assert len(api.events("aftersales.CompensationCouponRequested")) == 1 and api.count("cases") == 1


def test_the_refund_is_capped_by_what_the_order_paid_less_its_claims(api):
    api.open_case(lines=[{"sku_code": "RED-M", "quantity": 1}])  # claims 30 yuan of the 140
    c = complain(api, tier="crisis")
    r = resolve(api, c["complaint_id"], refund_fen=11001, expect=422)
    assert r["errors"] == {"refund_fen": ["At most 11000."]}
    # all or nothing: the complaint is still open, no case, no coupon, no refund
    assert api.get(f"/api/v1/complaints/{c['complaint_id']}").get_json()["status"] == "open"
    assert api.count("cases") == 1 and api.events("aftersales.RefundApproved") == []
    done = resolve(api, c["complaint_id"], refund_fen=11000)
    assert api.case(done["refund_case_id"])["amount_fen"] == 11000
    # the order's money is all claimed now: a new case for it is refused
    r = api.post(
        "/api/v1/cases",
        json={
            "order_id": "O1",
            "type": "return",
            "reason": "quality",
            "lines": [{"sku_code": "BLUE-L", "quantity": 1}],
        },
    )
    assert r.status_code == 422


def test_a_general_complaint_carries_no_refund_or_coupon(api):
    c = complain(api, tier="general")
    r = resolve(api, c["complaint_id"], coupon_fen=1000, expect=422)
    assert "coupon_fen" in r["errors"]
    assert resolve(api, c["complaint_id"])["status"] == "resolved"  # a plain solution
    assert api.events("aftersales.CompensationCouponRequested") == []


def test_orders_unreachable_changes_nothing(api):
    c = complain(api)
    api.orders.down = True
    resolve(api, c["complaint_id"], refund_fen=1000, expect=503)
    api.orders.down = False
    assert api.get(f"/api/v1/complaints/{c['complaint_id']}").get_json()["status"] == "open"
    assert api.count("cases") == 0
    # a coupon alone needs no order
    assert resolve(api, c["complaint_id"], coupon_fen=500)["coupon_fen"] == 500


def test_an_unpaid_order_has_nothing_to_refund(api):
    api.orders.add(order_id="O9", status="pending_payment")
    c = complain(api, order_id="O9")
    r = resolve(api, c["complaint_id"], refund_fen=100, expect=422)
    assert "refund_fen" in r["errors"]
