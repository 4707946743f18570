"""三流合一: goods learnt from events, the per-order judgement, the report, its job, roles and scoping."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from billing import reports, threeway
from billing.handlers import reconcile_three_way
from billing.models import GoodsMovement, ThreeWayRun
from ecom_testkit import auth

FLOWS = {"order_id": "O1", "shop_id": "S1", "status": "open", "payable_fen": 10_000}


def kinds(found):
    return sorted(m["kind"] for m in found)


def dispatched(billing, shipment_id="SH1", lines=None, order_id="O1", case_id=None):
    lines = lines if lines is not None else [{"sku_code": "SKU-A", "quantity": 2}, {"sku_code": "SKU-B", "quantity": 1}]
    payload = {"shipment_id": shipment_id, "order_id": order_id, "shop_id": "S1", "carrier": "SF", "tracking_no": "T1"}
    return billing.event("logistics.ShipmentDispatched", {**payload, "lines": lines, "case_id": case_id})


def returned(billing, case_id="C1", lines=None, order_id="O1"):
    lines = lines if lines is not None else [{"sku_code": "SKU-B", "quantity": 1}]
    payload = {"case_id": case_id, "order_id": order_id, "shop_id": "S1", "resellable": True, "lines": lines}
    return billing.event("aftersales.ReturnReceived", payload)


def report(billing, role="finance", shop_id=None, sub="fiona", **params):
    day = billing.config.clock.now().date().isoformat()
    return billing.get(
        "/api/v1/reconciliation/three-way", role=role, sub=sub, shop_id=shop_id, query_string={"day": day, **params}
    )


def issue_invoice(billing, order_id="O1", number="12345678"):
    r = billing.client.post(
        "/api/v1/invoices",
        json={"order_id": order_id, "title_type": "personal", "title": "个人"},
        headers=auth("buyer", sub="bob"),
    )
    assert r.status_code == 201, r.get_json()
    r = billing.client.post(
        f"/api/v1/invoices/{r.get_json()['invoice_id']}/issue",
        json={"invoice_no": number},
        headers=auth("finance", sub="f"),
    )
    assert r.status_code == 200, r.get_json()


# The judgement (pure) --------------------------------------------------------------------------
def test_an_order_whose_flows_agree_has_no_mismatch():
    f = threeway.OrderFlows(
        **FLOWS, paid_fen=10_000, refunded_fen=0, invoiced_fen=10_000, bought={"A": 2}, dispatched={"A": 2}
    )
    assert threeway.mismatches(f) == []


def test_funds_mismatches():
    base = dict(FLOWS, paid_fen=9_000, refunded_fen=0)
    assert kinds(threeway.mismatches(threeway.OrderFlows(**base))) == ["paid_not_payable"]
    over = dict(FLOWS, paid_fen=10_000, refunded_fen=12_000)
    assert "refunds_exceed_payments" in kinds(threeway.mismatches(threeway.OrderFlows(**over)))
    cancelled = dict(FLOWS, status="cancelled", paid_fen=10_000, refunded_fen=0)
    assert kinds(threeway.mismatches(threeway.OrderFlows(**cancelled))) == ["cancelled_not_refunded"]
    settled = dict(FLOWS, paid_fen=10_000, refunded_fen=0, settled=True, payment_paid_out=False)
    assert kinds(threeway.mismatches(threeway.OrderFlows(**settled))) == ["settled_not_paid_out"]
    assert threeway.mismatches(threeway.OrderFlows(**{**settled, "payment_paid_out": True})) == []


def test_an_invoice_issued_before_a_refund_calls_for_a_red_letter_invoice():
    f = threeway.OrderFlows(**FLOWS, paid_fen=10_000, refunded_fen=3_000, invoiced_fen=10_000)
    [m] = threeway.mismatches(f)
    assert m["flow"] == "invoice" and m["kind"] == "invoice_amount_differs" and "红字发票" in m["reason"]
    assert m["invoiced_fen"] == 10_000 and m["net_fen"] == 7_000


def test_goods_mismatches():
    paid = dict(FLOWS, paid_fen=10_000, refunded_fen=0, bought={"A": 2, "B": 1})
    assert kinds(threeway.mismatches(threeway.OrderFlows(**paid, dispatched={"A": 3, "B": 1}))) == [
        "dispatched_exceeds_bought"
    ]
    done = dict(paid, status="completed")
    [m] = threeway.mismatches(threeway.OrderFlows(**done, dispatched={"A": 2}))
    assert m["kind"] == "completed_not_dispatched" and m["sku_code"] == "B"
    back = threeway.OrderFlows(**paid, dispatched={"A": 2, "B": 1}, returned={"B": 1})
    assert kinds(threeway.mismatches(back)) == ["returned_not_refunded"]
    refunded = threeway.OrderFlows(**paid, dispatched={"A": 2, "B": 1}, returned={"B": 1}, refunded_units={"B": 1})
    assert threeway.mismatches(refunded) == []
    exchanged = threeway.OrderFlows(**paid, dispatched={"A": 2, "B": 1}, returned={"B": 1}, replaced={"B": 1})
    assert threeway.mismatches(exchanged) == []
    phantom = threeway.OrderFlows(**paid, dispatched={"A": 2}, returned={"B": 1}, refunded_units={"B": 1})
    assert kinds(threeway.mismatches(phantom)) == ["returned_exceeds_dispatched"]
    unpaid = threeway.OrderFlows(**{**paid, "paid_fen": 0}, dispatched={"A": 2})
    assert kinds(threeway.mismatches(unpaid)) == ["dispatched_unpaid"]
    kept = threeway.OrderFlows(**{**paid, "refunded_fen": 10_000}, dispatched={"A": 2, "B": 1}, refunded_units={})
    assert kinds(threeway.mismatches(kept)) == ["refunded_goods_kept"]


# Goods from events -----------------------------------------------------------------------------
def test_dispatches_and_returns_are_kept_per_sku_once(billing):
    billing.paid()
    outcome, env = dispatched(
        billing, lines=[{"sku_code": "SKU-A", "quantity": 1}, {"sku_code": "SKU-A", "quantity": 1}]
    )
    assert outcome == "handled" and billing.redeliver(env) == "duplicate"
    dispatched(billing, lines=[{"sku_code": "SKU-A", "quantity": 2}])  # the same shipment announced again
    returned(billing)
    returned(billing)
    with billing.db.Session() as s:
        rows = s.execute(
            sa.select(GoodsMovement.direction, GoodsMovement.ref_id, GoodsMovement.sku_code, GoodsMovement.quantity)
        ).all()
    assert sorted(rows) == [("in", "C1", "SKU-B", 1), ("out", "SH1", "SKU-A", 2)]


# The report ------------------------------------------------------------------------------------
def test_a_day_whose_orders_agree_is_balanced(billing):
    billing.paid()
    dispatched(billing)
    issue_invoice(billing)
    r = report(billing)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["balanced"] and body["mismatches"] == [] and body["orders_checked"] == 1
    assert body["funds"] == {"paid_fen": 10_000, "refunded_fen": 0} and body["invoiced_fen"] == 10_000
    assert body["goods"] == {"dispatched_units": 3, "returned_units": 0}


@pytest.mark.parametrize("batch", [500, 1])
def test_every_mismatch_of_the_day_is_listed_with_its_reason(billing, monkeypatch, batch):
    monkeypatch.setattr(reports, "THREE_WAY_BATCH", batch)  # 1: each order its own batch of queries
    billing.paid("O1")
    dispatched(billing)
    issue_invoice(billing)
    returned(billing)  # SKU-B back, not refunded yet
    billing.event(
        "aftersales.RefundApproved", {"case_id": "C9", "order_id": "O1", "shop_id": "S1", "amount_fen": 1_000}
    )  # money back without lines, after the invoice
    billing.placed("O2")  # not paid, but dispatched
    dispatched(billing, "SH2", [{"sku_code": "SKU-A", "quantity": 3}], order_id="O2")
    body = report(billing).get_json()
    assert not body["balanced"]
    found = {(m["order_id"], m["kind"]) for m in body["mismatches"]}
    assert found == {
        ("O1", "invoice_amount_differs"),
        ("O1", "returned_not_refunded"),
        ("O2", "dispatched_unpaid"),
        ("O2", "dispatched_exceeds_bought"),
    }
    assert all(m["reason"] and m["flow"] in ("funds", "invoice", "goods") for m in body["mismatches"])


def test_the_report_is_scoped_like_every_money_read(billing):
    billing.paid("O1", shop_id="S1")
    billing.paid("O2", shop_id="S2", buyer_id="eve")
    assert report(billing, role="ops", sub="o1", shop_id="S1").get_json()["orders_checked"] == 1
    assert report(billing, role="admin", sub="root").get_json()["orders_checked"] == 2
    other = billing.get(
        "/api/v1/reconciliation/three-way",
        role="ops",
        sub="o1",
        shop_id="S1",
        query_string={"day": "2026-01-01", "shop_id": "S2"},
    )
    assert other.status_code == 404
    assert report(billing, role="cs", sub="c", shop_id="S1").status_code == 403
    assert report(billing, role="ops", sub="o").status_code == 403  # staff without a shop
    bad = billing.get("/api/v1/reconciliation/three-way", query_string={"day": "yesterday"})
    assert bad.status_code == 422 and "day" in bad.get_json()["errors"]


def test_the_job_keeps_yesterdays_result(billing):
    billing.placed("O2")
    dispatched(billing, "SH2", [{"sku_code": "SKU-A", "quantity": 1}], order_id="O2")
    day = billing.config.clock.now().date().isoformat()
    billing.config.clock.advance(days=1)
    assert reconcile_three_way(billing.db) == 1
    assert reconcile_three_way(billing.db) == 1  # a rerun replaces the day's result
    with billing.db.Session() as s:
        [run] = s.execute(sa.select(ThreeWayRun)).scalars().all()
    assert run.day == day and run.orders == 1 and run.mismatch_count == 1
    assert run.mismatches[0]["kind"] == "dispatched_unpaid"


def test_each_day_is_judged_as_billing_knew_it_at_the_end_of_that_day(billing):
    billing.paid()
    issue_invoice(billing)
    today = billing.config.clock.now().date().isoformat()
    billing.config.clock.advance(days=1)
    billing.event("aftersales.RefundApproved", {"case_id": "C1", "order_id": "O1", "shop_id": "S1", "amount_fen": 500})

    def on(day):
        return billing.get("/api/v1/reconciliation/three-way", query_string={"day": day}).get_json()

    assert on(today)["balanced"] and on(today)["funds"]["refunded_fen"] == 0  # the refund came the day after
    [m] = on(billing.config.clock.now().date().isoformat())["mismatches"]
    assert m["kind"] == "invoice_amount_differs" and m["net_fen"] == 9_500


def test_goods_of_an_order_billing_does_not_know_are_a_mismatch(billing):
    dispatched(billing, "SH9", [{"sku_code": "SKU-A", "quantity": 1}], order_id="O-UNKNOWN")
    [m] = report(billing).get_json()["mismatches"]
    assert (m["order_id"], m["flow"], m["kind"]) == ("O-UNKNOWN", "goods", "goods_without_order")
    assert report(billing, role="ops", sub="o", shop_id="S2").get_json()["mismatches"] == []  # another shop's
