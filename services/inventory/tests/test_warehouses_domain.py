"""Warehouses as the rules see them: provinces, regions, cost tables and 自动匹配最优仓库 (the
choice of the warehouse an order is served from), without a database."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecom_common.errors import RuleViolation
from inventory import domain
from inventory.domain import Line, Site


def test_provinces_are_normalised_and_unknown_ones_refused():
    assert domain.normalise_province("新疆维吾尔自治区") == "新疆"
    assert domain.normalise_province("上海市") == "上海"
    assert domain.normalise_province("浙江省") == "浙江"
    assert domain.normalise_province("Atlantis") is None
    with pytest.raises(RuleViolation):
        domain.require_province("火星")


def test_distance_is_same_province_then_same_region_then_elsewhere():
    assert domain.distance_rank("浙江", "浙江") == domain.SAME_PROVINCE
    assert domain.distance_rank("上海", "浙江") == domain.SAME_REGION  # 华东
    assert domain.distance_rank("广东", "浙江") == domain.ELSEWHERE
    assert domain.distance_rank(None, "浙江") == domain.ELSEWHERE
    assert domain.distance_rank("浙江", None) == domain.ELSEWHERE


def test_every_province_has_one_region():
    provinces = [p for ps in domain.REGIONS.values() for p in ps]
    assert len(provinces) == len(set(provinces)) == 34


def test_cost_table_province_beats_region_beats_anywhere():
    costs = domain.normalise_costs({"浙江省": 500, "华东": 700, "*": 1200})
    assert costs == {"浙江": 500, "华东": 700, "*": 1200}
    assert domain.shipping_cost(costs, "浙江") == 500
    assert domain.shipping_cost(costs, "江苏") == 700
    assert domain.shipping_cost(costs, "新疆") == 1200
    assert domain.shipping_cost({"华东": 700}, "新疆") is None
    assert domain.shipping_cost({"*": 900}, None) == 900


@pytest.mark.parametrize("bad", [{"火星": 1}, {"浙江": -1}, {"浙江": True}])
def test_bad_cost_tables_are_refused(bad):
    with pytest.raises(RuleViolation):
        domain.normalise_costs(bad)


def site(code, province=None, costs=None, **stock):
    return Site(code, province, tuple(sorted((costs or {}).items())), tuple(sorted(stock.items())))


LINES = [Line("A", 2), Line("B", 1)]


def test_the_nearest_warehouse_that_serves_every_line_wins():
    sites = [site("GZ", "广东", A=9, B=9), site("SH", "上海", A=2, B=1), site("HZ", "浙江", A=2, B=0)]
    # HZ is nearest to 浙江 but cannot serve B: SH (same region) serves the whole order.
    assert domain.choose_warehouses(LINES, sites, "浙江") == {"A": "SH", "B": "SH"}
    assert domain.choose_warehouses(LINES, sites, "广东") == {"A": "GZ", "B": "GZ"}


def test_at_equal_distance_the_cheaper_parcel_then_more_stock_wins():
    cheap = site("NJ", "江苏", {"*": 600}, A=2, B=1)
    dear = site("SH", "上海", {"华东": 800}, A=9, B=9)
    assert domain.choose_warehouses(LINES, [dear, cheap], "浙江") == {"A": "NJ", "B": "NJ"}
    unknown_cost = site("HF", "安徽", A=9, B=9)
    assert domain.choose_warehouses(LINES, [unknown_cost, dear], "浙江") == {"A": "SH", "B": "SH"}
    small, big = site("W1", "上海", A=2, B=1), site("W2", "江苏", A=5, B=5)
    assert domain.choose_warehouses(LINES, [small, big], "浙江") == {"A": "W2", "B": "W2"}


def test_unknown_receiver_province_ranks_by_cost_and_stock_only():
    sites = [site("SH", "上海", {"*": 900}, A=5, B=5), site("GZ", "广东", {"*": 500}, A=2, B=1)]
    assert domain.choose_warehouses(LINES, sites, None) == {"A": "GZ", "B": "GZ"}


def test_split_only_when_no_single_warehouse_can_serve_and_then_the_fewest():
    sites = [
        site("HZ", "浙江", A=2),
        site("SH", "上海", B=1),
        site("GZ", "广东", A=5, C=5),
        site("BJ", "北京", B=1, C=5),
    ]
    lines = [Line("A", 2), Line("B", 1), Line("C", 1)]
    plan = domain.choose_warehouses(lines, sites, "浙江")
    assert plan is not None and len(set(plan.values())) == 2
    # pairs are tried best ranked first: HZ (浙江) with BJ (B, C) covers every line
    assert plan == {"A": "HZ", "B": "BJ", "C": "BJ"}


def test_no_combination_means_short():
    assert domain.choose_warehouses([Line("A", 5)], [site("W1", A=3), site("W2", A=3)], "浙江") is None
    assert domain.choose_warehouses([Line("A", 1)], [], "浙江") is None


orders = st.lists(
    st.tuples(st.sampled_from("ABCD"), st.integers(min_value=1, max_value=5)), min_size=1, max_size=4
).map(lambda pairs: domain.merge_lines([{"sku_code": s, "quantity": q} for s, q in pairs]))
places = st.lists(
    st.tuples(
        st.sampled_from([None, *sorted(domain.PROVINCE_REGION)]),
        st.dictionaries(st.sampled_from("ABCD"), st.integers(min_value=0, max_value=6), max_size=4),
        st.dictionaries(st.sampled_from(["*", "华东", "浙江", "新疆"]), st.integers(0, 2000), max_size=2),
    ),
    max_size=5,
).map(lambda rows: [site(f"W{i}", p, c, **s) for i, (p, s, c) in enumerate(rows)])


@settings(max_examples=300, deadline=None)
@given(orders, places, st.sampled_from([None, "浙江", "新疆", "北京"]))
def test_a_plan_always_serves_every_line_whole_from_the_fewest_warehouses(lines, sites, province):
    plan = domain.choose_warehouses(lines, sites, province)
    by_code = {s.code: s for s in sites}
    singles = [s for s in sites if all(s.stock(line.sku_code) >= line.quantity for line in lines)]
    if plan is None:
        # some line has no warehouse holding it whole
        assert any(all(s.stock(line.sku_code) < line.quantity for s in sites) for line in lines)
        return
    assert set(plan) == {line.sku_code for line in lines}
    for line in lines:
        assert by_code[plan[line.sku_code]].stock(line.sku_code) >= line.quantity
    if singles:
        assert len(set(plan.values())) == 1
        best = domain.rank_sites(singles, province, lines)[0]
        assert set(plan.values()) == {best.code}
    else:
        assert len(set(plan.values())) >= 2
