"""Days of cover: the safety-stock job (inventory.SafetyStockLow once per crossing), the pre-promotion
cover report and the slow-mover / overstock report, over a moved clock; and their rules alone."""

from datetime import UTC, datetime, timedelta

import pytest

from ecom_common.clock import iso
from ecom_common.errors import RuleViolation
from ecom_testkit import auth
from inventory import cover, handlers

SHOP = "S1"
WH = auth("warehouse", sub="wang", shop_id=SHOP)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


# The rules -------------------------------------------------------------------------------------
def test_safety_stock_is_three_days_of_average_sales():
    average = cover.average_daily_sales(60, 30)
    assert average == 2
    assert cover.below_safety_stock(6, average, 3) and not cover.below_safety_stock(7, average, 3)
    assert not cover.below_safety_stock(0, 0.0, 3)  # a SKU that does not sell has no safety stock
    assert cover.safety_signal(False, True) == "alert" and cover.safety_signal(True, True) is None
    assert cover.safety_signal(True, False) == "rearm" and cover.safety_signal(False, False) is None
    with pytest.raises(RuleViolation):
        cover.average_daily_sales(1, 0)


def test_short_cover_lists_fewer_than_15_days_with_the_units_missing():
    line = cover.short_cover("A", 20, 60, window_days=30, cover_days=15)  # 2/day: 10 days
    assert line is not None and line.days_of_cover == 10 and line.needed_units == 10
    assert cover.short_cover("A", 30, 60, window_days=30, cover_days=15) is None  # exactly 15 days
    assert cover.short_cover("A", 0, 0, window_days=30, cover_days=15) is None  # does not sell


def test_slow_movers_and_overstock():
    def item(on_hand, sold, last_days_ago):
        last = None if last_days_ago is None else NOW - timedelta(days=last_days_ago)
        return cover.Movement("A", on_hand, on_hand, sold, last)

    kw = {"window_days": 30, "no_sales_days": 60, "overstock_days": 90}
    assert cover.slow_or_over(item(5, 0, None), NOW, **kw)[0] == "slow_mover"  # never sold
    kind, row = cover.slow_or_over(item(5, 0, 61), NOW, **kw)
    assert kind == "slow_mover" and row["days_since_sale"] == 61
    assert cover.slow_or_over(item(0, 0, None), NOW, **kw) is None  # nothing on hand
    kind, row = cover.slow_or_over(item(100, 30, 1), NOW, **kw)  # 1/day, 100 days of cover
    assert kind == "overstock" and row["days_of_cover"] == 100 and row["excess_units"] == 10
    assert cover.slow_or_over(item(80, 30, 1), NOW, **kw) is None


# Over the service ------------------------------------------------------------------------------
def sell(pay, deliver, order_id, sku, quantity):
    pay(order_id, [(sku, quantity)])
    deliver(
        "logistics.ShipmentDispatched",
        {
            "order_id": order_id,
            "shop_id": SHOP,
            "shipment_id": f"S-{order_id}",
            "carrier": "SF",
            "tracking_no": "T",
            "lines": [],
        },
    )


def test_the_safety_stock_job_alerts_once_per_crossing(db, list_sku, receive, pay, deliver, events, config):
    list_sku("A", "B", threshold=0)
    receive("A", 36)
    receive("B", 100)
    sell(pay, deliver, "O1", "A", 30)  # 1/day over 30 days: safety stock 3; 6 left
    sell(pay, deliver, "O2", "B", 30)
    assert handlers.check_safety_stock(db) == 0
    sell(pay, deliver, "O3", "A", 3)  # 33 sold: 1.1/day, safety 3.3; 3 left
    assert handlers.check_safety_stock(db) == 1
    assert handlers.check_safety_stock(db) == 0  # still low: not again
    [alert] = events("inventory.SafetyStockLow")
    assert alert["shop_id"] == SHOP and alert["sku_code"] == "A" and alert["available"] == 3
    assert alert["average_daily_sales"] == 1.1 and alert["window_days"] == 30 and alert["cover_days"] == 3
    receive("A", 10)
    assert handlers.check_safety_stock(db) == 0  # above again: re-armed
    sell(pay, deliver, "O4", "A", 10)
    assert handlers.check_safety_stock(db) == 1
    assert [e["sku_code"] for e in events("inventory.SafetyStockLow")] == ["A", "A"]
    config.clock.advance(days=31)  # the sales left the window: A no longer sells, no safety stock
    assert handlers.check_safety_stock(db) == 0


