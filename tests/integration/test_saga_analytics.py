"""A scripted day through the real saga (issue 17, item 7): two shops, new and returning buyers, a
repeat buyer, an order with postage, an unpaid order, a paid order cancelled and refunded, the
storefront's visits (one batch sent twice). Every KPI analytics reports for the day is checked
against numbers computed here by hand from what the other services answered; then tenancy (another
shop 404, finance and ops their shop, admin every shop and the platform totals), the CSV, and
`rebuild` on PostgreSQL giving back exactly the rollups the events built."""

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

    def order(sku, buyer, quantity=1, shop="S1", **extra):
        body = saga.ok(saga.place([{"sku_code": sku, "quantity": quantity}], buyer=buyer, shop=shop, **extra), 201)
        return body

    paid = {}  # order id -> (shop, buyer, payable_fen)
    for sku, buyer, qty, shop, extra in [
        ("AN-A1", "olga", 1, "S1", {}),  # returning
        ("AN-A1", "bob", 2, "S1", {}),  # bob twice: a repeat buyer
        ("AN-A2", "bob", 1, "S1", {}),
        ("AN-A2", "carol", 1, "S1", {"address": BEIJING}),  # postage outside 江浙沪
        ("AN-A1", "erin", 1, "S1", {}),  # cancelled after payment below
        ("AN-B1", "frank", 1, "S2", {}),
    ]:
        o = order(sku, buyer, qty, shop, **extra)
        saga.ok(saga.pay(o["order_id"], buyer=buyer), 201)
        paid[o["order_id"]] = (shop, buyer, o["payable_fen"])
    started = time.monotonic()
    unpaid = order("AN-A1", "dave")  # placed, never paid
    carol = next(oid for oid, (_, b, _) in paid.items() if b == "carol")
    assert paid[carol][2] > 2500, "carol's order carries postage"
    erin = next(oid for oid, (_, b, _) in paid.items() if b == "erin")
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
        # nothing dispatched or claimed yet today
        "dispatched": 0,
        "delivered": 0,
        "stalled": 0,
        "cases_opened": 0,
        "complaints_escalated": 0,
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
    assert (a1["units"], a1["paid_fen"]) == (4, 4 * 9900)  # olga 1, bob 2, erin 1; postage not in a SKU
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

    # The rollups rebuilt from the facts on PostgreSQL are the ones the events built.
    db = p["analytics"].db
    assert db.dialect == "postgresql"
    incremental = _rollups(db)
    with for_job(db, Settings) as ctx:
        operations.rebuild_rollups(ctx)
    assert _rollups(db) == incremental
    assert _kpis(saga, args).json()["kpis"] == expected
