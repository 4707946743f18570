"""Invoices and 三流合一 across the real services (issue 19 item 8): an order placed, paid and
dispatched by the real orders, inventory and logistics; billing learns the dispatched units from
logistics.ShipmentDispatched over RabbitMQ, finance issues the buyer's invoice on PostgreSQL, and
the day's three-way reconciliation finds the order's funds, invoice and goods in agreement; the
ledger's CSV streams from PostgreSQL."""

from __future__ import annotations

import pytest

from ecom_testkit import eventually

pytestmark = pytest.mark.integration


def test_an_invoiced_and_dispatched_order_agrees_in_all_three_flows(saga):
    saga.product("TEA-SET", price_fen=12_000, weight_g=800, stock=5)
    oid = saga.placed_and_paid("TEA-SET", quantity=2, buyer="dora")
    order = saga.wait_status(oid, "awaiting_shipment")
    billing = saga["billing"]

    requested = billing.post(
        "/api/v1/invoices",
        role="buyer",
        sub="dora",
        json={
            "order_id": oid,
            "title_type": "company",
            "title": "杭州茶具有限公司",
            "tax_number": "91350100M000100Y43",
        },
        headers={"Idempotency-Key": f"invoice-{oid}"},
    )
    assert requested.status_code == 201, requested.text
    invoice_id = requested.json()["invoice_id"]
    issued = billing.post(
        f"/api/v1/invoices/{invoice_id}/issue", role="finance", sub="fin", shop_id="S1", json={"invoice_no": "44010001"}
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["amount_fen"] == order["payable_fen"]

    saga.dispatch(saga.shipment_for(oid)["shipment_id"], "SF7000000001")

    def three_way():
        day = saga.p.clock.now().date().isoformat()
        report = billing.get(
            "/api/v1/reconciliation/three-way", role="finance", sub="fin", shop_id="S1", params={"day": day}
        ).json()
        return report if report["goods"]["dispatched_units"] >= 2 else None

    report = eventually(three_way, message="billing learns the dispatched units from logistics.ShipmentDispatched")
    assert [m for m in report["mismatches"] if m["order_id"] == oid] == []
    assert report["invoiced_fen"] >= order["payable_fen"] and report["goods"]["dispatched_units"] == 2

    # The ledger's CSV, streamed from PostgreSQL over real HTTP (a server-side cursor, yield_per).
    exported = billing.get(
        "/api/v1/ledger",
        role="finance",
        sub="fin",
        shop_id="S1",
        params={"format": "csv", "order_id": oid},
        stream=True,
    )
    assert exported.status_code == 200 and exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(exported.iter_content(chunk_size=None))
    assert body.startswith("\ufeff".encode())
    rows = body.decode("utf-8-sig").splitlines()
    assert (
        rows[0].startswith("entry_id,shop_id,kind,amount_fen")
        and f",S1,payment,{order['payable_fen']},{oid}," in rows[1]
    )
