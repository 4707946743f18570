"""analytics over HTTP: the visits beacon (batch, cap, dedup) and the KPI report (definitions,
previous period, platform totals, tenancy, CSV), plus `ecom analytics rebuild`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecom_common.clock import iso

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in China, 2026-12-01
DAY = "2026-12-01"


def _visit(n, visitor, shop="S1", at=T0, **extra):
    return {"event_id": f"E{n}", "visitor_id": visitor, "shop_id": shop, "page": "product", "at": iso(at), **extra}


def _order(projector, order_id, buyer, *, shop="S1", at=T0, price=10000, shipping=0, sku="SKU-A"):
    lines = [{"sku_code": sku, "quantity": 1, "unit_price_fen": price, "category_id": "c1"}]
    p = projector.placed(order_id, shop_id=shop, buyer_id=buyer, lines=lines, shipping_fen=shipping, at=at)
    projector.deliver("orders.OrderPlaced", p)
    projector.deliver("orders.OrderPaid", projector.paid(p, at))
    return p


def test_visits_are_counted_once_per_client_event_id(projector):
    batch = {"visits": [_visit(1, "v1"), _visit(2, "v1"), _visit(3, "v2")]}
    first = projector.post("/api/v1/visits", json=batch)
    assert first.status_code == 202 and first.get_json() == {"accepted": 3, "duplicates": 0}
    again = projector.post("/api/v1/visits", json={"visits": [*batch["visits"], _visit(4, "v3")]})
    assert again.get_json() == {"accepted": 1, "duplicates": 3}
    k = projector.get("/api/v1/kpis", query_string={"from": DAY, "to": DAY}).get_json()["kpis"]
    assert (k["uv"], k["pv"]) == (3, 4)


def test_the_beacon_is_capped_validated_and_for_the_storefront_only(projector, config):
    too_many = {"visits": [_visit(n, "v") for n in range(501)]}
    resp = projector.post("/api/v1/visits", json=too_many)
    assert resp.status_code == 413 and resp.content_type == "application/problem+json"
    naive = _visit(1, "v1")
    naive["at"] = "2026-12-01T10:00:00"
    assert projector.post("/api/v1/visits", json={"visits": [naive]}).status_code == 422
    assert projector.post("/api/v1/visits", json={"visits": []}).status_code == 422
    assert projector.post("/api/v1/visits", json={"visits": [_visit(1, "v")]}, role="buyer", sub="b").status_code == 403


def test_kpis_by_the_definitions_with_the_previous_period(projector):
    # previous day: bob pays once (he is an old buyer today); today: bob twice, carol once (new)
    _order(projector, "O0", "bob", at=T0 - timedelta(days=1))
    _order(projector, "O1", "bob", shipping=1000)
    _order(projector, "O2", "bob", price=5000)
    _order(projector, "O3", "carol", price=2000, sku="SKU-B")
    _order(projector, "X1", "dave", shop="S2", price=99900)
    refund = {"order_id": "O0", "shop_id": "S1", "refund_id": "R1", "amount_fen": 3000, "kind": "aftersales"}
    projector.deliver("billing.RefundSucceeded", refund, at=T0)
    projector.post("/api/v1/visits", json={"visits": [_visit(n, f"v{n % 8}") for n in range(20)]})
    body = projector.get("/api/v1/kpis", query_string={"from": DAY, "to": DAY}).get_json()
    k = body["kpis"]
    assert body["shop_id"] == "S1" and (body["previous_from"], body["previous_to"]) == ("2026-11-30", "2026-11-30")
    assert k["paid_fen"] == 11000 + 5000 + 2000  # postage included
    assert (k["paid_orders"], k["paying_buyers"], k["aov_fen"]) == (3, 2, 9000)
    assert (k["uv"], k["pv"], k["conversion"]) == (8, 20, 0.25)
    assert (k["refund_fen"], k["refunds"], k["refund_rate"]) == (3000, 1, 0.1667)
    assert (k["new_buyers"], k["new_buyer_share"]) == (1, 0.5)
    assert (k["repeat_buyers"], k["repurchase_rate"]) == (1, 0.5)
    assert body["previous"]["paid_fen"] == 10000 and body["change"]["paid_fen"] == 0.8
    assert body["top_skus"][0] == {"sku_code": "SKU-A", "shop_id": "S1", "paid_fen": 15000, "units": 2}
    assert body["top_categories"] == [{"category_id": "c1", "paid_fen": 17000, "units": 3}]
    assert [d["day"] for d in body["series"]] == [DAY] and body["series"][0]["paid_fen"] == 18000
    # two days: bob is one buyer over both days, and the refund no longer reduces anything
    two = projector.get("/api/v1/kpis", query_string={"from": "2026-11-30", "to": DAY}).get_json()
    assert (two["kpis"]["paid_fen"], two["kpis"]["paying_buyers"], two["kpis"]["repeat_buyers"]) == (28000, 2, 1)
    assert [d["paid_fen"] for d in two["series"]] == [10000, 18000]


def test_tenancy_their_shop_another_404_admin_every_shop_and_the_platform(projector):
    _order(projector, "O1", "bob")
    _order(projector, "X1", "dave", shop="S2", price=99900)
    args = {"from": DAY, "to": DAY}
    assert (
        projector.get("/api/v1/kpis", query_string=args, role="finance", shop_id="S1").get_json()["kpis"]["paid_fen"]
        == 10000
    )
    other = projector.get("/api/v1/kpis", query_string={**args, "shop_id": "S2"}, role="ops", shop_id="S1")
    assert other.status_code == 404 and "99900" not in other.text
    assert projector.get("/api/v1/kpis", query_string=args, role="cs", shop_id="S1").status_code == 403
    assert projector.get("/api/v1/kpis", query_string=args, role="buyer", sub="bob", shop_id=None).status_code == 403
    s2 = projector.get("/api/v1/kpis", query_string={**args, "shop_id": "S2"}, role="admin", sub="root", shop_id=None)
    assert s2.get_json()["kpis"]["paid_fen"] == 99900
    platform = projector.get("/api/v1/kpis", query_string=args, role="admin", sub="root", shop_id=None).get_json()
    assert platform["shop_id"] is None and platform["kpis"]["paid_fen"] == 109900
    assert platform["kpis"]["paying_buyers"] == 2


def test_ranges_are_checked(projector):
    assert projector.get("/api/v1/kpis", query_string={"from": "2026-12-02", "to": DAY}).status_code == 422
    assert projector.get("/api/v1/kpis", query_string={"from": "2024-01-01", "to": DAY}).status_code == 422
    assert projector.get("/api/v1/kpis", query_string={"from": "yesterday"}).status_code == 422


def test_csv_has_a_bom_and_no_formula_cells(projector):
    _order(projector, "O1", "bob", sku="=HYPERLINK(1)")
    resp = projector.get("/api/v1/kpis", query_string={"from": DAY, "to": DAY, "format": "csv", "shop_id": "S1"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    text = resp.data.decode("utf-8")
    assert text.startswith("\ufeffshop_id,day,paid_fen,")
    rows = text.lstrip("\ufeff").splitlines()
    assert rows[1].startswith(f"S1,{DAY},10000,1,1,10000,")
    assert rows[2].startswith(f"S1,{DAY}..{DAY},10000") and rows[3].startswith("S1,2026-11-30..2026-11-30,0")


def test_ecom_analytics_rebuild(projector, config, db, monkeypatch, tmp_path, capsys):
    from ecom_common.cli import main

    _order(projector, "O1", "bob")
    before = projector.rollups()
    monkeypatch.setenv("ANALYTICS_DATABASE_URL", config.database_url)
    monkeypatch.setenv("ECOM_VAR_DIR", str(tmp_path / "var"))
    assert main(["analytics", "rebuild"]) == 0
    assert "shop_day 1 rows" in capsys.readouterr().out
    assert projector.rollups() == before


@pytest.fixture
def service_settings():
    return {}


def test_fulfilment_and_after_sales_counts(projector):
    _order(projector, "O1", "bob")
    ship = {"shipment_id": "SH1", "order_id": "O1", "shop_id": "S1", "carrier": "SF"}
    dispatched = {**ship, "tracking_no": "T1", "lines": [{"sku_code": "SKU-A", "quantity": 1}]}
    projector.deliver("logistics.ShipmentDispatched", dispatched, at=T0)
    projector.deliver("logistics.ShipmentDelivered", {**ship, "delivered_at": iso(T0 + timedelta(hours=5))})
    replacement = {**dispatched, "shipment_id": "SH2", "case_id": "C1"}
    projector.deliver("logistics.ShipmentDispatched", replacement, at=T0)  # an exchange's: not counted
    projector.deliver("logistics.ShipmentStalled", {**ship, "shipment_id": "SH3"}, at=T0)
    case = {"case_id": "C1", "order_id": "O1", "shop_id": "S1", "case_type": "exchange"}
    projector.deliver("aftersales.CaseRequested", case, at=T0)
    complaint = {"complaint_id": "K1", "shop_id": "S1", "tier": "serious", "order_id": "O1"}
    projector.deliver("aftersales.ComplaintEscalated", complaint, at=T0)
    projector.deliver("aftersales.ComplaintEscalated", complaint, at=T0)  # escalated again: one complaint
    k = projector.get("/api/v1/kpis", query_string={"from": DAY, "to": DAY}).get_json()["kpis"]
    counts = ("dispatched", "delivered", "stalled", "cases_opened", "complaints_escalated")
    assert {c: k[c] for c in counts} == dict.fromkeys(counts, 1)
