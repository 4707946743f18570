"""fulfilment.py: per-carrier figures and statement reconciliation (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from logistics import fulfilment as f

T0 = datetime(2026, 11, 11, 8, tzinfo=UTC)


def test_carrier_figures_rate_transit_and_cost_per_parcel():
    parcels = [
        f.Shipped("SF", T0, T0 + timedelta(hours=25), 1200),  # on time
        f.Shipped("SF", T0, T0 + timedelta(hours=80), 1301),  # 80 h from dispatch: late
        f.Shipped("SF", T0),  # not delivered, no cost
        f.Shipped("ZTO", T0, cost_fen=800),
    ]
    sf, zto = f.carrier_figures(parcels, on_time_hours=72)
    assert sf == {
        "carrier": "SF",
        "shipments": 3,
        "delivered": 2,
        "on_time": 1,
        "on_time_rate": 0.5,
        "mean_transit_hours": 52.5,
        "costed": 2,
        "cost_total_fen": 2501,
        "cost_per_parcel_fen": 1251,  # 1250.5 rounded half up
    }
    assert zto["on_time_rate"] is None and zto["mean_transit_hours"] is None and zto["cost_per_parcel_fen"] == 800
    assert f.carrier_figures([], 72) == []


def test_month_bounds():
    assert f.month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert f.month_bounds("2026-02")[1] == datetime(2026, 3, 1, tzinfo=UTC)
    for bad in ("2026-13", "202611", "2026-1", "abcd-ef"):
        with pytest.raises(ValueError):
            f.month_bounds(bad)


def test_reconcile_finds_every_kind_of_mismatch():
    recorded = [
        f.Recorded("S1", "T1", 1000, True),  # charged right
        f.Recorded("S2", "T2", 1000, True),  # charged 1200
        f.Recorded("S3", "T3", None, True),  # no cost recorded
        f.Recorded("S4", "T4", 900, True),  # not charged: missing
        f.Recorded("S5", "T5", 700, False),  # last month's, charged now: compared, never missing
        f.Recorded("S6", "T6", 700, False),  # last month's, not charged: not missing here
    ]
    lines = [
        f.StatementLine("T1", 1000),
        f.StatementLine("T2", 1200),
        f.StatementLine("T3", 500),
        f.StatementLine("T5", 700),
        f.StatementLine("TX", 300),
        f.StatementLine("T1", 1000),
    ]
    out = f.reconcile(lines, recorded)
    kinds = [(m["kind"], m["tracking_no"]) for m in out["mismatches"]]
    assert kinds == [
        ("amount_differs", "T2"),
        ("no_recorded_cost", "T3"),
        ("extra", "TX"),
        ("duplicate", "T1"),
        ("missing", "T4"),
    ]
    assert out["mismatches"][0]["difference_fen"] == 200
    assert out["matched"] == 2 and out["lines"] == 6 and out["charged_total_fen"] == 4700
    assert out["mismatch_counts"] == {
        "missing": 1,
        "extra": 1,
        "amount_differs": 1,
        "no_recorded_cost": 1,
        "duplicate": 1,
    }
