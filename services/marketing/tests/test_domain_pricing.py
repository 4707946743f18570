"""The pricing engine (marketing.domain): the stacking order of CONTRACTS.md, every deduction capped
at what is still payable, and the apportionment of order-level discounts to lines (largest
remainder). The anchors' bugs are the cases: mall #1002 (uncapped deduction, negative payable),
Medusa #13972 (amounts not rounded to fen), thresholds truncated (19999 vs 20000 fen)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketing import domain as d

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
MJ = d.FullReduction("FR1", (d.Tier(20000, 3000), d.Tier(30000, 5000)))


def line(sku="A", qty=1, price=10000, **kw):
    return d.LineIn(sku_code=sku, quantity=qty, list_price_fen=price, **kw)


def quote(*lines, **kw):
    return d.price_order(d.PricingIn(lines=tuple(lines), at=NOW, **kw))


def coupon(reduction, threshold=0, claim="C1", funded_by=d.SHOP, **kw):
    return d.CouponTerms(claim, funded_by, reduction, threshold, **kw)


# Single-item price --------------------------------------------------------------------------
def test_single_item_price_is_the_lowest_of_promo_timed_and_member_price():
    timed = d.TimedDiscount("TD1", ("A",), 8500, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    a = line(price=10000, promo_price_fen=9000, member_price_fen=8000)
    assert quote(a, timed=(timed,)).lines[0].unit_price_fen == 8500  # not a member
    q = quote(a, timed=(timed,), is_member=True)
    assert q.lines[0].unit_price_fen == 8000
    assert [(r.source, r.amount_fen, r.funded_by) for r in q.discounts] == [("member_price", 2000, "shop")]
    assert quote(a).discounts[0].source == "promo_price"


def test_a_timed_discount_applies_only_in_its_period_and_daily_window_and_rounds_to_fen():
    window = d.TimedDiscount("TD1", ("A",), 8850, NOW - timedelta(days=1), NOW + timedelta(days=1), (1200, 1320))
    a = line(price=999)  # 999 x 0.885 = 884.115 -> 884 fen
    assert quote(a, timed=(window,), local_minute=1199).payable_fen == 999
    assert quote(a, timed=(window,), local_minute=1200).payable_fen == 884
    assert quote(a, timed=(window,), local_minute=1320).payable_fen == 999
    ended = d.TimedDiscount("TD2", ("A",), 5000, NOW - timedelta(days=2), NOW)
    assert quote(a, timed=(ended,)).payable_fen == 999
    overnight = d.TimedDiscount("TD3", ("A",), 5000, NOW - timedelta(days=1), NOW + timedelta(days=1), (1380, 60))
    assert quote(a, timed=(overnight,), local_minute=10).payable_fen == 500  # 499.5 rounds half up


# Full reduction -----------------------------------------------------------------------------
@pytest.mark.parametrize(("amount", "off"), [(19999, 0), (20000, 3000), (29999, 3000), (30000, 5000), (100000, 5000)])
def test_full_reduction_takes_the_highest_tier_met_exactly_at_its_threshold(amount, off):
    assert quote(line(price=amount), reductions=(MJ,)).discount_of("full_reduction") == off


def test_per_every_reduction_counts_the_tier_and_stops_at_its_cap():
    every = d.FullReduction("FR2", (d.Tier(20000, 3000),), per_every=True, cap_fen=7000)
    assert quote(line(price=39999), reductions=(every,)).discount_of("full_reduction") == 3000
    assert quote(line(price=40000), reductions=(every,)).discount_of("full_reduction") == 6000
    assert quote(line(price=90000), reductions=(every,)).discount_of("full_reduction") == 7000


def test_full_reduction_is_compared_after_single_item_prices():
    # list 20000 but promo 19999: 满200 is not met
    assert quote(line(price=20000, promo_price_fen=19999), reductions=(MJ,)).discount_of("full_reduction") == 0


# Stacking and caps --------------------------------------------------------------------------
def test_the_stacking_order_and_who_funds_each_row():
    lines = (line("A", 2, 10000), line("B", 1, 5000))
    q = quote(
        *lines,
        reductions=(MJ,),
        first_order=True,
        first_order_offers=(d.FirstOrderDiscount("FO", 500),),
        shop_coupon=coupon(1000, 20000, "SC"),
        platform_coupon=coupon(800, 0, "PC", funded_by=d.PLATFORM),
        points=700,
    )
    # 25000 -> 满200减30: 22000 -> 首单 5: 21500 -> shop coupon 满200减10 (21500 >= 20000): 20500
    # -> platform 8: 19700 -> 700 points: 19000
    assert q.payable_fen == 19000 and q.discount_fen == 6000 and q.points_used == 700
    by_source = {s: q.discount_of(s) for s in d.SOURCES if q.discount_of(s)}
    assert by_source == {
        "full_reduction": 3000,
        "first_order": 500,
        "shop_coupon": 1000,
        "platform_coupon": 800,
        "points": 700,
    }
    assert {r.funded_by for r in q.discounts if r.source == "platform_coupon"} == {"platform"}
    # one row per (line, source)
    keys = [(r.line, r.source) for r in q.discounts]
    assert len(keys) == len(set(keys))


def test_a_coupon_below_its_threshold_at_its_stage_is_refused():
    # 20000 list, 满200减30 leaves 17000: a 满200 coupon is no longer met
    with pytest.raises(d.CouponRefusedError) as refused:
        quote(line(price=20000), reductions=(MJ,), shop_coupon=coupon(1000, 20000))
    assert refused.value.reason == "below_threshold"
    assert refused.value.errors == {"coupon_claim_ids": ["below_threshold"]}


def test_a_coupon_for_some_skus_is_applied_to_those_lines_only():
    q = quote(line("A", 1, 10000), line("B", 1, 10000), shop_coupon=coupon(3000, sku_codes=("B",)))
    assert [(r.sku_code, r.amount_fen) for r in q.discounts] == [("B", 3000)]
    q = quote(line("A", 1, 10000, category_id="shoes"), shop_coupon=coupon(3000, category_ids=("shoes",)))
    assert q.payable_fen == 7000


def test_deductions_are_capped_at_what_is_still_payable_never_negative():
    # mall #1002: a 50-yuan no-threshold coupon on a 30-yuan order
    q = quote(line(price=3000), shop_coupon=coupon(5000), platform_coupon=coupon(5000, claim="P"), points=10_000)
    assert q.payable_fen == 0 and q.discount_of("shop_coupon") == 3000
    assert q.discount_of("platform_coupon") == 0 and q.points_used == 0


def test_points_are_capped_at_a_share_of_what_is_payable():
    q = quote(line(price=10001), points=9000, points_cap_percent=50)
    assert q.points_used == 5000 and q.payable_fen == 5001


def test_apportionment_by_largest_remainder_sums_exactly():
    assert d.apportion(100, [1, 1, 1]) == [34, 33, 33]
    assert d.apportion(1000, [3333, 3333, 3334]) == [333, 333, 334]
    assert d.apportion(7, [0, 5, 5]) == [0, 4, 3]
    assert d.apportion(0, [1, 2]) == [0, 0]


# Properties -------------------------------------------------------------------------------
prices = st.integers(min_value=0, max_value=500_000)
lines_strategy = st.lists(
    st.builds(
        d.LineIn,
        sku_code=st.sampled_from(["A", "B", "C", "D"]),
        quantity=st.integers(1, 5),
        list_price_fen=prices,
        promo_price_fen=st.none() | prices,
        member_price_fen=st.none() | prices,
        category_id=st.sampled_from([None, "shoes"]),
    ),
    min_size=1,
    max_size=6,
)
tiers = st.lists(st.builds(d.Tier, st.integers(1, 400_000), st.integers(0, 100_000)), min_size=1, max_size=3)
reductions = st.lists(
    st.builds(d.FullReduction, st.just("FR"), tiers.map(tuple), st.booleans(), st.none() | st.integers(0, 50_000)),
    max_size=2,
)
coupons = st.none() | st.builds(
    d.CouponTerms,
    st.just("C"),
    st.sampled_from([d.SHOP, d.PLATFORM]),
    st.integers(0, 200_000),
    st.integers(0, 50_000),
    st.sampled_from([(), ("A",), ("B", "C")]),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines_strategy,
    member=st.booleans(),
    reds=reductions,
    first=st.booleans(),
    shop=coupons,
    platform=coupons,
    points=st.integers(0, 1_000_000),
    cap=st.integers(0, 100),
)
def test_line_discounts_sum_to_the_order_discount_and_payable_is_never_negative(
    lines, member, reds, first, shop, platform, points, cap
):
    try:
        q = d.price_order(
            d.PricingIn(
                lines=tuple(lines),
                at=NOW,
                is_member=member,
                reductions=tuple(reds),
                first_order=first,
                first_order_offers=(d.FirstOrderDiscount("FO", 1000),),
                shop_coupon=shop,
                platform_coupon=platform,
                points=points,
                points_cap_percent=cap,
            )
        )
    except d.CouponRefusedError as refused:
        assert refused.reason == "below_threshold"
        return
    assert q.payable_fen >= 0
    assert sum(r.amount_fen for r in q.discounts) == q.discount_fen == q.list_total_fen - q.payable_fen
    assert sum(pl.payable_fen for pl in q.lines) == q.payable_fen
    for pl in q.lines:
        rows = [r for r in q.discounts if r.line == pl.line]
        assert pl.list_price_fen * pl.quantity - sum(r.amount_fen for r in rows) == pl.payable_fen >= 0
        assert all(r.amount_fen > 0 for r in rows)
    keys = [(r.line, r.source) for r in q.discounts]
    assert len(keys) == len(set(keys))
    assert q.points_used <= points


@given(amount=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=20))
def test_apportion_shares_sum_and_never_exceed_their_weight(amount, weights):
    amount = min(amount, sum(weights))
    shares = d.apportion(amount, weights)
    assert sum(shares) == (amount if sum(weights) else 0)
    assert all(0 <= s <= w for s, w in zip(shares, weights, strict=True))


@given(threshold=st.integers(1, 10**6), reduction=st.integers(0, 10**5))
def test_a_tier_is_met_at_its_threshold_and_not_one_fen_below(threshold, reduction):
    rule = d.FullReduction("FR", (d.Tier(threshold, reduction),))
    assert rule.reduction(threshold - 1) == 0 and rule.reduction(threshold) == reduction


# Coupon refusals -------------------------------------------------------------------------
def claim(**kw):
    base = dict(
        claim_id="C1",
        buyer_id="bob",
        shop_id="S1",
        status="available",
        order_id=None,
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=1),
    )
    return d.ClaimView(**{**base, **kw})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"buyer_id": "eve"}, "not_yours"),
        ({"shop_id": "S2"}, "other_shop"),
        ({"valid_from": NOW + timedelta(seconds=1)}, "not_yet_valid"),
        ({"valid_until": NOW}, "expired"),
        ({"status": "used"}, "used"),
        ({"status": "locked", "order_id": "O2"}, "locked"),
    ],
)
def test_a_coupon_refusal_names_its_reason(changes, reason):
    with pytest.raises(d.CouponRefusedError) as refused:
        d.coupon_refusal(claim(**changes), buyer_id="bob", shop_id="S1", order_id="O1", at=NOW)
    assert refused.value.reason == reason


def test_a_claim_locked_by_the_same_order_and_a_platform_coupon_are_usable():
    d.coupon_refusal(claim(status="locked", order_id="O1"), buyer_id="bob", shop_id="S1", order_id="O1", at=NOW)
    d.coupon_refusal(claim(shop_id=None), buyer_id="bob", shop_id="S9", order_id=None, at=NOW)


def test_member_tiers_and_levels():
    rules = d.TierRules(active_orders=2, high_value_fen=500_000)
    assert [d.member_tier(n, fen, rules) for n, fen in ((0, 0), (1, 499_999), (2, 0), (1, 500_000))] == [
        "new",
        "new",
        "active",
        "high_value",
    ]
    thresholds = (0, 1000, 5000, 20000)
    assert [d.member_level(g, thresholds) for g in (0, 999, 1000, 4999, 5000, 20000, 10**9)] == [1, 1, 2, 2, 3, 4, 4]


def test_subsidy_due_is_the_refunded_share_less_what_was_returned_never_past_the_reservation():
    from marketing.domain import subsidy_due

    reserved = {"C1": 3000, "C2": 1001}
    assert subsidy_due(reserved, {}, 8500, 17000) == {"C1": 1500, "C2": 500}
    assert subsidy_due(reserved, {"C1": 1500, "C2": 500}, 8500, 17000) == {}
    assert subsidy_due(reserved, {"C1": 1500}, 17000, 17000) == {"C1": 1500, "C2": 1001}
    assert subsidy_due(reserved, {}, 10**9, 17000) == reserved  # refunds past what was paid: capped
    assert subsidy_due(reserved, reserved, 17000, 17000) == {}
    assert subsidy_due(reserved, {}, 0, 17000) == {}
    assert subsidy_due({"C1": 500}, {}, 1, 0) == {"C1": 500}  # nothing paid: any refund returns all
