"""Domain rules without a database: quotes, province names, carrier choice, deadlines, the shipment
state machine, webhook signatures, stalls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecom_common.errors import Conflict, IllegalTransition, RuleViolation
from logistics import domain
from logistics.domain import (
    CarrierRule,
    PromotionPeriod,
    Template,
    WeightRule,
    choose_carrier,
    default_carrier_rules,
    default_template,
    dispatch_deadline,
    is_overdue,
    next_status,
    normalise_province,
    quote,
)

SEED = default_template()
FREE = ("江苏", "浙江", "上海")
REMOTE = ("新疆", "西藏", "内蒙古")
ELSEWHERE = tuple(p for p in domain.PROVINCES if p not in FREE + REMOTE)


def total(q) -> int:
    return sum(item["fen"] for item in q.breakdown)


# Quotes for every seed region ------------------------------------------------------------------
@pytest.mark.parametrize("province", FREE)
@pytest.mark.parametrize("weight_g", [0, 1000, 1001, 5000, 30000])
def test_jiangzhehu_ship_free_whatever_the_weight(province, weight_g):
    q = quote(SEED, province, weight_g)
    assert q.fee_fen == 0 and q.free
    assert total(q) == 0
    assert any(item["item"] == "free_shipping" and item["fen"] < 0 for item in q.breakdown)


@pytest.mark.parametrize("province", ELSEWHERE)
def test_elsewhere_10_yuan_first_kg_then_5_per_started_kg(province):
    assert quote(SEED, province, 0).fee_fen == 1000
    assert quote(SEED, province, 1000).fee_fen == 1000
    assert quote(SEED, province, 1001).fee_fen == 1500  # a started kilogram counts in full
    assert quote(SEED, province, 2000).fee_fen == 1500
    assert quote(SEED, province, 2001).fee_fen == 2000
    q = quote(SEED, province, 3500)
    assert q.fee_fen == 2500 and not q.free
    assert q.breakdown == [{"item": "first_weight", "fen": 1000}, {"item": "additional_weight x3", "fen": 1500}]


@pytest.mark.parametrize("province", REMOTE)
def test_remote_regions_never_free_and_15_yuan_more(province):
    q = quote(SEED, province, 1000, goods_fen=10_000_000)
    assert q.fee_fen == 1000 + 1500 and not q.free
    assert {"item": "surcharge:remote", "fen": 1500} in q.breakdown
    assert quote(SEED, province, 2500).fee_fen == 1000 + 2 * 500 + 1500


@pytest.mark.parametrize(
    "spelled,short",
    [
        ("江苏省", "江苏"),
        ("上海市", "上海"),
        ("浙江", "浙江"),
        (" 浙江省 ", "浙江"),
        ("新疆维吾尔自治区", "新疆"),
        ("西藏自治区", "西藏"),
        ("内蒙古自治区", "内蒙古"),
        ("广西壮族自治区", "广西"),
        ("宁夏回族自治区", "宁夏"),
        ("香港特别行政区", "香港"),
        ("黑龙江省", "黑龙江"),
    ],
)
def test_province_suffixes_are_normalised(spelled, short):
    assert normalise_province(spelled) == short
    assert quote(SEED, spelled, 1000).province == short


def test_suffixed_names_quote_like_short_ones():
    assert quote(SEED, "江苏省", 4000).fee_fen == 0
    assert quote(SEED, "新疆维吾尔自治区", 1000).fee_fen == 2500
    assert quote(SEED, "广东省", 1000).fee_fen == 1000


@pytest.mark.parametrize("bad", ["火星", "", "江苏省省", "苏", None])
def test_unknown_province_is_a_rule_violation_naming_the_field(bad):
    assert normalise_province(bad) is None
    with pytest.raises(RuleViolation) as err:
        quote(SEED, bad, 1000)
    assert "province" in err.value.errors


def test_remote_list_is_configurable():
    template = default_template(remote=domain.parse_province_list("新疆,西藏,内蒙古,青海省"))
    assert quote(template, "青海", 1000).fee_fen == 2500
    assert quote(SEED, "青海", 1000).fee_fen == 1000


def test_a_remote_province_listed_as_free_stays_paid():
    template = default_template(remote=("新疆",), free=("新疆", "江苏"))
    assert quote(template, "新疆", 1000).fee_fen == 2500
    assert quote(template, "江苏", 1000).fee_fen == 0


def test_free_above_a_goods_threshold():
    template = Template.from_dict(
        {
            "default_rule": {
                "first_weight_g": 1000,
                "first_fen": 800,
                "additional_weight_g": 500,
                "additional_fen": 300,
            },
            "free_shipping": [{"provinces": [], "min_goods_fen": 9900}],
            "never_free": ["新疆维吾尔自治区"],
        }
    )
    assert quote(template, "广东", 1600, goods_fen=9900).fee_fen == 0
    assert quote(template, "广东", 1600, goods_fen=9899).fee_fen == 800 + 2 * 300
    assert quote(template, "广东", 1600).fee_fen == 1400  # goods total unknown: not free
    assert quote(template, "新疆", 1000, goods_fen=100_000).fee_fen == 800


def test_region_rules_surcharges_and_regions_not_served():
    template = Template.from_dict(
        {
            "default_rule": {
                "first_weight_g": 1000,
                "first_fen": 1000,
                "additional_weight_g": 1000,
                "additional_fen": 500,
            },
            "region_rules": [
                {
                    "provinces": ["广东省"],
                    "first_weight_g": 2000,
                    "first_fen": 600,
                    "additional_weight_g": 1000,
                    "additional_fen": 200,
                }
            ],
            "surcharges": [{"provinces": ["海南"], "fen": 800, "label": "island"}],
            "not_served": ["西藏自治区", "台湾"],
        }
    )
    assert quote(template, "广东", 3000).fee_fen == 600 + 200
    assert quote(template, "海南", 1000).fee_fen == 1000 + 800
    with pytest.raises(domain.RegionNotServedError) as err:
        quote(template, "西藏自治区", 1000)
    assert "西藏" in err.value.detail and "province" in err.value.errors


def test_template_round_trips_through_its_json_form():
    template = Template.from_dict(SEED.to_dict())
    assert template == SEED


def test_template_with_an_unknown_province_is_refused_naming_the_field():
    with pytest.raises(RuleViolation) as err:
        Template.from_dict({"default_rule": WeightRule().__dict__, "not_served": ["Atlantis"]})
    assert "not_served" in err.value.errors


@given(
    province=st.sampled_from(domain.PROVINCES),
    weight_g=st.integers(0, 200_000),
    goods=st.one_of(st.none(), st.integers(0, 10**7)),
)
def test_breakdown_always_sums_to_the_fee(province, weight_g, goods):
    q = quote(SEED, province, weight_g, goods)
    assert total(q) == q.fee_fen >= 0


# Carrier choice --------------------------------------------------------------------------------
RULES = default_carrier_rules(heavy_g=20000)
ALL = {"SF", "ZTO", "EMS", "DBL"}


@pytest.mark.parametrize(
    "province,weight_g,expected",
    [
        ("江苏", 1000, "SF"),
        ("浙江", None, "SF"),
        ("上海", 19999, "SF"),  # 江浙沪: next day
        ("新疆", 500, "EMS"),
        ("西藏", 50000, "EMS"),
        ("内蒙古", None, "EMS"),  # remote: coverage first
        ("广东", 20000, "DBL"),
        ("江苏", 25000, "DBL"),  # heavy: cheapest per kg
        ("广东", 1000, "ZTO"),
        ("四川", None, "ZTO"),
        (None, None, "ZTO"),  # the rest: default
    ],
)
def test_carrier_is_chosen_by_region_and_parcel(province, weight_g, expected):
    assert choose_carrier(RULES, ALL, province, weight_g, "ZTO").carrier == expected


def test_inactive_carriers_are_skipped():
    assert choose_carrier(RULES, ALL - {"SF"}, "江苏", 1000, "ZTO").carrier == "ZTO"
    assert choose_carrier(RULES, {"EMS"}, "广东", 1000, "ZTO").carrier == "EMS"
    none = choose_carrier(RULES, set(), "江苏", 1000, "ZTO")
    assert none.carrier is None and "warehouse" in none.reason


def test_weight_bounds_of_a_rule():
    rule = CarrierRule("light", "SF", (), min_weight_g=None, max_weight_g=3000)
    assert rule.applies("广东", 3000) and not rule.applies("广东", 3001)
    assert choose_carrier([rule], ALL, "广东", 2000, "ZTO").reason == "rule: light"


# Dispatch deadline -----------------------------------------------------------------------------
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
DOUBLE_11 = PromotionPeriod("双11", datetime(2026, 11, 11, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC))


def test_dispatch_within_24_hours_of_payment():
    due, promo = dispatch_deadline(T0, [DOUBLE_11])
    assert due == T0 + timedelta(hours=24) and promo is None


def test_48_hours_when_paid_in_a_promotion_period():
    paid = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
    assert dispatch_deadline(paid, [DOUBLE_11]) == (paid + timedelta(hours=48), "双11")
    end = DOUBLE_11.ends_at  # the end is exclusive
    assert dispatch_deadline(end, [DOUBLE_11]) == (end + timedelta(hours=24), None)


def test_deadline_hours_are_configurable():
    assert dispatch_deadline(T0, [], hours=12)[0] == T0 + timedelta(hours=12)


def test_overdue_only_while_pending_past_the_deadline():
    due = T0 + timedelta(hours=24)
    assert not is_overdue("pending", due, due)
    assert is_overdue("pending", due, due + timedelta(seconds=1))
    assert not is_overdue("dispatched", due, due + timedelta(days=3))


# State machine ---------------------------------------------------------------------------------
def test_the_happy_path():
    s = next_status("pending", "dispatch")
    s = next_status(s, domain.tracking_action("in_transit"))
    s = next_status(s, domain.tracking_action("exception"))
    s = next_status(s, domain.tracking_action("out_for_delivery"))
    assert next_status(s, domain.tracking_action("delivered")) == "delivered"
    assert next_status("pending", "cancel") == "cancelled"
    assert next_status("dispatched", "change the carrier of") == "dispatched"


@pytest.mark.parametrize(
    "current,action",
    [
        ("dispatched", "dispatch"),
        ("cancelled", "dispatch"),
        ("delivered", "dispatch"),
        ("dispatched", "cancel"),
        ("delivered", "cancel"),
        ("cancelled", "cancel"),
        ("pending", "track in_transit on"),
        ("pending", "track delivered on"),
        ("cancelled", "track exception on"),
        ("delivered", "track in_transit on"),
        ("delivered", "track delivered on"),
        ("pending", "change the carrier of"),
        ("in_transit", "change the carrier of"),
        ("delivered", "change the carrier of"),
        ("dispatched", "assign carrier to"),
    ],
)
def test_illegal_transitions_raise_and_map_to_409(current, action):
    with pytest.raises(IllegalTransition) as err:
        next_status(current, action)
    assert err.value.problem is Conflict and err.value.errors == {"status": [current]}


def test_unknown_tracking_status_is_refused():
    with pytest.raises(RuleViolation):
        domain.tracking_action("lost_in_space")


# Webhook signatures ----------------------------------------------------------------------------
BODY = b'{"event_id":"e1","status":"in_transit"}'


def test_signature_checks():
    good = domain.sign("s3cret", BODY)
    assert good.startswith("sha256=") and domain.signature_valid("s3cret", BODY, good)
    assert domain.signature_valid("s3cret", BODY, good[len("sha256=") :])  # bare hex accepted
    assert domain.signature_valid("s3cret", BODY, good.upper().replace("SHA256=", "sha256="))
    assert not domain.signature_valid("other", BODY, good)  # wrong secret
    assert not domain.signature_valid("s3cret", BODY + b" ", good)  # body tampered
    assert not domain.signature_valid("s3cret", BODY, None)  # no header
    assert not domain.signature_valid("s3cret", BODY, "sha256=")  # empty
    assert not domain.signature_valid("", BODY, domain.sign("", BODY))  # no secret configured


# Receiver, pick list, stalls -------------------------------------------------------------------
def test_receiver_is_masked_and_masking_is_idempotent():
    r = domain.masked_receiver(
        {
            "receiver_name": "欧阳娜娜",
            "receiver_phone": "13912345678",
            "province": "广东省",
            "city": "深圳市",
            "detail": "科技园 1 号",
        }
    )
    assert r["name"] == "欧***" and r["phone"] == "139****5678" and r["province"] == "广东"
    assert domain.masked_receiver(r) == r


def test_pick_list_adds_up_lines_of_one_sku():
    lines = [
        {"sku_code": "B", "quantity": 1},
        {"sku_code": "A", "quantity": 2, "unit_price_fen": 5},
        {"sku_code": "B", "quantity": 3},
    ]
    assert domain.pick_list(lines) == [{"sku_code": "A", "quantity": 2}, {"sku_code": "B", "quantity": 4}]


def test_stalled_after_the_configured_hours_without_progress():
    last = T0
    assert not domain.is_stalled("in_transit", last, last + timedelta(hours=47, minutes=59), 48, False)
    assert domain.is_stalled("in_transit", last, last + timedelta(hours=48), 48, False)
    assert domain.is_stalled("dispatched", last, last + timedelta(hours=6), 6, False)
    assert not domain.is_stalled("in_transit", last, last + timedelta(hours=99), 48, True)  # already queued
    assert not domain.is_stalled("delivered", last, last + timedelta(hours=99), 48, False)
    assert not domain.is_stalled("pending", None, last + timedelta(hours=99), 48, False)
