"""Multi-level review: a refund above AFTERSALES_SECOND_APPROVAL_FEN (3000 here) is approved twice, the
second time by another person with ops or admin of the shop; only then is the refund asked for."""

from __future__ import annotations

import json

import pytest

from aftersales import decisions
from ecom_common.errors import ConflictError, Forbidden


@pytest.fixture
def service_settings():
    return {
        "AFTERSALES_RETURN_ADDRESSES": json.dumps({"S1": "S1 退货仓"}),
        "AFTERSALES_SECOND_APPROVAL_FEN": "3000",
    }


def entries(case):
    return [(t["action"], t["status"], t["by"]) for t in case["timeline"]]


def refund_only(api, amount_fen):
    return api.open_case(type="refund_only", lines=[{"sku_code": "BLUE-L", "quantity": 1}], amount_fen=amount_fen)


def test_a_large_refund_waits_for_a_second_approval_by_ops(api):
    case = refund_only(api, 8000)
    first = api.act(case["case_id"], "approve", {"reason": "质量问题属实"})
    assert first["status"] == "requested"
    assert (
        first["approval"]["stage"] == "awaiting_second_approval" and first["approval"]["first_approved_by"] == "carol"
    )
    assert entries(first)[-1] == ("first_approve", "requested", "carol")
    assert api.events("aftersales.RefundApproved") == []
    waiting = api.get(
        "/api/v1/cases",
        role="ops",
        sub="olga",
        shop_id="S1",
        query_string={"approval_stage": "awaiting_second_approval"},
    )
    assert [c["case_id"] for c in waiting.get_json()["items"]] == [case["case_id"]]
    # cs cannot give the second approval, nor anyone twice; ops of another shop do not see it
    api.act(case["case_id"], "approve", role="cs", sub="chen", expect=403)
    api.act(case["case_id"], "approve", role="admin", sub="carol", shop_id=None, expect=409)
    api.act(case["case_id"], "approve", role="ops", sub="oscar", shop_id="S2", expect=404)
    assert api.events("aftersales.RefundApproved") == []
    done = api.act(case["case_id"], "approve", role="ops", sub="olga")
    assert done["status"] == "refunding" and done["approval"]["second_approved_by"] == "olga"
    assert entries(done)[-3:] == [
        ("first_approve", "requested", "carol"),
        ("approve", "approved", "olga"),
        ("start_refund", "refunding", "olga"),
    ]
    [refund] = api.events("aftersales.RefundApproved")
    assert refund["payload"]["amount_fen"] == 8000
    api.act(case["case_id"], "approve", role="ops", sub="omar", expect=409)  # approved already


def test_small_refunds_need_one_approval_and_ops_give_only_second_ones(api):
    case = api.open_case(lines=[{"sku_code": "RED-M", "quantity": 1}])  # 3000: not above
    api.act(case["case_id"], "approve", role="ops", sub="olga", expect=403)
    approved = api.act(case["case_id"], "approve")
    assert approved["status"] == "approved" and approved["approval"] is None
    big = api.open_case(lines=[{"sku_code": "BLUE-L", "quantity": 1}])
    api.act(big["case_id"], "approve", role="ops", sub="olga", expect=403)  # not a first approver
    assert api.case(big["case_id"])["approval"] is None


def test_the_systems_automatic_approval_is_the_first_and_cs_may_reject_a_waiting_case(api):
    case = refund_only(api, 4000)  # below AFTERSALES_AUTO_APPROVE_FEN, above the review threshold
    assert case["status"] == "requested" and case["approval"]["first_approved_by"] == "system"
    assert api.events("aftersales.RefundApproved") == []
    rejected = api.act(case["case_id"], "reject", {"reason": "重复申请"})
    assert rejected["status"] == "rejected"
    api.act(case["case_id"], "approve", role="ops", sub="olga", expect=409)


def test_a_return_approved_twice_refunds_at_receipt(api):
    case = api.open_case(lines=[{"sku_code": "BLUE-L", "quantity": 1}])
    api.act(case["case_id"], "approve", role="admin", sub="root", shop_id=None)
    approved = api.act(case["case_id"], "approve", role="ops", sub="olga")
    assert approved["status"] == "approved" and approved["return_address"] == "S1 退货仓"


def test_the_rules():
    assert not decisions.needs_second_approval(50000, 50000) and decisions.needs_second_approval(50001, 50000)
    assert not decisions.needs_second_approval(10**9, 0)
    decisions.check_first_approver(())  # the service itself
    decisions.check_first_approver(("ops", "cs"))
    with pytest.raises(Forbidden):
        decisions.check_first_approver(("ops",))
    with pytest.raises(Forbidden):
        decisions.check_second_approver("carol", "chen", ("cs",))
    with pytest.raises(ConflictError):
        decisions.check_second_approver("carol", "carol", ("admin",))
    decisions.check_second_approver("carol", "olga", ("ops",))
