"""新客优先: with AFTERSALES_AUTO_APPROVE_NEW_BUYER_REFUND_FEN set (6000 here), a refund-only of at most
that amount from a buyer without an earlier completed order in the shop (as orders.OrderCompleted told
aftersales) is approved by the system at once; others wait for cs."""

from __future__ import annotations

import json

import pytest

from aftersales import decisions
from ecom_common.clock import iso


@pytest.fixture
def service_settings():
    return {
        "AFTERSALES_RETURN_ADDRESSES": json.dumps({"S1": "S1 退货仓"}),
        "AFTERSALES_AUTO_APPROVE_NEW_BUYER_REFUND_FEN": "6000",
    }


def completed(api, order_id, buyer_id="bob", shop_id="S1"):
    payload = {"order_id": order_id, "shop_id": shop_id, "buyer_id": buyer_id, "completed_at": iso(api.clock.now())}
    payload.update(payable_fen=9900, lines=[])
    return api.deliver("orders.OrderCompleted", payload)


def refund_only(api, amount_fen, order_id="O1"):
    body = {"type": "refund_only", "lines": [{"sku_code": "BLUE-L", "quantity": 1}], "amount_fen": amount_fen}
    return api.open_case(order_id=order_id, **body)


def test_a_new_customers_refund_only_is_approved_by_the_system(api):
    completed(api, "O1")  # the case's own order does not make the buyer a returning one
    case = refund_only(api, 6000)
    assert case["status"] == "refunding"
    approval = [t for t in case["timeline"] if t["action"] == "approve"][0]
    assert approval["by"] == "system" and approval["reason"].startswith("新客优先")
    [refund] = api.events("aftersales.RefundApproved")
    assert refund["payload"]["amount_fen"] == 6000


def test_above_the_amount_or_a_returning_customer_waits_for_cs(api):
    assert refund_only(api, 6001)["status"] == "requested"
    api.orders.add(order_id="O2", delivered_at=iso(api.clock.now()))
    completed(api, "O0")  # an earlier order of bob's in S1
    assert refund_only(api, 5500, order_id="O2")["status"] == "requested"  # not new any more
    assert api.events("aftersales.RefundApproved") == []


def test_another_shops_completed_order_keeps_the_buyer_new_there_and_events_count_once(api):
    _, event = completed(api, "X1", shop_id="S2")
    api.consumer.handle(event)  # redelivered: one row
    completed(api, "X2", buyer_id="amy")
    assert api.count("completed_orders") == 2
    assert refund_only(api, 5500)["status"] == "refunding"


def test_the_rule():
    assert decisions.new_customer_auto_approves("refund_only", 6000, 6000, 0)
    assert not decisions.new_customer_auto_approves("refund_only", 6000, 6000, 1)
    assert not decisions.new_customer_auto_approves("refund_only", 6001, 6000, 0)
    assert not decisions.new_customer_auto_approves("refund_only", 100, 0, 0)  # off
    assert not decisions.new_customer_auto_approves("return", 100, 6000, 0)
