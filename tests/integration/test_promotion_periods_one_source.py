"""One source of promotion periods, over the real RabbitMQ and PostgreSQL: admin declares a period on
marketing; logistics, aftersales and inventory copy it from marketing.PromotionPeriodDeclared (seen in
logistics' period list, inventory's pre-promotion report and aftersales' table); a cancellation on
marketing takes it out everywhere."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ecom_testkit import Platform, eventually

pytestmark = pytest.mark.integration

PERIOD = {"name": "双11", "starts_at": "2030-11-01T00:00:00Z", "ends_at": "2030-11-12T00:00:00Z"}


def aftersales_copy(platform, period_id):
    with platform["aftersales"].db.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT name, cancelled FROM promotion_periods WHERE period_id = :p"), {"p": period_id}
        ).first()
    return None if row is None else (row.name, bool(row.cancelled))


def test_a_period_declared_on_marketing_reaches_every_copy():
    with Platform(["marketing", "logistics", "aftersales", "inventory"]) as p:
        declared = p["marketing"].post("/api/v1/promotion-periods", role="admin", sub="root", json=PERIOD)
        assert declared.status_code == 201, declared.text
        pid = declared.json()["period_id"]

        def logistics_names():
            items = p["logistics"].get("/api/v1/promotion-periods", role="warehouse", shop_id="S1").json()["items"]
            return [i["name"] for i in items]

        eventually(lambda: logistics_names() == ["双11"], timeout=60, message="logistics copied the period")
        eventually(lambda: aftersales_copy(p, pid) == ("双11", False), timeout=60, message="aftersales copied it")
        report = eventually(
            lambda: (
                p["inventory"]
                .get(f"/api/v1/reports/promotion-cover?period_id={pid}", role="ops", shop_id="S1")
                .json()
                .get("period")
            ),
            timeout=60,
            message="inventory copied it",
        )
        assert report["name"] == "双11" and report["starts_at"] == PERIOD["starts_at"]

        cancelled = p["marketing"].post(f"/api/v1/promotion-periods/{pid}/cancel", role="admin", sub="root")
        assert cancelled.status_code == 200, cancelled.text
        eventually(lambda: logistics_names() == [], timeout=60, message="logistics dropped it")
        eventually(lambda: aftersales_copy(p, pid) == ("双11", True), timeout=60, message="aftersales marked it")
        eventually(
            lambda: (
                p["inventory"]
                .get(f"/api/v1/reports/promotion-cover?period_id={pid}", role="ops", shop_id="S1")
                .status_code
                == 404
            ),
            timeout=60,
            message="inventory no longer reports on it",
        )
