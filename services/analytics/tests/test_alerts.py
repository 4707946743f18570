"""KPI alerts (issue 17, item 4): a shop's day past a bound raises analytics.KpiAlert, once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from analytics import domain, handlers, operations
from analytics.settings import Settings
from ecom_common.clock import iso
from ecom_common.usecase import for_job
from ecom_testkit import recorded_events

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 2026-12-01 in China


@pytest.fixture
def service_settings():
    return {"ANALYTICS_CONVERSION_BENCHMARKS": json.dumps({"S1": 0.5, "S2": 0.1})}


def _day(projector, shop, buyers, visitors, refund_fen=0):
    for n, buyer in enumerate(buyers):
        p = projector.placed(f"{shop}-O{n}", shop_id=shop, buyer_id=buyer, at=T0)
        projector.deliver("orders.OrderPlaced", p)
        projector.deliver("orders.OrderPaid", projector.paid(p, T0))
    if refund_fen:
        refund = {"order_id": f"{shop}-O0", "shop_id": shop, "refund_id": f"R-{shop}", "amount_fen": refund_fen}
        projector.deliver("billing.RefundSucceeded", refund, at=T0)
    views = [
        {"event_id": f"{shop}-{v}", "visitor_id": v, "shop_id": shop, "page": "home", "at": iso(T0)} for v in visitors
    ]
    assert projector.post("/api/v1/visits", json={"visits": views}).status_code == 202


def test_the_bounds_by_the_sop():
    policy = domain.AlertPolicy(conversion_benchmarks={"S1": 0.1})
    ok = {"conversion": 0.085, "refund_rate": 0.1, "new_buyer_share": 0.3}
    assert domain.alerts("S1", ok, policy) == []
    bad = {"conversion": 0.0849, "refund_rate": 0.1001, "new_buyer_share": 0.2999}
    assert [(a.kpi, a.bound, a.direction) for a in domain.alerts("S1", bad, policy)] == [
        ("conversion", 0.085, "below"),
        ("refund_rate", 0.1, "above"),
        ("new_buyer_share", 0.3, "below"),
    ]
    # no benchmark, no conversion alert; no value, no alert
    assert domain.alerts("S9", bad, policy)[0].kpi == "refund_rate"
    assert domain.alerts("S1", {"conversion": None, "refund_rate": None, "new_buyer_share": None}, policy) == []


def test_a_day_past_its_bounds_raises_one_alert_per_kpi_once(projector, db):
    # S1: 1 buyer of 4 visitors (0.25 < 0.5 x 0.85), refund 50%; S2: 1 of 5 visitors (0.2 >= 0.085), no refund.
    _day(projector, "S1", ["bob"], ["bob", "v1", "v2", "v3"], refund_fen=5000)
    _day(projector, "S2", ["eve"], ["eve", "w1", "w2", "w3", "w4"])
    with for_job(db, Settings) as ctx:
        raised = operations.raise_alerts(ctx, date(2026, 12, 1))
    assert sorted((a["shop_id"], a["kpi"]) for a in raised) == [("S1", "conversion"), ("S1", "refund_rate")]
    events = [e["payload"] for e in recorded_events(db, "analytics.KpiAlert")]
    assert {(e["shop_id"], e["kpi"], e["direction"], e["from"]) for e in events} == {
        ("S1", "conversion", "below", "2026-12-01"),
        ("S1", "refund_rate", "above", "2026-12-01"),
    }
    assert next(e for e in events if e["kpi"] == "conversion")["bound"] == 0.425
    with for_job(db, Settings) as ctx:
        assert operations.raise_alerts(ctx, date(2026, 12, 1)) == []
    assert len(recorded_events(db, "analytics.KpiAlert")) == 2


def test_the_job_checks_yesterday(projector, db, clock):
    _day(projector, "S1", ["bob"], ["bob", "v1", "v2", "v3"])
    clock.advance(seconds=((T0 + timedelta(days=1)) - clock.now()).total_seconds())
    assert handlers.check_kpi_alerts(db) == 1  # conversion; bob is new, no refund
    assert handlers.check_kpi_alerts(db) == 0
