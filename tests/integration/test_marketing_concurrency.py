"""marketing's counters under concurrency, on the real PostgreSQL (issue 16, "Proven"): over real
HTTP for quotes and claims, through the real consumer for payments.

The anchors' bugs: Saleor #544 and mall #1003, one coupon used by several concurrent orders; a
template's quantity overrun by read-then-write. marketing moves every counter by conditional
UPDATE (services/marketing/README.md, "Concurrency"): these tests race many requests for one row.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from ecom_testkit import Platform, recorded_events
from marketing.models import CouponClaim, CouponTemplate

pytestmark = pytest.mark.integration

LINES = [{"sku_code": "A", "quantity": 1, "list_price_fen": 30000}]


@pytest.fixture
def marketing():
    with Platform(["marketing"], workers=False) as p:
        yield p["marketing"]


def template(marketing, total: int, per_buyer: int = 1) -> str:
    body = {"name": "满200减20", "threshold_fen": 20000, "reduction_fen": 2000, "valid_days": 7}
    resp = marketing.post(
        "/api/v1/coupon-templates",
        role="ops",
        sub="olga",
        shop_id="S1",
        json={**body, "total_quantity": total, "per_buyer_limit": per_buyer},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["template_id"]


def test_fifty_orders_racing_for_one_single_use_claim_lock_it_exactly_once(marketing):
    t = template(marketing, total=1)
    claim = marketing.post(f"/api/v1/coupon-templates/{t}/claims", role="buyer", sub="bob")
    assert claim.status_code == 201, claim.text
    claim_id = claim.json()["claim_id"]
    start = threading.Barrier(50)
    headers = marketing.headers("service", "orders")

    def place(i: int):
        body = {"order_id": f"O{i}", "shop_id": "S1", "buyer_id": "bob", "lines": LINES, "coupon_claim_ids": [claim_id]}
        with requests.Session() as http:
            start.wait()
            return http.post(marketing.url + "/api/v1/quotes", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(place, range(50)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 422: 49}, statuses
    assert all(a.json()["errors"] == {"coupon_claim_ids": ["locked"]} for a in answers if a.status_code == 422)
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert winner["locked"] and winner["payable_fen"] == 28000
    with marketing.db.engine.connect() as conn:
        row = conn.execute(sa.select(CouponClaim.status, CouponClaim.order_id)).one()
    assert tuple(row) == ("locked", winner["order_id"])


def test_a_thousand_concurrent_claims_of_a_hundred_piece_template_make_exactly_a_hundred(marketing):
    t = template(marketing, total=100)
    headers = {i: marketing.headers("buyer", f"buyer-{i}") for i in range(1000)}
    local = threading.local()

    def claim(i: int) -> int:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        url = f"{marketing.url}/api/v1/coupon-templates/{t}/claims"
        resp = local.http.post(url, headers=headers[i], timeout=120)
        if resp.status_code == 422:
            assert resp.json()["errors"] == {"template_id": ["sold_out"]}
        return resp.status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = Counter(pool.map(claim, range(1000)))
    assert statuses == {201: 100, 422: 900}, statuses
    with marketing.db.engine.connect() as conn:
        claimed = conn.execute(sa.select(CouponTemplate.claimed_quantity)).scalar_one()
        claims = conn.execute(sa.select(sa.func.count()).select_from(CouponClaim)).scalar_one()
        buyers = conn.execute(sa.select(sa.func.count(sa.distinct(CouponClaim.buyer_id)))).scalar_one()
    assert (claimed, claims, buyers) == (100, 100, 100)


def test_one_buyer_racing_for_more_than_their_limit_gets_exactly_the_limit(marketing):
    t = template(marketing, total=50, per_buyer=3)
    start = threading.Barrier(20)
    headers = marketing.headers("buyer", "greedy")

    def claim(_: int) -> int:
        with requests.Session() as http:
            start.wait()
            return http.post(
                f"{marketing.url}/api/v1/coupon-templates/{t}/claims", headers=headers, timeout=120
            ).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = Counter(pool.map(claim, range(20)))
    assert statuses == {201: 3, 422: 17}, statuses
    with marketing.db.engine.connect() as conn:
        assert conn.execute(sa.select(CouponTemplate.claimed_quantity)).scalar_one() == 3


def test_three_hundred_concurrent_payers_of_a_first_hundred_gift_get_exactly_a_hundred_gifts(marketing):
    """Each payment handled by the real consumer (inbox + handler in one transaction), 300 at once."""
    from ecom_common.consumer import EventConsumer
    from ecom_common.events import make_event
    from marketing.handlers import SUBSCRIPTIONS
    from marketing.models import Gift, Promotion

    body = {
        "kind": "first_n_gift",
        "name": "前100名送礼盒",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "gift_sku_code": "GIFT-BOX",
        "gift_limit": 100,
    }
    resp = marketing.post("/api/v1/promotions", role="ops", sub="olga", shop_id="S1", json=body)
    assert resp.status_code == 201, resp.text
    consumer = EventConsumer(marketing.db, SUBSCRIPTIONS[0])
    start = threading.Barrier(30)

    def pay(i: int) -> str:
        event = make_event(
            "orders.OrderPaid",
            {
                "order_id": f"O{i}",
                "shop_id": "S1",
                "buyer_id": f"buyer-{i}",
                "payable_fen": 9900,
                "paid_at": "2026-11-11T00:00:00Z",
                "lines": [{"sku_code": "A", "quantity": 1, "unit_price_fen": 9900}],
            },
        )
        if i < 30:
            start.wait()
        return consumer.handle(event)

    with ThreadPoolExecutor(30) as pool:
        outcomes = Counter(pool.map(pay, range(300)))
    assert outcomes == {"handled": 300}, outcomes
    with marketing.db.engine.connect() as conn:
        gifts = conn.execute(sa.select(sa.func.count()).select_from(Gift)).scalar_one()
        granted = conn.execute(sa.select(Promotion.gifts_granted)).scalar_one()
    assert (gifts, granted) == (100, 100)
    assert len(recorded_events(marketing.db, "marketing.GiftGranted")) == 100


def test_a_campaign_budget_is_never_overspent_by_concurrent_orders(marketing):
    """A subsidy of 30,000 fen pays ten 满200减30 orders: of 40 orders quoted at once, exactly ten get
    the reduction, the others pay the full price, and the campaign has spent exactly its budget."""
    from marketing.models import Campaign

    made = marketing.post(
        "/api/v1/campaigns",
        role="ops",
        sub="olga",
        shop_id="S1",
        json={"name": "双11", "starts_at": "2026-11-01T00:00:00Z", "budget_fen": 100_000},
    )
    assert made.status_code == 201, made.text
    promotion = {
        "kind": "full_reduction",
        "name": "满200减30",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "tiers": [{"threshold_fen": 20000, "reduction_fen": 3000}],
        "campaign_id": made.json()["campaign_id"],
    }
    assert marketing.post("/api/v1/promotions", role="ops", sub="olga", shop_id="S1", json=promotion).status_code == 201
    start = threading.Barrier(40)
    headers = marketing.headers("service", "orders")

    def place(i: int) -> int:
        body = {"order_id": f"O{i}", "shop_id": "S1", "buyer_id": f"b{i}", "lines": LINES}
        with requests.Session() as http:
            start.wait()
            resp = http.post(marketing.url + "/api/v1/quotes", json=body, headers=headers, timeout=120)
        assert resp.status_code == 200, resp.text
        return resp.json()["payable_fen"]

    with ThreadPoolExecutor(40) as pool:
        payables = Counter(pool.map(place, range(40)))
    assert payables == {27000: 10, 30000: 30}, payables
    with marketing.db.engine.connect() as conn:
        spent, budget = conn.execute(sa.select(Campaign.subsidy_spent_fen, Campaign.subsidy_budget_fen)).one()
    assert (spent, budget) == (30000, 30000)


@pytest.mark.parametrize(
    ("terms", "quantity", "expected_total"),
    [
        # 买1送1 on 3 units: 3 gifts an order; 100 in stock -> 33 orders get 3, one gets the last 1
        ({"kind": "buy_n_gift", "buy_quantity": 1}, 3, 100),
        # one gift over 99 yuan: 100 in stock, 300 payers -> exactly 100
        ({"kind": "gift_over_amount", "threshold_fen": 9900}, 1, 100),
    ],
)
def test_concurrent_payers_of_the_other_gift_kinds_never_take_more_gifts_than_in_stock(
    marketing, terms, quantity, expected_total
):
    from ecom_common.consumer import EventConsumer
    from ecom_common.events import make_event
    from marketing.handlers import SUBSCRIPTIONS
    from marketing.models import Promotion

    body = {
        "name": "送礼",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "gift_sku_code": "GIFT-CUP",
        "gift_limit": 100,
        **terms,
    }
    resp = marketing.post("/api/v1/promotions", role="ops", sub="olga", shop_id="S1", json=body)
    assert resp.status_code == 201, resp.text
    consumer = EventConsumer(marketing.db, SUBSCRIPTIONS[0])
    start = threading.Barrier(30)

    def pay(i: int) -> str:
        line = {"sku_code": "A", "quantity": quantity, "unit_price_fen": 9900}
        payload = {"order_id": f"O{i}", "shop_id": "S1", "buyer_id": f"buyer-{i}", "payable_fen": 9900 * quantity}
        event = make_event("orders.OrderPaid", {**payload, "paid_at": "2026-11-11T00:00:00Z", "lines": [line]})
        if i < 30:
            start.wait()
        return consumer.handle(event)

    with ThreadPoolExecutor(30) as pool:
        outcomes = Counter(pool.map(pay, range(300)))
    assert outcomes == {"handled": 300}, outcomes
    with marketing.db.engine.connect() as conn:
        granted = conn.execute(sa.select(Promotion.gifts_granted)).scalar_one()
    given = [e["payload"]["quantity"] for e in recorded_events(marketing.db, "marketing.GiftGranted")]
    assert granted == sum(given) == expected_total
    assert all(0 < q <= quantity for q in given)


def test_concurrent_refunds_and_a_cancellation_never_return_more_subsidy_than_the_order_reserved(marketing):
    """Two paid 满200减30 orders reserve 3000 fen each of a campaign's subsidy. Twenty refunds of O1,
    each a tenth of what it paid (twice what it paid in all), and its cancellation race: O1's 3000
    comes back exactly once, O2's reservation stays spent. A lost race is retried, as the worker's
    retry tiers would."""
    from ecom_common.consumer import EventConsumer
    from ecom_common.errors import RetryLater
    from ecom_common.events import make_event
    from marketing.handlers import SUBSCRIPTIONS
    from marketing.models import Campaign

    made = marketing.post(
        "/api/v1/campaigns",
        role="ops",
        sub="olga",
        shop_id="S1",
        json={"name": "双11", "starts_at": "2026-11-01T00:00:00Z", "budget_fen": 100_000},
    )
    assert made.status_code == 201, made.text
    promotion = {
        "kind": "full_reduction",
        "name": "满200减30",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "tiers": [{"threshold_fen": 20000, "reduction_fen": 3000}],
        "campaign_id": made.json()["campaign_id"],
    }
    assert marketing.post("/api/v1/promotions", role="ops", sub="olga", shop_id="S1", json=promotion).status_code == 201
    consumer = EventConsumer(marketing.db, SUBSCRIPTIONS[0])
    for order_id in ("O1", "O2"):
        body = {"order_id": order_id, "shop_id": "S1", "buyer_id": "bob", "lines": LINES}
        quoted = marketing.post("/api/v1/quotes", role="service", sub="orders", json=body)
        assert quoted.status_code == 200 and quoted.json()["payable_fen"] == 27000, quoted.text
        paid = {"order_id": order_id, "shop_id": "S1", "buyer_id": "bob", "payable_fen": 27000}
        line = {"sku_code": "A", "quantity": 1, "unit_price_fen": 27000}
        consumer.handle(make_event("orders.OrderPaid", {**paid, "paid_at": "2026-11-11T00:00:00Z", "lines": [line]}))
    events = [
        make_event(
            "billing.RefundSucceeded", {"order_id": "O1", "shop_id": "S1", "refund_id": f"R{i}", "amount_fen": 2700}
        )
        for i in range(20)
    ]
    events.append(
        make_event("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "x", "was_paid": True})
    )
    start = threading.Barrier(len(events))

    def handle(event) -> str:
        start.wait()
        for _ in range(100):
            try:
                return consumer.handle(event)
            except RetryLater:
                continue
        raise AssertionError("still losing after 100 tries")

    with ThreadPoolExecutor(len(events)) as pool:
        outcomes = Counter(pool.map(handle, events))
    assert outcomes == {"handled": 21}, outcomes
    with marketing.db.engine.connect() as conn:
        assert conn.execute(sa.select(Campaign.subsidy_spent_fen)).scalar_one() == 3000