def declare(deliver, period_id="PP1", starts="2026-11-11T00:00:00Z", ends="2026-11-12T00:00:00Z", version=1):
    payload = {"period_id": period_id, "name": "双11", "starts_at": starts, "ends_at": ends, "version": version}
    deliver("marketing.PromotionPeriodDeclared", payload)


def test_the_pre_promotion_report_lists_skus_with_less_than_15_days_of_cover(
    client, config, list_sku, receive, pay, deliver
):
    list_sku("A", "B", "C", threshold=0)
    receive("A", 40)
    receive("B", 100)
    receive("C", 5)
    sell(pay, deliver, "O1", "A", 30)  # 1/day, 10 left: 10 days
    sell(pay, deliver, "O2", "B", 30)  # 1/day, 70 left: 70 days
    none = client.get("/api/v1/reports/promotion-cover", headers=WH).get_json()
    assert none["period"] is None and none["items"] == [] and none["cover_days"] == 15
    starts = config.clock.now() + timedelta(days=10)
    declare(deliver, starts=iso(starts), ends=iso(starts + timedelta(days=1)))
    report = client.get("/api/v1/reports/promotion-cover?period_id=PP1", headers=WH).get_json()
    assert report["period"]["name"] == "双11" and report["period"]["starts_at"] == iso(starts)
    assert report["period"]["days_to_start"] == 10
    assert [(i["sku_code"], i["days_of_cover"], i["needed_units"]) for i in report["items"]] == [("A", 10, 5)]
    # the next period not over is the default; a longer cover asked for lists B too
    assert client.get("/api/v1/reports/promotion-cover", headers=WH).get_json()["period"]["period_id"] == "PP1"
    wide = client.get("/api/v1/reports/promotion-cover?cover_days=80", headers=WH).get_json()
    assert [i["sku_code"] for i in wide["items"]] == ["A", "B"]
    deliver("marketing.PromotionPeriodCancelled", {"period_id": "PP1", "version": 2})
    assert problem(client.get("/api/v1/reports/promotion-cover?period_id=PP1", headers=WH), 404)
    assert problem(client.get("/api/v1/reports/promotion-cover?cover_days=0", headers=WH), 422)
    assert problem(client.get("/api/v1/reports/promotion-cover", headers=auth("cs", shop_id=SHOP)), 403)


def test_slow_movers_and_overstock_report(client, config, list_sku, receive, pay, deliver):
    list_sku("A", "B", "C", threshold=0)
    receive("A", 200)
    receive("B", 20)
    receive("C", 5)  # never sells
    sell(pay, deliver, "O1", "A", 30)  # 1/day, 170 left: 170 days of cover -> overstock
    sell(pay, deliver, "O2", "B", 10)  # 10 left, 30 days: fine
    report = client.get("/api/v1/reports/slow-movers", headers=WH).get_json()
    assert [r["sku_code"] for r in report["slow_movers"]] == ["C"] and report["slow_movers"][0]["last_sold_at"] is None
    assert [(r["sku_code"], r["excess_units"]) for r in report["overstock"]] == [("A", 80)]
    assert (report["no_sales_days"], report["overstock_days"], report["window_days"]) == (60, 90, 30)
    config.clock.advance(days=61)  # nothing sold since: every SKU on hand is a slow mover
    report = client.get("/api/v1/reports/slow-movers", headers=WH).get_json()
    assert [(r["sku_code"], r["days_since_sale"]) for r in report["slow_movers"]] == [("A", 61), ("B", 61), ("C", None)]
    assert report["overstock"] == []
    report = client.get("/api/v1/reports/slow-movers?no_sales_days=365", headers=WH).get_json()
    assert [r["sku_code"] for r in report["slow_movers"]] == ["C"] and {r["sku_code"] for r in report["overstock"]} == {
        "A",
        "B",
    }
    problem(client.get("/api/v1/reports/slow-movers?overstock_days=-1", headers=WH), 422)
    problem(client.get("/api/v1/reports/slow-movers", headers=auth("admin")), 422)


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()
