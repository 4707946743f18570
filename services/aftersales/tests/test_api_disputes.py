"""Disputes over HTTP: one appeal of a rejected case, the platform reviewer's arbitration, the
record read by the buyer, the shop, finance and admin (and nobody else)."""

from __future__ import annotations


def rejected_case(api):
    case = api.open_case()
    api.act(case["case_id"], "reject", {"reason": "商品已使用，不符合退货条件"})
    return case["case_id"]


def test_one_appeal_of_a_rejected_case_and_the_platform_decides(api):
    open_case = api.open_case(lines=[{"sku_code": "BLUE-L", "quantity": 1}])
    body = {"reason": "商品未使用，吊牌完好", "evidence": {"images": ["https://img.example/tag.jpg"], "text": "见图"}}
    assert api.post(f"/api/v1/cases/{open_case['case_id']}/appeal", json=body).status_code == 409  # not rejected
    cid = rejected_case(api)
    assert api.post(f"/api/v1/cases/{cid}/appeal", json=body, sub="eve").status_code == 404
    r = api.post(f"/api/v1/cases/{cid}/appeal", json=body)
    assert r.status_code == 201, r.get_json()
    d = r.get_json()
    assert d["status"] == "open" and d["case_id"] == cid and d["evidence"]["images"] == ["https://img.example/tag.jpg"]
    assert api.post(f"/api/v1/cases/{cid}/appeal", json=body).status_code == 409  # once
    [opened] = api.events("aftersales.DisputeOpened")
    assert opened["payload"]["dispute_id"] == d["dispute_id"]
    decision = {"outcome": "overturn", "reason": "证据显示吊牌完好，商家驳回不当"}
    path = f"/api/v1/disputes/{d['dispute_id']}/decide"
    assert api.post(path, json=decision, role="cs", shop_id="S1").status_code == 403  # not the shop's call
    r = api.post(path, json=decision, role="reviewer", sub="rita")
    assert r.status_code == 200, r.get_json()
    d = r.get_json()
    assert (d["status"], d["decided_by"]) == ("overturned", "rita")
    assert [e["action"] for e in d["record"]] == ["appeal", "overturn"]
    assert api.post(path, json={"outcome": "uphold", "reason": "x"}, role="admin").status_code == 409
    [decided] = api.events("aftersales.DisputeDecided")
    assert decided["payload"]["outcome"] == "overturned" and decided["payload"]["case_id"] == cid
    case = api.case(cid)
    assert [t["action"] for t in case["timeline"][-2:]] == ["dispute_overturned", "reopen"]


def test_the_record_is_read_by_buyer_shop_finance_and_admin_only(api):
    cid = rejected_case(api)
    api.post(f"/api/v1/cases/{cid}/appeal", json={"reason": "不服"})

    def seen(role, sub="x", shop_id=None):
        r = api.get("/api/v1/disputes", role=role, sub=sub, shop_id=shop_id)
        return r.status_code if r.status_code != 200 else [x["case_id"] for x in r.get_json()["items"]]

    assert seen("buyer", "bob") == [cid] and seen("buyer", "eve") == []
    assert seen("finance") == [cid] and seen("admin") == [cid] and seen("reviewer") == [cid]
    assert seen("finance", shop_id="S1") == [cid] and seen("cs", shop_id="S1") == [cid]
    assert seen("cs", shop_id="S2") == [] and seen("cs") == 403 and seen("warehouse", shop_id="S1") == 403


def test_an_overturned_dispute_reopens_the_case_for_cs_to_approve_and_refund(api):
    cid = rejected_case(api)  # a return of one RED-M
    d = api.post(f"/api/v1/cases/{cid}/appeal", json={"reason": "商品未使用"}).get_json()
    path = f"/api/v1/disputes/{d['dispute_id']}/decide"
    r = api.post(path, json={"outcome": "overturn", "reason": "商家驳回不当"}, role="reviewer", sub="rita")
    assert r.status_code == 200, r.get_json()
    case = api.case(cid)
    assert case["status"] == "requested" and case["sla"]["kind"] == "response" and not case["sla"]["overdue"]
    last = case["timeline"][-1]
    assert (last["action"], last["from_status"], last["status"], last["by"]) == (
        "reopen",
        "rejected",
        "requested",
        "rita",
    )
    assert d["dispute_id"] in last["reason"]
    # its units are claimed again: the same unit cannot be asked for twice (the order bought 2 RED-M)
    api.open_case(lines=[{"sku_code": "RED-M", "quantity": 1}])
    api.open_case(lines=[{"sku_code": "RED-M", "quantity": 1}], expect=422)
    # cs acts on it like any case
    approved = api.act(cid, "approve")
    assert approved["status"] == "approved" and approved["return_address"]


def test_an_overturn_whose_units_were_claimed_meanwhile_is_409_and_changes_nothing(api):
    cid = rejected_case(api)
    d = api.post(f"/api/v1/cases/{cid}/appeal", json={"reason": "不服"}).get_json()
    api.open_case(lines=[{"sku_code": "RED-M", "quantity": 2}])  # the buyer's new case takes both units
    path = f"/api/v1/disputes/{d['dispute_id']}/decide"
    r = api.post(path, json={"outcome": "overturn", "reason": "驳回不当"}, role="admin", sub="root")
    assert r.status_code == 409 and "claimed by another case" in r.get_json()["detail"]
    assert api.case(cid)["status"] == "rejected"
    assert api.get("/api/v1/disputes", role="admin", sub="root").get_json()["items"][0]["status"] == "open"
    assert api.events("aftersales.DisputeDecided") == []


def test_an_upheld_dispute_leaves_the_case_rejected(api):
    cid = rejected_case(api)
    d = api.post(f"/api/v1/cases/{cid}/appeal", json={"reason": "不服"}).get_json()
    r = api.post(
        f"/api/v1/disputes/{d['dispute_id']}/decide", json={"outcome": "uphold", "reason": "驳回合理"}, role="reviewer"
    )
    assert r.status_code == 200
    case = api.case(cid)
    assert case["status"] == "rejected" and case["timeline"][-1]["action"] == "dispute_upheld"
