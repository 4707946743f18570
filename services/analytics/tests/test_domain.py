"""analytics' pure rules: the shop's day, discount apportioning, the KPI definitions, CSV cells."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from analytics import domain
from analytics.domain import Aggregates


def test_a_day_is_the_shops_calendar_day():
    assert domain.day_of(datetime(2026, 12, 3, 15, 59, tzinfo=UTC), 8) == date(2026, 12, 3)
    assert domain.day_of(datetime(2026, 12, 3, 16, 0, tzinfo=UTC), 8) == date(2026, 12, 4)
    assert domain.day_of(datetime(2026, 12, 3, 16, 0), 0) == date(2026, 12, 3)  # naive reads as UTC


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    assert domain.previous_period(date(2026, 12, 1), date(2026, 12, 7)) == (date(2026, 11, 24), date(2026, 11, 30))
    assert domain.previous_period(date(2026, 12, 1), date(2026, 12, 1)) == (date(2026, 11, 30), date(2026, 11, 30))


def test_ranges_are_checked():
    with pytest.raises(domain.RangeError):
        domain.check_range(date(2026, 12, 2), date(2026, 12, 1), 10)
    with pytest.raises(domain.RangeError):
        domain.check_range(date(2026, 12, 1), date(2026, 12, 11), 10)
    domain.check_range(date(2026, 12, 1), date(2026, 12, 10), 10)


@pytest.mark.parametrize(
    "total, weights, shares",
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (10, [3000, 8000], [3, 7]),
        (0, [5, 5], [0, 0]),
        (5, [0, 0], [3, 2]),
        (7, [], []),
        (2000, [9900, 2500, 100], [1584, 400, 16]),
        (10, [1, 1, 1], [4, 3, 3]),
    ],
)
def test_apportion_adds_up_to_the_fen(total, weights, shares):
    assert domain.apportion(total, weights) == shares
    assert sum(shares) == (total if weights else 0)


def test_line_paid_amounts_are_gross_less_the_discount_share_without_postage():
    order = domain.PlacedOrder(
        order_id="O1",
        shop_id="S1",
        buyer_id="b",
        payable_fen=10000 - 900 + 1000,
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        lines=(domain.LineIn("A", 2, 3000), domain.LineIn("B", 1, 4000)),
        goods_fen=10000,
        discount_fen=900,
        shipping_fen=1000,
    )
    assert order.line_paid() == [5460, 3640]
    # an older producer that sent neither discount nor postage: the difference is a discount
    older = domain.PlacedOrder("O2", "S1", "b", 9000, order.placed_at, order.lines)
    assert older.amounts() == (10000, 1000, 0)


def test_sum_by_key_merges_rows_of_one_key():
    rows = [{"k": 1, "n": 2, "label": "x"}, {"k": 1, "n": 3, "label": "x"}, {"k": 2, "n": 1, "label": "y"}]
    assert domain.sum_by_key(rows, ["k"]) == [{"k": 1, "n": 5, "label": "x"}, {"k": 2, "n": 1, "label": "y"}]


def test_kpis_by_the_definitions():
    k = domain.kpis(
        Aggregates(
            paid_fen=30001,
            paid_orders=4,
            paying_buyers=3,
            new_buyers=1,
            repeat_buyers=1,
            uv=40,
            pv=100,
            refund_fen=3000,
            refunds=1,
        )
    )
    assert k["aov_fen"] == 10000  # 30001 / 3 = 10000.33
    assert k["conversion"] == 0.075
    assert k["refund_rate"] == 0.1
    assert (k["new_buyer_share"], k["repurchase_rate"]) == (0.3333, 0.3333)
    empty = domain.kpis(Aggregates())
    assert (empty["aov_fen"], empty["conversion"], empty["refund_rate"], empty["new_buyer_share"]) == (None,) * 4


def test_change_against_the_previous_period():
    assert domain.change(125, 100) == 0.25
    assert domain.change(1, 0) is None and domain.change(None, 3) is None


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("连衣裙", "连衣裙"),
        (-5, "-5"),
        (0.25, "0.25"),
        (None, ""),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert domain.csv_cell(value) == cell


def test_nps_bands_and_score():
    assert [domain.nps_band(s) for s in (None, 0, 6, 7, 8, 9, 10)] == [
        None,
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    assert domain.nps(promoters=3, detractors=1, scored=8) == 25.0
    assert domain.nps(0, 2, 2) == -100.0 and domain.nps(0, 0, 0) is None


def test_dispatch_and_carrier_timing():
    paid = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    due = paid + timedelta(hours=24)
    assert domain.dispatch_timing(due, due, paid) == domain.Dispatch(True, 24 * 3600)  # at the deadline: on time
    assert domain.dispatch_timing(due + timedelta(seconds=1), due, None) == domain.Dispatch(False, None)
    # SQLite gives the times back without their zone: UTC
    assert domain.dispatch_timing(due.replace(tzinfo=None), None, paid) == domain.Dispatch(None, 24 * 3600)
    assert domain.delivered_on_time(paid, paid + timedelta(hours=72), 72) is True
    assert domain.delivered_on_time(paid, paid + timedelta(hours=72, seconds=1), 72) is False
    assert domain.delivered_on_time(None, paid, 72) is None


def test_campaign_keys_and_roi():
    assert domain.campaign_key("full_reduction", "P1") == ("full_reduction", "P1")
    assert domain.campaign_key("shop_coupon", "CL123") == ("shop_coupon", "")  # a claim, not the offer
    assert domain.campaign_key("points", None) is None
    order = domain.PlacedOrder(
        order_id="O1",
        shop_id="S1",
        buyer_id="b",
        payable_fen=100,
        placed_at=datetime(2026, 12, 1, tzinfo=UTC),
        lines=(),
        discounts=(
            domain.DiscountIn("full_reduction", "P1", 150, "shop"),
            domain.DiscountIn("full_reduction", "P1", 50, "shop"),  # its other line
            domain.DiscountIn("points", None, 30, "platform"),
        ),
    )
    assert order.campaign_discounts() == [
        {"source": "full_reduction", "ref": "P1", "funded_by": "shop", "amount_fen": 200}
    ]
    assert (domain.roi(500000, 150000), domain.roi(1, 0)) == (3.33, None)  # the SOP's example: 3.33
