"""The KPIs beyond sales (issue 17, item 3): NPS from reviews, fulfilment (dispatch on time, hours
to dispatch, carrier on time, per carrier), after-sales (cases by type, complaints by tier, SLA
breaches) and campaign ROI, each against numbers worked out by hand here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecom_common.clock import iso

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in China, 2026-12-01
DAY = "2026-12-01"
RANGE = {"from": DAY, "to": DAY}


def _paid(projector, order_id, *, buyer="bob", shop="S1", price=10000, discounts=(), at=T0):
    lines = [{"sku_code": "SKU-A", "quantity": 1, "unit_price_fen": price, "category_id": "c1"}]
    off = sum(d["amount_fen"] for d in discounts)
    p = projector.placed(order_id, shop_id=shop, buyer_id=buyer, lines=lines, discount_fen=off, at=at)
    p["discounts"] = [{"line": 0, "sku_code": "SKU-A", "funded_by": "shop", **d} for d in discounts]
    projector.deliver("orders.OrderPlaced", p)
    projector.deliver("orders.OrderPaid", projector.paid(p, at))
    return p


def _kpis(projector, **params):
    return projector.get("/api/v1/kpis", query_string={**RANGE, **params}).get_json()


def test_nps_is_promoters_less_detractors_of_the_scored_reviews(projector):
    # scores 10, 9, 8, 6, 0 and one review without a score: 2 promoters, 1 passive, 2 detractors
    for n, (stars, score) in enumerate([(5, 10), (5, 9), (4, 8), (3, 6), (1, 0), (4, None)]):
        review = {"review_id": f"V{n}", "order_id": f"O{n}", "shop_id": "S1", "stars": stars, "nps": score}
        projector.deliver("aftersales.OrderReviewed", {**review, "at": iso(T0)})
    projector.deliver("aftersales.OrderReviewed", {**review, "at": iso(T0)})  # a replay: counted once
    k = _kpis(projector)["kpis"]
    assert (k["reviews"], k["avg_stars"]) == (6, round(22 / 6, 2))
    assert (k["promoters"], k["passives"], k["detractors"]) == (2, 1, 2)
    assert k["nps"] == 0.0  # (2 - 2) / 5
    assert _kpis(projector, **{"from": "2026-11-30", "to": "2026-11-30"})["kpis"]["nps"] is None


def test_fulfilment_on_time_hours_and_carriers(projector):
    for n in range(4):
        _paid(projector, f"O{n}")
    dispatch = [(5, "SF"), (20, "SF"), (30, "YTO"), (10, "YTO")]  # hours after payment; deadline 24 h
    deliver = [20, 80, 40, None]  # hours after dispatch; the promise is 72 h
    for n, ((hours, carrier), transit) in enumerate(zip(dispatch, deliver, strict=True)):
        ship = {"shipment_id": f"SH{n}", "order_id": f"O{n}", "shop_id": "S1", "carrier": "SF"}
        projector.deliver("logistics.ShipmentCreated", {**ship, "dispatch_by": iso(T0 + timedelta(hours=24))}, at=T0)
        sent = {**ship, "carrier": carrier, "tracking_no": f"T{n}", "lines": [{"sku_code": "SKU-A", "quantity": 1}]}
        projector.deliver("logistics.ShipmentDispatched", sent, at=T0 + timedelta(hours=hours))
        if transit is not None:
            at = T0 + timedelta(hours=hours + transit)
            projector.deliver("logistics.ShipmentDelivered", {**ship, "delivered_at": iso(at)})
    projector.deliver("logistics.ShipmentStalled", {"shipment_id": "SH3", "order_id": "O3", "shop_id": "S1"}, at=T0)
    week = {"from": DAY, "to": "2026-12-07"}
    body = _kpis(projector, **week)
    k = body["kpis"]
    assert (k["dispatched"], k["dispatch_on_time_rate"]) == (4, 0.75)  # 30 h is late
    assert k["dispatch_hours"] == round((5 + 20 + 30 + 10) / 4, 2)
    assert (k["delivered"], k["carrier_on_time_rate"]) == (3, round(2 / 3, 4))  # 80 h is past the promise
    assert body["breakdowns"]["carriers"] == [
        {
            "carrier": "SF",
            "dispatched": 2,
            "delivered_timed": 2,
            "delivered_on_time": 1,
            "stalled": 0,
            "on_time_rate": 0.5,
        },
        {
            "carrier": "YTO",
            "dispatched": 2,
            "delivered_timed": 1,
            "delivered_on_time": 1,
            "stalled": 1,
            "on_time_rate": 1.0,
        },
    ]


def test_cases_complaints_by_tier_and_sla_breaches(projector):
    for n, kind in enumerate(["return", "return", "refund_only"]):
        case = {"case_id": f"C{n}", "order_id": f"O{n}", "shop_id": "S1", "case_type": kind}
        projector.deliver("aftersales.CaseRequested", case, at=T0)
    general = {"complaint_id": "K1", "shop_id": "S1", "order_id": "O1", "tier": "general"}
    crisis = {"complaint_id": "K2", "shop_id": "S1", "order_id": "O2", "tier": "crisis"}
    projector.deliver("aftersales.ComplaintFiled", {**general, "at": iso(T0)})
    projector.deliver("aftersales.ComplaintEscalated", general, at=T0 + timedelta(hours=3))
    projector.deliver("aftersales.ComplaintEscalated", general, at=T0 + timedelta(hours=5))  # a second breach
    # the crisis' escalation (same transaction as its filing) overtakes it
    projector.deliver("aftersales.ComplaintEscalated", crisis, at=T0)
    projector.deliver("aftersales.ComplaintFiled", {**crisis, "at": iso(T0)})
    projector.deliver("aftersales.ComplaintFiled", {**crisis, "at": iso(T0)})
    for ref, kind in [("C0", "case"), ("K1", "complaint"), ("V1", "review")]:
        breach = {"kind": kind, "ref_id": ref, "shop_id": "S1", "milestone": "first_response"}
        projector.deliver("aftersales.ServiceClockBreached", breach, at=T0)
    projector.deliver("aftersales.ServiceClockBreached", breach, at=T0)  # the same clock again
    body = _kpis(projector)
    k, b = body["kpis"], body["breakdowns"]
    assert (k["cases_opened"], k["complaints_filed"], k["complaints_escalated"], k["sla_breaches"]) == (3, 2, 2, 3)
    assert b["cases_by_type"] == {"refund_only": 1, "return": 2}
    assert b["complaints_by_tier"] == {"crisis": 1, "general": 1}
    assert b["escalations_by_tier"] == {"crisis": 1, "general": 1}
    assert b["sla_breaches_by_kind"] == {"case": 1, "complaint": 1, "review": 1}
    s2 = projector.get("/api/v1/kpis", query_string=RANGE, shop_id="S2").get_json()["kpis"]
    assert (s2["sla_breaches"], s2["complaints_filed"]) == (0, 0)


def test_campaign_roi_per_promotion_and_coupon_source(projector):
    promo = {"source": "full_reduction", "ref": "P1", "amount_fen": 3000}
    _paid(projector, "O1", price=20000, discounts=[promo])  # pays 17000
    _paid(projector, "O2", price=30000, discounts=[promo, {"source": "shop_coupon", "ref": "CL9", "amount_fen": 1000}])
    _paid(projector, "O3", price=5000, discounts=[{"source": "points", "ref": None, "amount_fen": 500}])
    unpaid = projector.placed("O4", discount_fen=3000, at=T0)
    unpaid["discounts"] = [{"line": 0, "sku_code": "SKU-A", "funded_by": "shop", **promo}]
    projector.deliver("orders.OrderPlaced", unpaid)  # never paid: neither attributed nor spent
    _paid(
        projector, "X1", shop="S2", price=9000, discounts=[{"source": "full_reduction", "ref": "P9", "amount_fen": 900}]
    )
    body = projector.get("/api/v1/campaigns/roi", query_string=RANGE).get_json()
    assert body["campaigns"] == [
        {
            "shop_id": "S1",
            "source": "full_reduction",
            "ref": "P1",
            "orders": 2,
            "attributed_fen": 17000 + 26000,
            "spend_fen": 6000,
            "roi": round(43000 / 6000, 2),
            "meets_target": True,
        },
        {
            "shop_id": "S1",
            "source": "shop_coupon",
            "ref": None,  # a coupon row names the buyer's claim: coupons count per source
            "orders": 1,
            "attributed_fen": 26000,
            "spend_fen": 1000,
            "roi": 26.0,
            "meets_target": True,
        },
    ]
    assert body["total"] == {"attributed_fen": 69000, "spend_fen": 7000, "roi": round(69000 / 7000, 2)}
    assert projector.get("/api/v1/campaigns/roi", query_string={**RANGE, "shop_id": "S2"}).status_code == 404
    platform = projector.get("/api/v1/campaigns/roi", query_string=RANGE, role="admin", shop_id=None).get_json()
    assert [(r["shop_id"], r["ref"]) for r in platform["campaigns"]] == [("S1", "P1"), ("S1", None), ("S2", "P9")]
    csv = projector.get("/api/v1/campaigns/roi", query_string={**RANGE, "format": "csv"})
    text = csv.get_data().decode("utf-8")
    assert csv.mimetype == "text/csv" and text.startswith("\ufeffshop_id,source,ref,orders")
    assert "S1,full_reduction,P1,2,43000,6000,7.17,true\r\n" in text and "S1,total,,,69000,7000,9.86,true" in text
