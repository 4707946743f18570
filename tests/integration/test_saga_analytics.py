"""A scripted day through the real saga (issue 17, item 7): two shops, new and returning buyers, a
repeat buyer, an order with postage, an order under a 满减 promotion, an unpaid order, a paid order
cancelled and refunded, the storefront's visits (one batch sent twice). Every KPI analytics reports
for the day, and the promotion's ROI, is checked against numbers computed here by hand from what the
other services answered; then tenancy (another shop 404, finance and ops their shop, admin every shop
and the platform totals), the CSV; then the day goes on: two parcels dispatched and delivered, two
reviews with their 0-10 scores, a general and a crisis complaint whose first-response clocks run out,
and the fulfilment, after-sales and NPS figures are checked by hand too; last, `rebuild` on
PostgreSQL gives back exactly the rollups the events built."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from analytics import domain, operations
from analytics.models import ROLLUPS
from analytics.settings import Settings
from ecom_common.usecase import for_job
from ecom_testkit import eventually
from ecom_testkit.saga import ADDRESS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BEIJING = {**ADDRESS, "province": "北京", "city": "北京", "district": "朝阳区", "street": "建国路"}


def _kpis(saga, params, role="ops", shop_id="S1", sub="olivia"):
    return saga["analytics"].get("/api/v1/kpis", role=role, sub=sub, shop_id=shop_id, params=params)


def _own_phone(address: dict, n: int) -> dict:
    """The address with a phone of its own: three orders from one phone within an hour are held."""
    return {**address, "phone": f"1390000{n:04d}"}


def _rollups(db) -> dict:
    with db.engine.connect() as conn:
        return {m.__tablename__: sorted(map(tuple, conn.execute(sa.select(m.__table__)))) for m in ROLLUPS}


def test_a_scripted_day_gives_the_kpis_computed_by_hand(saga):
    p = saga.p
    saga.product("AN-A1", price_fen=9900, stock=20)
    saga.product("AN-A2", price_fen=2500, stock=20)
    saga.product("AN-B1", price_fen=5000, stock=20, shop="S2")

    # Two days ago olga paid in S1: today she is an old buyer (paid in the 365 days before).
    p.clock.advance(days=-2)
    try:
        old = saga.placed_and_paid("AN-A1", buyer="olga")
        saga.wait_status(old, "awaiting_shipment")
    finally:
        p.clock.advance(days=2)
    today = domain.day_of(p.clock.now(), 8)
    now = p.clock.now()
    promo = {"shop_id": "S1", "kind": "full_reduction", "name": "满150减20"}
    promo |= {"tiers": [{"threshold_fen": 15000, "reduction_fen": 2000}]}
    promo |= {"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat()}
    saga.ok(p["marketing"].post("/api/v1/promotions", json=promo, shop_id="S1"), 201)

    def order(sku, buyer, quantity=1, shop="S1", **extra):
        body = saga.ok(saga.place([{"sku_code": sku, "quantity": quantity}], buyer=buyer, shop=shop, **extra), 201)
        return body

    paid = {}  # order id -> (shop, buyer, payable_fen)
    discounts = {}  # order id -> its discount rows
    for sku, buyer, qty, shop, extra in [
        ("AN-A1", "olga", 1, "S1", {"address": _own_phone(ADDRESS, 1)}),  # returning
        ("AN-A1", "bob", 2, "S1", {}),  # bob twice: a repeat buyer; 198 yuan: 满150减20
        ("AN-A2", "bob", 1, "S1", {}),
        ("AN-A2", "carol", 1, "S1", {"address": _own_phone(BEIJING, 2)}),  # postage outside 江浙沪
        ("AN-A1", "erin", 1, "S1", {}),  # cancelled after payment below
        ("AN-B1", "frank", 1, "S2", {}),
    ]:
        o = order(sku, buyer, qty, shop, **extra)
        saga.ok(saga.pay(o["order_id"], buyer=buyer), 201)
        paid[o["order_id"]] = (shop, buyer, o["payable_fen"])
        discounts[o["order_id"]] = o["discounts"]
    started = time.monotonic()
    unpaid = order("AN-A1", "dave")  # placed, never paid
    carol = next(oid for oid, (_, b, _) in paid.items() if b == "carol")
    assert paid[carol][2] > 2500, "carol's order carries postage"
    erin = next(oid for oid, (_, b, _) in paid.items() if b == "erin")
    olga = next(oid for oid, (_, b, _) in paid.items() if b == "olga")
    bob1 = next(oid for oid, (_, b, _) in paid.items() if b == "bob")
    # only bob's first order reaches 满150: its one line takes the whole 20 yuan
    assert {oid: [(d["source"], d["amount_fen"]) for d in rows] for oid, rows in discounts.items() if rows} == {
        bob1: [("full_reduction", 2000)]
    }
    promotion_ref = discounts[bob1][0]["ref"]
    saga.wait_status(erin, "awaiting_shipment", "on_hold")  # a repeated recipient may be held
    saga.ok(
        p["orders"].post(
            f"/api/v1/orders/{erin}/cancel",
            role="buyer",
            sub="erin",
            json={"reason": "不要了"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    )

    now = p.clock.now()
    s1_views = [
        {"event_id": f"an-{n}", "visitor_id": v, "shop_id": "S1", "page": "product", "at": now.isoformat()}
        for n, v in enumerate(["olga", "bob", "bob", "carol", "dave", "erin", "v7", "v7", "v8", "bob"])
    ]
    s2_views = [
        {"event_id": f"an-s2-{n}", "visitor_id": v, "shop_id": "S2", "page": "home", "at": now.isoformat()}
        for n, v in enumerate(["frank", "frank", "v9"])
    ]
    for batch in (s1_views, s2_views, s1_views):  # the storefront resends a batch
        saga.ok(p["analytics"].post("/api/v1/visits", role="service", sub="storefront", json={"visits": batch}), 202)

    # By hand, S1 today: olga, bob x2, carol, erin paid; dave did not; erin refunded in full.
    s1 = [v for v in paid.values() if v[0] == "S1"]
    paid_fen = sum(v[2] for v in s1)
    refund_fen = paid[erin][2]
    expected = {
        "paid_fen": paid_fen,
        "paid_orders": 5,
        "paying_buyers": 4,
        "aov_fen": int(paid_fen / 4 + 0.5),
        "uv": 7,  # olga, bob, carol, dave, erin, v7, v8
        "pv": 10,
        "conversion": round(4 / 7, 4),
        "refund_fen": refund_fen,
        "refunds": 1,
        "refund_rate": round(refund_fen / paid_fen, 4),
        "new_buyers": 3,  # bob, carol, erin (olga paid two days ago)
        "new_buyer_share": 0.75,
        "repeat_buyers": 1,  # bob
        "repurchase_rate": 0.25,
        "placed_orders": 6,
        "cancelled_orders": 1,
        # nothing dispatched, claimed or reviewed yet today
        "dispatched": 0,
        "delivered": 0,
        "stalled": 0,
        "dispatch_on_time_rate": None,
        "dispatch_hours": None,
        "carrier_on_time_rate": None,
        "cases_opened": 0,
        "complaints_filed": 0,
        "complaints_escalated": 0,
        "sla_breaches": 0,
        "reviews": 0,
        "avg_stars": None,
        "nps": None,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
    }
    args = {"from": today.isoformat(), "to": today.isoformat()}
    body = eventually(
        lambda: (b := _kpis(saga, args).json())["kpis"] == expected and b,
        timeout=60,
        message=f"S1's KPIs of the day reach {expected}",
    )
    print(f"analytics caught up {time.monotonic() - started:.2f} s after the last payment")
    assert body["previous"]["paid_fen"] == 0 and body["change"]["paid_fen"] is None
    a1 = next(s for s in body["top_skus"] if s["sku_code"] == "AN-A1")
    # olga 1, bob 2 (less the 20 yuan 满减), erin 1; postage not in a SKU
    assert (a1["units"], a1["paid_fen"]) == (4, 4 * 9900 - 2000)
    assert body["top_skus"][0]["sku_code"] == "AN-A1"
    assert [d["paid_fen"] for d in body["series"]] == [paid_fen]
    unpaid_fact = unpaid["order_id"]
    assert unpaid_fact not in str(body)

    # Three days: olga's earlier order counts, she is a new buyer of that range and a repeat one.
    three = _kpis(saga, {"from": (today - timedelta(days=2)).isoformat(), "to": today.isoformat()}).json()["kpis"]
    old_payable = saga.order(old)["payable_fen"]
    assert (three["paid_fen"], three["paid_orders"], three["repeat_buyers"]) == (paid_fen + old_payable, 6, 2)

    # Tenancy: S2's finance reads S2; S1's ops asking for S2 gets 404; admin reads both and the platform.
    s2 = _kpis(saga, args, role="finance", shop_id="S2", sub="fiona").json()["kpis"]
    assert (s2["paid_fen"], s2["paying_buyers"], s2["uv"], s2["pv"]) == (5000, 1, 2, 3)
    hidden = _kpis(saga, {**args, "shop_id": "S2"})
    assert hidden.status_code == 404 and "5000" not in hidden.text
    admin_s2 = _kpis(saga, {**args, "shop_id": "S2"}, role="admin", shop_id=None, sub="root").json()["kpis"]
    assert admin_s2 == s2
    platform = _kpis(saga, args, role="admin", shop_id=None, sub="root").json()
    assert platform["shop_id"] is None
    assert (platform["kpis"]["paid_fen"], platform["kpis"]["paying_buyers"]) == (paid_fen + 5000, 5)

    csv = _kpis(saga, {**args, "format": "csv"})
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.content.startswith("\ufeff".encode())
    assert f"S1,{today.isoformat()},{paid_fen},5,4," in csv.content.decode("utf-8")

    # Campaign ROI: the promotion's one paid order, its paid amount against the 20 yuan it gave.
    roi = saga["analytics"].get("/api/v1/campaigns/roi", role="ops", sub="olivia", shop_id="S1", params=args).json()
    attributed = paid[bob1][2]
    assert roi["campaigns"] == [
        {
            "shop_id": "S1",
            "source": "full_reduction",
            "ref": promotion_ref,
            "orders": 1,
            "attributed_fen": attributed,
            "spend_fen": 2000,
            "roi": round(attributed / 2000, 2),
            "meets_target": True,
        }
    ]

    # The day goes on: olga's and carol's parcels dispatched and delivered, both review (10: a
    # promoter, 7: a passive); carol files a general complaint, bob a crisis one (escalated at once);
    # 20 minutes later both complaints' first-response clocks (15 min) have run out.
    carriers: dict[str, int] = {}
    for n, (oid, buyer, stars, score) in enumerate([(olga, "olga", 5, 10), (carol, "carol", 3, 7)]):
        saga.wait_status(oid, "awaiting_shipment")
        tracking_no = f"AN{n}{uuid.uuid4().int % 10**10:010d}"
        shipment = saga.dispatch(saga.shipment_for(oid)["shipment_id"], tracking_no)
        carriers[shipment["carrier"]] = carriers.get(shipment["carrier"], 0) + 1
        assert saga.carrier_reports(shipment["carrier"], tracking_no, "delivered").status_code == 200
        saga.wait_status(oid, "delivered")
        review = {"order_id": oid, "stars": stars, "nps": score}
        saga.ok(p["aftersales"].post("/api/v1/reviews", role="buyer", sub=buyer, json=review), 201)
    bob2 = next(oid for oid, (_, b, _) in paid.items() if b == "bob" and oid != bob1)
    for buyer, oid, tier in [("carol", carol, "general"), ("bob", bob2, "crisis")]:
        complaint = {"order_id": oid, "tier": tier, "text": "包装破损"}
        saga.ok(p["aftersales"].post("/api/v1/complaints", role="buyer", sub=buyer, json=complaint), 201)
    p.clock.advance(minutes=20)
    assert p.run_job("aftersales", "escalate-service-clocks") == 2
    # today and tomorrow: the 20 minutes may have crossed midnight in China
    two_days = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    later = {
        **expected,
        "dispatched": 2,
        "delivered": 2,
        "dispatch_on_time_rate": 1.0,  # dispatched at once, well before payment + 24 h
        "carrier_on_time_rate": 1.0,  # delivered at once, within the 72 h promise
        "complaints_filed": 2,
        "complaints_escalated": 1,  # the crisis
        "sla_breaches": 2,
        "reviews": 2,
        "avg_stars": 4.0,
        "nps": 50.0,  # (1 promoter - 0 detractors) / 2 scores
        "promoters": 1,
        "passives": 1,
    }
    body = eventually(
        lambda: (b := _kpis(saga, two_days).json())["kpis"] | {"dispatch_hours": None} == later and b,
        timeout=60,
        message=f"S1's KPIs after the day's fulfilment and after-sales reach {later}",
    )
    assert 0 <= body["kpis"]["dispatch_hours"] < 1  # paid and dispatched within the test's minutes
    assert body["breakdowns"] | {"carriers": None} == {
        "cases_by_type": {},
        "complaints_by_tier": {"crisis": 1, "general": 1},
        "escalations_by_tier": {"crisis": 1},
        "sla_breaches_by_kind": {"complaint": 2},
        "carriers": None,
    }
    assert {
        c["carrier"]: (c["dispatched"], c["delivered_on_time"], c["on_time_rate"])
        for c in body["breakdowns"]["carriers"]
    } == {code: (n, n, 1.0) for code, n in carriers.items()}

    # The rollups rebuilt from the facts on PostgreSQL are the ones the events built.
    db = p["analytics"].db
    assert db.dialect == "postgresql"
    incremental = _rollups(db)
    with for_job(db, Settings) as ctx:
        operations.rebuild_rollups(ctx)
    assert _rollups(db) == incremental
    assert _kpis(saga, two_days).json()["kpis"] == body["kpis"]
