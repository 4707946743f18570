"""One order from placing to the merchant being paid, across the six real services (issue 5 "Must
show"): placed, paid, reserved, audited, shipment created, dispatched (inventory deducted), tracked,
delivered, confirmed, settlement scheduled and — with the clock moved on 7 days — paid out; the
ledger balances to zero. A stalled shipment is flagged. Running the settlement job twice pays once."""

from __future__ import annotations

import pytest

from ecom_testkit import eventually

pytestmark = pytest.mark.integration


def test_whole_chain_to_settlement_and_ledger_balances(saga):
    saga.product("PHONE-SET", price_fen=30000, weight_g=400, stock=3)
    oid = saga.placed_and_paid("PHONE-SET", quantity=1, buyer="dora")
    saga.wait_status(oid, "awaiting_shipment")
    shipment = saga.shipment_for(oid)
    dispatched = saga.dispatch(shipment["shipment_id"], "SF1234567890")
    carrier = dispatched["carrier"]
    order = saga.wait_status(oid, "shipped")
    assert order["tracking_no"] == "SF1234567890"
    eventually(
        lambda: (s := saga.stock("PHONE-SET"))["on_hand"] == 2 and s["reserved"] == 0,
        message="inventory deducted on dispatch",
    )

    for status in ("in_transit", "out_for_delivery", "delivered"):
        assert saga.carrier_reports(carrier, "SF1234567890", status).status_code == 200
    saga.wait_status(oid, "delivered")
    saga.ok(saga["orders"].post(f"/api/v1/orders/{oid}/confirm-receipt", role="buyer", sub="dora", json={}))
    completed = saga.wait_status(oid, "completed")
    billing = saga["billing"]
    settlements = eventually(
        lambda: billing.get("/api/v1/settlements", role="finance", sub="fin", params={"shop_id": "S1"}).json()["items"],
        message="settlement scheduled",
    )
    assert settlements[0]["status"] == "scheduled"

    assert saga.p.run_job("billing", "settle-due") == 0  # not due yet
    saga.p.clock.advance(days=7, minutes=1)
    assert saga.p.run_job("billing", "settle-due") >= 1
    assert saga.p.run_job("billing", "settle-due") == 0  # running it again pays nothing more
    ledger = billing.get("/api/v1/ledger", role="finance", sub="fin", params={"shop_id": "S1"}).json()
    assert ledger["balance_fen"] == 0
    kinds = {e["kind"]: e["amount_fen"] for e in ledger["items"]}
    payable = completed["payable_fen"]
    commission = round(payable * 0.05)
    assert kinds.get("payout") == -(payable - commission), kinds
    payouts = billing.get("/api/v1/payouts", role="finance", sub="fin", params={"shop_id": "S1"}).json()["items"]
    assert len(payouts) == 1 and payouts[0]["amount_fen"] == payable - commission


def test_a_stalled_shipment_is_flagged(saga):
    saga.product("PHONE-STALL", stock=2)
    oid = saga.placed_and_paid("PHONE-STALL")
    saga.wait_status(oid, "awaiting_shipment")
    shipment = saga.dispatch(saga.shipment_for(oid)["shipment_id"], "ZT0000000001")
    saga.p.clock.advance(hours=49)
    assert saga.p.run_job("logistics", "flag-stalled-shipments") >= 1
    queue = saga["logistics"].get("/api/v1/shipments/exceptions", role="ops", shop_id="S1").json()["items"]
    assert [s["shipment_id"] for s in queue] == [shipment["shipment_id"]]
