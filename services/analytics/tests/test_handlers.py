"""The projection: each event sets its fact once and adds to the rollups once; the rollups rebuilt
from the facts equal the ones kept event by event (issue 17, item 1)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from analytics.models import OrderFact, ShopDay, SkuDay
from ecom_common.clock import iso
from ecom_common.consumer import Outcome
from ecom_common.errors import RetryLater

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in China, 2026-12-01


def _shop_day(db, shop, day):
    with db.Session() as s:
        row = s.get(ShopDay, (shop, datetime.fromisoformat(day).date()))
        return {c: getattr(row, c) for c in ("paid_fen", "paid_orders", "placed_orders", "refund_fen", "refunds")}


def test_paid_amount_includes_postage_and_counts_on_the_chinese_day(projector, db):
    p = projector.placed("O1", shipping_fen=1000, discount_fen=500, at=T0)
    projector.deliver("orders.OrderPlaced", p)
    # 17:30 UTC is 01:30 the next morning in China: the payment is the 2nd's.
    projector.deliver("orders.OrderPaid", projector.paid(p, T0 + timedelta(hours=15, minutes=30)))
    assert _shop_day(db, "S1", "2026-12-02") == {
        "paid_fen": 10500,
        "paid_orders": 1,
        "placed_orders": 0,
        "refund_fen": 0,
        "refunds": 0,
    }
    assert _shop_day(db, "S1", "2026-12-01")["placed_orders"] == 1
    with db.Session() as s:
        sku = s.execute(sa.select(SkuDay)).scalar_one()
        # the SKU's paid amount is its price less the discount, without postage
        assert (sku.sku_code, sku.paid_fen, sku.units, str(sku.day)) == ("SKU-A", 9500, 1, "2026-12-02")


def test_a_refund_counts_on_its_own_day_and_never_reduces_the_paid_amount(projector, db):
    p = projector.placed("O1", at=T0)
    projector.deliver("orders.OrderPlaced", p)
    projector.deliver("orders.OrderPaid", projector.paid(p, T0))
    refund = {"order_id": "O1", "shop_id": "S1", "refund_id": "R1", "amount_fen": 4000, "kind": "aftersales"}
    projector.deliver("billing.RefundSucceeded", refund, at=T0 + timedelta(days=2))
    assert _shop_day(db, "S1", "2026-12-01")["paid_fen"] == 10000
    assert _shop_day(db, "S1", "2026-12-03")["refund_fen"] == 4000
    # the same refund again (a replayed dead letter: a new event id) adds nothing
    projector.deliver("billing.RefundSucceeded", refund, at=T0 + timedelta(days=2))
    assert _shop_day(db, "S1", "2026-12-03")["refunds"] == 1
    with db.Session() as s:
        assert s.get(OrderFact, "O1").refunded_fen == 4000


def test_a_late_payment_refund_is_not_a_refund_of_a_sale(projector, db):
    p = projector.placed("O1", at=T0)
    projector.deliver("orders.OrderPlaced", p)
    late = {"order_id": "O1", "shop_id": "S1", "refund_id": "R9", "amount_fen": 10000, "kind": "late_payment"}
    projector.deliver("billing.RefundSucceeded", late, at=T0)
    assert _shop_day(db, "S1", "2026-12-01")["refunds"] == 0


def test_paid_before_placed_is_retried_and_then_counted_once(projector, db):
    p = projector.placed("O1", at=T0)
    try:
        projector.deliver("orders.OrderPaid", projector.paid(p, T0))
    except RetryLater:
        pass
    else:
        raise AssertionError("OrderPaid before OrderPlaced must be retried")
    projector.deliver("orders.OrderPlaced", p)
    assert projector.deliver("orders.OrderPaid", projector.paid(p, T0)) == Outcome.HANDLED
    assert projector.deliver("orders.OrderPaid", projector.paid(p, T0)) == Outcome.HANDLED  # a second event, same order
    assert _shop_day(db, "S1", "2026-12-01")["paid_orders"] == 1


def test_the_same_event_twice_is_handled_once(projector):
    from ecom_common.events import make_event

    event = make_event("orders.OrderPlaced", projector.placed("O1", at=T0))
    assert projector.consumer.handle(event) == Outcome.HANDLED
    assert projector.consumer.handle(event) == Outcome.DUPLICATE


def _random_history(projector, seed: int) -> None:
    """Two shops, six buyers, a hundred orders over ten days: placed (some with promotions, coupons,
    points), most paid, some cancelled or refunded (partly, twice), shipped (on time or late, some
    without a deadline, some dispatched before their creation arrives, by another carrier), delivered
    (within the promise or not), stalled, reviewed, cases (some breaching their clock) and complaints
    (filed, escalated, in either order); some events sent twice under new ids; every order of several
    lines, some of the same SKU."""
    rng = random.Random(seed)
    skus = [("SKU-A", "c1", 9900), ("SKU-B", "c1", 2500), ("SKU-C", "c2", 120000), ("SKU-D", None, 100)]
    for n in range(100):
        shop = rng.choice(["S1", "S2"])
        at = T0 + timedelta(hours=rng.randrange(0, 240), minutes=rng.randrange(60))
        lines = [
            {"sku_code": s, "quantity": rng.randint(1, 3), "unit_price_fen": price, "category_id": cat}
            for s, cat, price in rng.sample(skus, rng.randint(1, 3))
        ]
        if rng.random() < 0.2:
            lines.append(dict(lines[0]))  # the same SKU on two lines
        p = projector.placed(
            f"O{n}",
            shop_id=shop,
            buyer_id=f"b{rng.randrange(6)}",
            lines=lines,
            shipping_fen=rng.choice([0, 1000]),
            discount_fen=rng.choice([0, 0, 300, 2000]),
            at=at,
        )
        if p["discount_fen"]:  # the discount's rows: a promotion, a coupon (a claim), maybe points
            split = [("full_reduction", rng.choice(["P1", "P2"])), ("shop_coupon", f"CL{n}"), ("points", None)]
            parts = rng.sample(split, rng.randint(1, 3))
            share = p["discount_fen"] // len(parts)
            p["discounts"] = [
                {"line": 0, "sku_code": lines[0]["sku_code"], "source": source, "ref": ref, "funded_by": "shop"}
                | {"amount_fen": share + (p["discount_fen"] - share * len(parts) if k == 0 else 0)}
                for k, (source, ref) in enumerate(parts)
            ]
        views = [
            {
                "event_id": f"V{n}-{v}",
                "visitor_id": rng.choice([p["buyer_id"], f"anon{rng.randrange(20)}"]),
                "shop_id": shop,
                "page": "product",
                "at": iso(at - timedelta(minutes=v)),
            }
            for v in range(rng.randint(1, 4))
        ]
        for _ in range(rng.choice([1, 1, 2])):  # a batch the storefront resends
            assert projector.post("/api/v1/visits", json={"visits": views}).status_code == 202
        projector.deliver("orders.OrderPlaced", p)
        if rng.random() < 0.15:
            projector.deliver("orders.OrderCancelled", {"order_id": p["order_id"], "shop_id": shop}, at=at)
            continue
        if rng.random() < 0.1:
            continue  # never paid
        paid_at = at + timedelta(minutes=rng.randrange(1, 600))
        for _ in range(rng.choice([1, 1, 2])):
            projector.deliver("orders.OrderPaid", projector.paid(p, paid_at))
        ship = {"shipment_id": f"SH{n}", "order_id": p["order_id"], "shop_id": shop, "carrier": "SF"}
        created = {**ship, "dispatch_by": iso(paid_at + timedelta(hours=24))}
        if rng.random() < 0.1:
            created.pop("dispatch_by")  # an older logistics: no deadline known
        dispatched = {**ship, "tracking_no": f"T{n}", "lines": [{"sku_code": "x", "quantity": 1}]}
        dispatched["carrier"] = rng.choice(["SF", "SF", "YTO"])  # the warehouse may choose another
        dispatched_at = paid_at + timedelta(hours=rng.choice([5, 20, 30]))
        if rng.random() < 0.1:  # a retry: the dispatch overtakes the creation
            projector.deliver("logistics.ShipmentDispatched", dispatched, at=dispatched_at)
            projector.deliver("logistics.ShipmentCreated", created, at=paid_at)
        else:
            projector.deliver("logistics.ShipmentCreated", created, at=paid_at)
            projector.deliver("logistics.ShipmentDispatched", dispatched, at=dispatched_at)
        if rng.random() < 0.2:
            projector.deliver("logistics.ShipmentStalled", ship, at=paid_at + timedelta(days=3))
        if rng.random() < 0.8:
            delivered_at = dispatched_at + timedelta(hours=rng.choice([20, 60, 80]))
            projector.deliver("logistics.ShipmentDelivered", ship, at=delivered_at)
            if rng.random() < 0.5:
                review = {"review_id": f"V{n}", "order_id": p["order_id"], "shop_id": shop}
                review |= {"stars": rng.randint(1, 5), "nps": rng.choice([None, *range(11)])}
                for _ in range(rng.choice([1, 2])):
                    projector.deliver("aftersales.OrderReviewed", {**review, "at": iso(delivered_at)})
        for r in range(rng.choice([0, 0, 0, 1, 2])):
            refund = {
                "order_id": p["order_id"],
                "shop_id": shop,
                "refund_id": f"R{n}-{r}",
                "amount_fen": rng.randint(1, max(1, p["payable_fen"] // 2)),
                "kind": "aftersales",
            }
            for _ in range(rng.choice([1, 2])):
                projector.deliver("billing.RefundSucceeded", refund, at=paid_at + timedelta(days=r + 1))
        if rng.random() < 0.2:
            case = {"case_id": f"C{n}", "order_id": p["order_id"], "shop_id": shop}
            case["case_type"] = rng.choice(["return", "refund_only", "exchange"])
            projector.deliver("aftersales.CaseRequested", case, at=paid_at + timedelta(days=1))
            projector.deliver("aftersales.CaseClosed", {**case, "outcome": "refunded"}, at=paid_at + timedelta(days=4))
            if rng.random() < 0.5:
                breach = {"kind": "case", "ref_id": case["case_id"], "shop_id": shop, "milestone": "solution"}
                for _ in range(rng.choice([1, 2])):
                    projector.deliver("aftersales.ServiceClockBreached", breach, at=paid_at + timedelta(days=2))
        if rng.random() < 0.25:
            complaint = {"complaint_id": f"K{n}", "shop_id": shop, "order_id": p["order_id"]}
            complaint["tier"] = rng.choice(["general", "serious", "crisis"])
            filed = {**complaint, "at": iso(paid_at + timedelta(days=1))}
            escalations = rng.choice([0, 1, 2])
            if rng.random() < 0.5:  # filed then escalated, or (a retry) the other way round
                projector.deliver("aftersales.ComplaintFiled", filed)
            for e in range(escalations):
                projector.deliver("aftersales.ComplaintEscalated", complaint, at=paid_at + timedelta(days=1 + e))
            for _ in range(rng.choice([1, 1, 2])):
                projector.deliver("aftersales.ComplaintFiled", filed)


def test_rebuilt_rollups_equal_the_incremental_ones(projector, db):
    _random_history(projector, seed=17)
    incremental = projector.rollups()
    assert all(incremental.values()), {k: len(v) for k, v in incremental.items()}
    counts = projector.rebuild()
    assert projector.rollups() == incremental
    assert counts["shop_day"] == len(incremental["shop_day"])
    # and rebuilding again changes nothing
    projector.rebuild()
    assert projector.rollups() == incremental


def test_incremental_rollups_hold_exactly_the_facts_sums(projector, db):
    """The shop-day paid amounts are the order facts' paid amounts, grouped by hand."""
    _random_history(projector, seed=3)
    with db.Session() as s:
        expected: dict = {}
        for o in s.execute(sa.select(OrderFact).where(OrderFact.paid_day.is_not(None))).scalars():
            key = (o.shop_id, o.paid_day)
            expected[key] = expected.get(key, 0) + o.paid_fen
        got = {(r.shop_id, r.day): r.paid_fen for r in s.execute(sa.select(ShopDay)).scalars() if r.paid_fen}
    assert got == expected


def test_migrations_match_the_models(db):
    """models.py and migrations/ describe the same tables (alembic autogenerate finds nothing)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from analytics.models import metadata
    from ecom_common.db import common_metadata

    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, [metadata, common_metadata]) == []
