"""The audit rules (pure functions), pricing and addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecom_common.errors import RuleViolation
from orders import domain, pricing
from orders.domain import Address, AuditFacts, AuditRules, HoldReason

GOOD = Address("张三", "13812345678", "浙江", "杭州", "西湖区", "文三路", "100号3幢501")
RULES = AuditRules()


def facts(payable=10_000, address=GOOD, note="", presale=False, same_phone=1):
    return AuditFacts(payable_fen=payable, address=address, note=note, presale=presale, same_phone_orders=same_phone)


def addr(**changes):
    return Address(**{**GOOD.to_dict(), **changes})


# Seed defaults -------------------------------------------------------------------------------------------
def test_seed_defaults_are_the_sop_figures():
    assert RULES.auto_pass_max_fen == 500 * 100
    assert RULES.hold_above_fen == 5000 * 100
    assert {"新疆", "西藏", "内蒙古"} <= set(RULES.remote_regions)
    assert "公司前台" in RULES.front_desk_keywords
    assert {"加急", "指定时间"} <= set(RULES.priority_keywords)


# Auto-pass -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payable", [1, 10_000, 49_999, 50_000])
def test_small_complete_local_orders_pass(payable):
    outcome = domain.audit(facts(payable), RULES)
    assert outcome.passed and outcome.reasons == () and not outcome.priority


def test_just_above_auto_pass_is_a_middle_order():
    lenient = AuditRules(auto_pass_middle=True)
    assert domain.audit(facts(50_001), lenient).passed
    held = domain.audit(facts(50_001), RULES)  # default (SOP): auto-pass only <= 500 yuan
    assert held.held and held.reasons == (HoldReason.MIDDLE_AMOUNT,)


@pytest.mark.parametrize("payable", [50_001, 250_000, 500_000])
def test_middle_orders_follow_the_shop_setting(payable):
    assert domain.audit(facts(payable), AuditRules(auto_pass_middle=True)).passed
    assert domain.audit(facts(payable), AuditRules(auto_pass_middle=False)).reasons == (HoldReason.MIDDLE_AMOUNT,)


# Clear holds -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("middle", [True, False])
def test_above_5000_yuan_is_always_held(middle):
    outcome = domain.audit(facts(500_001), AuditRules(auto_pass_middle=middle))
    assert outcome.held and outcome.reasons == (HoldReason.AMOUNT_OVER_LIMIT,)


@pytest.mark.parametrize(
    "address",
    [
        addr(street=""),
        addr(detail=""),
        addr(street="", detail=""),
        addr(detail="某某科技公司前台"),
        addr(detail="前台"),
        addr(detail="3号楼公司前台代收"),
    ],
)
def test_vague_addresses_are_held(address):
    outcome = domain.audit(facts(address=address), RULES)
    assert outcome.held and outcome.reasons == (HoldReason.VAGUE_ADDRESS,)


def test_a_company_address_with_a_room_is_not_vague():
    assert domain.audit(facts(address=addr(detail="某某科技公司 12楼1203室")), RULES).passed


def test_front_desk_keywords_are_configurable():
    rules = AuditRules(front_desk_keywords=("门卫",))
    assert domain.audit(facts(address=addr(detail="3号楼小区门卫")), rules).held
    assert domain.audit(facts(address=addr(detail="3号楼公司前台")), rules).passed


@pytest.mark.parametrize("detail", ["小区门卫", "3号楼门卫", "学校传达室", "2幢收发室", "某某科技公司前台"])
def test_the_seed_front_desks_are_held(detail):
    outcome = domain.audit(facts(address=addr(detail=detail)), RULES)
    assert outcome.reasons == (HoldReason.VAGUE_ADDRESS,) and outcome.details == ("address is only a front desk",)


# BUSINESS-RULES.md: "vague address (no house number ...)" is reviewed by hand.
@pytest.mark.parametrize(
    "street,detail",
    [
        ("文一西路", "村口大树旁边"),
        ("文三路", "小区北门"),
        ("鼓楼大街", "钟楼旁边"),
        ("文一西路", "丰巢快递柜"),
        ("G320国道", "加油站对面"),  # a road number is not a house number
    ],
)
def test_an_address_without_a_house_building_or_room_number_is_held(street, detail):
    outcome = domain.audit(facts(address=addr(street=street, detail=detail)), RULES)
    assert outcome.held and outcome.reasons == (HoldReason.VAGUE_ADDRESS,)
    assert outcome.details == ("address has no house, building or room number",)


@pytest.mark.parametrize(
    "street,detail",
    [
        ("文三路", "100号3幢501"),
        ("文一西路969号", "阿里巴巴西溪园区"),
        ("文三路", "三号楼二单元"),
        ("文三路", "西溪花园 A座"),
        ("文三路", "东方大厦十二层"),
        ("文三路", "幸福小区 3-501"),
        ("文三路", "１２０３"),
        ("愚园路", "88弄"),
        ("文三路", "丰巢快递柜 5 号柜"),
    ],
)
def test_a_house_building_or_room_number_passes(street, detail):
    assert domain.audit(facts(address=addr(street=street, detail=detail)), RULES).passed


@pytest.mark.parametrize("count,held", [(1, False), (2, False), (3, True), (10, True)])
def test_repeated_phone_within_the_window(count, held):
    outcome = domain.audit(facts(same_phone=count), RULES)
    assert outcome.held is held
    if held:
        assert outcome.reasons == (HoldReason.REPEAT_PHONE,)


def test_repeat_count_is_configurable():
    assert domain.audit(facts(same_phone=2), AuditRules(repeat_phone_count=2)).held


@pytest.mark.parametrize(
    "note,priority",
    [
        ("加急，谢谢", True),
        ("请指定时间发货：周六", True),
        ("需要开发票", False),
        ("请修改地址到公司", False),
    ],
)
def test_notes_that_ask_for_something_hold(note, priority):
    outcome = domain.audit(facts(note=note), RULES)
    assert outcome.held and outcome.reasons == (HoldReason.BUYER_NOTE,)
    assert outcome.priority is priority


def test_a_phone_in_a_held_note_is_masked_in_the_details():
    # the details go to the timeline that finance also reads (found by tests/reliability/test_security.py)
    outcome = domain.audit(facts(note="加急！电话13812345678"), RULES)
    assert outcome.reasons == (HoldReason.BUYER_NOTE,)
    assert "13812345678" not in " ".join(outcome.details) and "138****5678" in " ".join(outcome.details)


@pytest.mark.parametrize("note", ["", "谢谢老板", "颜色要和图片一样哦"])
def test_plain_notes_do_not_hold(note):
    assert domain.audit(facts(note=note), RULES).passed


def test_every_hold_reason_is_reported_together():
    outcome = domain.audit(facts(600_000, addr(detail="公司前台"), "加急", same_phone=5), RULES)
    assert outcome.reasons == (
        HoldReason.AMOUNT_OVER_LIMIT,
        HoldReason.VAGUE_ADDRESS,
        HoldReason.REPEAT_PHONE,
        HoldReason.BUYER_NOTE,
    )
    assert outcome.priority
    assert len(outcome.details) == 4


def test_clear_holds_win_over_middle_reasons():
    outcome = domain.audit(facts(600_000, addr(province="新疆"), presale=True), AuditRules(auto_pass_middle=False))
    assert outcome.reasons == (HoldReason.AMOUNT_OVER_LIMIT,)


# Remote regions and presale ----------------------------------------------------------------------------------
@pytest.mark.parametrize("province", ["新疆", "新疆维吾尔自治区", "西藏", "内蒙古自治区"])
def test_remote_regions_never_auto_pass(province):
    strict = domain.audit(facts(address=addr(province=province)), AuditRules(auto_pass_middle=False))
    assert strict.held and strict.reasons == (HoldReason.REMOTE_REGION,)
    assert domain.audit(facts(address=addr(province=province)), AuditRules(auto_pass_middle=True)).passed


def test_remote_regions_are_configurable():
    rules = AuditRules(remote_regions=("青海",), auto_pass_middle=False)
    assert domain.audit(facts(address=addr(province="青海")), rules).held
    assert domain.audit(facts(address=addr(province="新疆")), rules).passed


def test_presale_never_auto_passes():
    strict = domain.audit(facts(presale=True), AuditRules(auto_pass_middle=False))
    assert strict.reasons == (HoldReason.PRESALE,)
    assert domain.audit(facts(presale=True), AuditRules(auto_pass_middle=True)).passed
    assert domain.audit(facts(presale=True), RULES).reasons == (HoldReason.PRESALE,)  # the SOP's default


def test_middle_reasons_are_all_listed():
    outcome = domain.audit(facts(80_000, addr(province="西藏"), presale=True), AuditRules(auto_pass_middle=False))
    assert outcome.reasons == (HoldReason.MIDDLE_AMOUNT, HoldReason.REMOTE_REGION, HoldReason.PRESALE)


# Rules as data -----------------------------------------------------------------------------------------------
def test_rules_round_trip_and_merge_over_a_base():
    custom = AuditRules.from_dict({"auto_pass_middle": False, "remote_regions": ["青海", " "]})
    assert custom.remote_regions == ("青海",)
    again = AuditRules.from_dict({"hold_above_fen": 900_000}, base=custom)
    assert again.auto_pass_middle is False and again.hold_above_fen == 900_000
    assert AuditRules.from_dict(again.to_dict()) == again


def test_unknown_rule_keys_are_ignored():
    assert AuditRules.from_dict({"frobnicate": 1}) == AuditRules()


@pytest.mark.parametrize(
    "data,field",
    [
        ({"hold_above_fen": 100, "auto_pass_max_fen": 200}, "hold_above_fen"),
        ({"auto_pass_max_fen": -1, "hold_above_fen": 10}, "auto_pass_max_fen"),
        ({"repeat_phone_count": 1}, "repeat_phone_count"),
        ({"repeat_phone_window_minutes": 0}, "repeat_phone_window_minutes"),
    ],
)
def test_inconsistent_rules_are_refused(data, field):
    with pytest.raises(RuleViolation) as info:
        AuditRules.from_dict(data)
    assert field in info.value.errors


# Held orders' waiting time ------------------------------------------------------------------------------------
def test_review_wait_and_overdue():
    held = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert domain.review_wait(held, held + timedelta(minutes=12), 30) == {
        "waiting_minutes": 12,
        "target_minutes": 30,
        "overdue": False,
    }
    assert domain.review_wait(held, held + timedelta(minutes=30), 30)["overdue"] is False
    assert domain.review_wait(held, held + timedelta(minutes=30, seconds=1), 30)["overdue"] is True
    assert domain.review_wait(None, held, 30) is None


def test_presale_promise():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert domain.presale_promise(now, 3) == (now + timedelta(days=3), "预计3天内发货")


# Addresses -----------------------------------------------------------------------------------------------------
def test_masked_address_hides_the_person_and_the_house():
    masked = GOOD.masked()
    assert masked == {
        "name": "张*",
        "phone": "138****5678",
        "province": "浙江",
        "city": "杭州",
        "district": "西湖区",
        "street": "文三路",
        "detail": "****",
    }
    assert "13812345678" not in str(masked) and "501" not in str(masked)


def test_address_from_dict_trims_and_fills_missing_parts():
    a = Address.from_dict({"name": " 李四 ", "phone": "13900001111", "province": "上海", "city": "上海"})
    assert a.name == "李四" and a.street == "" and a.missing_parts() == ["district", "street", "detail"]


# Pricing --------------------------------------------------------------------------------------------------------
def sku(code, price, list_price=None, sellable=True, weight=100, category="C1"):
    return {
        "sku_code": code,
        "price_fen": price,
        "list_price_fen": list_price,
        "sellable": sellable,
        "weight_g": weight,
        "category_id": category,
        "title": code,
        "product_status": "listed",
    }


def test_pricing_copies_effective_price_and_computes_totals():
    skus = {"A": sku("A", 9900, 12900, weight=500), "B": sku("B", 5000, None, weight=1500)}
    lines = pricing.price_lines([{"sku_code": "A", "quantity": 2}, {"sku_code": "B", "quantity": 1}], skus)
    assert [(l.unit_price_fen, l.list_price_fen, l.category_id) for l in lines] == [
        (9900, 12900, "C1"),
        (5000, 5000, "C1"),
    ]
    assert pricing.total_weight_g(lines) == 2500
    t = pricing.totals(lines, 1000)
    assert (t.goods_fen, t.discount_fen, t.shipping_fen, t.payable_fen) == (30800, 6000, 1000, 25800)
    assert t.goods_payable_fen == 24800


def test_a_list_price_below_the_effective_price_is_no_negative_discount():
    lines = pricing.price_lines([{"sku_code": "A", "quantity": 1}], {"A": sku("A", 5000, 4000)})
    t = pricing.totals(lines, 0)
    assert t.discount_fen == 0 and t.payable_fen == 5000


def test_unknown_and_unsellable_skus_name_their_lines():
    skus = {"A": sku("A", 100), "OFF": sku("OFF", 100, sellable=False)}
    with pytest.raises(RuleViolation) as info:
        pricing.price_lines(
            [{"sku_code": "A", "quantity": 1}, {"sku_code": "NOPE", "quantity": 1}, {"sku_code": "OFF", "quantity": 1}],
            skus,
        )
    assert set(info.value.errors) == {"lines.1.sku_code", "lines.2.sku_code"}
    assert "NOPE" in info.value.errors["lines.1.sku_code"][0]
    assert "not for sale" in info.value.errors["lines.2.sku_code"][0]


@pytest.mark.parametrize(
    "lines,keys",
    [
        ([{"sku_code": "A", "quantity": 0}], {"lines.0.quantity"}),
        ([{"sku_code": "A", "quantity": 1}, {"sku_code": "B", "quantity": -3}], {"lines.1.quantity"}),
        ([{"sku_code": "A", "quantity": 10_000}], {"lines.0.quantity"}),
        ([{"sku_code": "A", "quantity": 1}, {"sku_code": "A", "quantity": 2}], {"lines.1.sku_code"}),
        ([], {"lines"}),
    ],
)
def test_requested_line_rules(lines, keys):
    with pytest.raises(RuleViolation) as info:
        pricing.check_requested_lines(lines)
    assert set(info.value.errors) == keys


def test_valid_requested_lines_pass():
    pricing.check_requested_lines([{"sku_code": "A", "quantity": 1}, {"sku_code": "B", "quantity": 9999}])
