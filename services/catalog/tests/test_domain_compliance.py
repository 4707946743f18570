"""The compliance scan and category rules, without a database."""

from __future__ import annotations

import pytest

from catalog import compliance, domain, seed
from catalog.compliance import Lexicon
from catalog.settings import Settings

RULES = Settings()
LEX = Lexicon(banned=tuple(seed.SEED_BANNED_WORDS), exemptions=tuple(seed.SEED_EXEMPTIONS))
TREE = domain.CategoryTree(
    [
        domain.CategoryNode(
            c["id"],
            c["name"],
            c["parent_id"],
            [
                domain.AttributeDef(a["name"], a["type"], a["required"], tuple(a.get("options", [])), c["id"])
                for a in c["attributes"]
            ],
        )
        for c in seed.SEED_CATEGORIES
    ]
)


def rules_of(findings, severity=compliance.ERROR):
    return [(f.field, f.rule) for f in findings if f.severity == severity]


# Title -----------------------------------------------------------------------------------------
def test_a_cjk_character_counts_as_one():
    assert compliance.title_length("连衣裙") == 3
    assert compliance.title_length("  iPhone 15 手机  ") == 12  # trimmed; Latin, digits and spaces count one


def test_thirty_cjk_characters_pass_thirty_one_fail():
    assert compliance.scan_title("裙" * 30, RULES) == []
    [f] = compliance.scan_title("裙" * 31, RULES)
    assert (f.field, f.rule, f.text) == ("title", "title_too_long", "裙" * 31)
    assert "31" in f.message


def test_a_title_of_thirty_cjk_characters_is_90_utf8_bytes_and_still_passes():
    title = "法式碎花雪纺连衣裙" * 3 + "夏季新款"  # 9 * 3 + 4 = 31 characters
    assert compliance.title_length(title) == 31
    assert compliance.scan_title(title[:30], RULES) == []
    assert len(title[:30].encode()) == 90


def test_mixed_title_counts_each_character_once():
    title = "Apple iPhone 15 Pro 256GB 5G手机"  # 30 characters
    assert compliance.title_length(title) == 30
    assert compliance.scan_title(title, RULES) == []
    assert rules_of(compliance.scan_title(title + "!", RULES)) == [("title", "title_too_long")]


def test_decomposed_accents_are_not_counted_twice():
    assert compliance.title_length("Cafe\u0301") == 4


@pytest.mark.parametrize("title", ["", "   ", None])
def test_empty_title_is_a_finding(title):
    assert rules_of(compliance.scan_title(title, RULES)) == [("title", "title_required")]


def test_title_limit_is_configurable():
    assert compliance.scan_title("裙" * 31, Settings(title_max_chars=40)) == []


# Banned words ----------------------------------------------------------------------------------
def test_banned_word_in_title_names_the_word():
    [f] = compliance.scan_words("title", "全网最好的连衣裙", LEX)
    assert (f.field, f.rule, f.text) == ("title", "banned_word", "最")


def test_exemption_is_not_flagged():
    assert compliance.scan_words("description", "适合最近的天气，第一次穿也合身", LEX) == []


def test_exemption_does_not_hide_a_separate_banned_occurrence():
    [f] = compliance.scan_words("description", "最近最火的款", LEX)
    assert f.text == "最"


def test_longer_banned_word_reported_once_not_its_parts():
    found = compliance.scan_words("title", "销量全网第一", LEX)
    assert [f.text for f in found] == ["全网第一"]


def test_several_banned_words_each_reported():
    found = compliance.scan_words("description", "国家级品质，绝对顶级", LEX)
    assert sorted(f.text for f in found) == sorted(["国家级", "绝对", "顶级"])


def test_latin_banned_words_match_case_insensitively():
    [f] = compliance.scan_words("title", "销量No.1的面膜", LEX)
    assert f.text == "No.1"


def test_words_come_from_the_given_lexicon():
    lex = Lexicon(banned=("爆款",), exemptions=())
    assert [f.text for f in compliance.scan_words("title", "爆款连衣裙最近上新", lex)] == ["爆款"]
    assert compliance.scan_words("title", "普通连衣裙", lex) == []


def test_scan_product_checks_title_and_description():
    draft = {"title": "最美连衣裙", "description": "绝对好看", "images": [], "skus": []}
    found = compliance.scan_product(draft, TREE, LEX, RULES)
    assert ("title", "banned_word") in rules_of(found)
    assert ("description", "banned_word") in rules_of(found)


# Images ----------------------------------------------------------------------------------------
def img(w, h):
    return {"url": "u", "width": w, "height": h}


def test_at_least_one_image():
    assert rules_of(compliance.scan_images([], RULES)) == [("images", "image_required")]


def test_main_image_at_least_800_square():
    assert rules_of(compliance.scan_images([img(800, 800)], RULES)) == []
    assert rules_of(compliance.scan_images([img(799, 799)], RULES)) == [("images[0]", "main_image_size")]
    assert rules_of(compliance.scan_images([img(1000, 800)], RULES)) == [("images[0]", "main_image_square")]
    f = compliance.scan_images([img(600, 800)], RULES)
    assert set(rules_of(f)) == {("images[0]", "main_image_size"), ("images[0]", "main_image_square")}
    assert f[0].text == "600x800"


def test_main_image_needs_its_size():
    assert rules_of(compliance.scan_images([{"url": "u"}], RULES)) == [("images[0]", "main_image_size")]


def test_detail_images_at_most_750_wide_when_width_given():
    images = [img(800, 800), img(750, 2000), img(751, 100), {"url": "no-size"}]
    assert rules_of(compliance.scan_images(images, RULES)) == [("images[2]", "detail_image_width")]


def test_few_detail_images_is_only_a_warning():
    found = compliance.scan_images([img(800, 800)], RULES)
    assert rules_of(found) == []
    assert rules_of(found, compliance.WARNING) == [("images", "detail_images_few")]


def test_video_length_is_a_warning():
    assert rules_of(compliance.scan_video({"url": "v", "duration_s": 90}, RULES), compliance.WARNING) == [
        ("video.duration_s", "video_length")
    ]
    assert compliance.scan_video({"url": "v", "duration_s": 45}, RULES) == []


# Prices ----------------------------------------------------------------------------------------
def sku(lp, pp=None, mp=None, code="A"):
    return {"sku_code": code, "list_price_fen": lp, "promo_price_fen": pp, "member_price_fen": mp}


def test_valid_prices_pass():
    assert compliance.scan_prices([sku(10000, 8000, 10000)]) == []


def test_promo_must_be_below_list():
    assert rules_of(compliance.scan_prices([sku(10000, 10000)])) == [("skus[0].promo_price_fen", "promo_below_list")]
    assert rules_of(compliance.scan_prices([sku(10000, 12000)])) == [("skus[0].promo_price_fen", "promo_below_list")]


def test_member_price_may_equal_but_not_exceed_list():
    assert compliance.scan_prices([sku(10000, mp=10000)]) == []
    assert rules_of(compliance.scan_prices([sku(10000, mp=10001)])) == [
        ("skus[0].member_price_fen", "member_not_above_list")
    ]


@pytest.mark.parametrize(
    "field,s",
    [
        ("skus[0].list_price_fen", sku(0)),
        ("skus[0].list_price_fen", sku(-5)),
        ("skus[0].promo_price_fen", sku(100, 0)),
        ("skus[0].member_price_fen", sku(100, mp=-1)),
    ],
)
def test_every_price_positive(field, s):
    assert (field, "price_positive") in rules_of(compliance.scan_prices([s]))


def test_price_findings_name_the_sku():
    found = compliance.scan_prices([sku(100), sku(100, 150, code="B")])
    assert rules_of(found) == [("skus[1].promo_price_fen", "promo_below_list")]
    assert found[0].text == "150"


def test_effective_price_is_promo_when_set():
    assert domain.effective_price(100, 80) == 80
    assert domain.effective_price(100, None) == 100


# SKUs ------------------------------------------------------------------------------------------
def test_at_least_one_sku_and_distinct_codes_and_specs():
    assert rules_of(compliance.scan_skus([])) == [("skus", "sku_required")]
    found = compliance.scan_skus(
        [
            {"sku_code": "A", "spec": {"尺码": "S"}},
            {"sku_code": "A", "spec": {"尺码": "M"}},
            {"sku_code": "B", "spec": {"尺码": "S"}},
        ]
    )
    assert rules_of(found) == [("skus[1].sku_code", "sku_code_duplicate"), ("skus[2].spec", "sku_spec_duplicate")]


# Categories and attributes -----------------------------------------------------------------------
GOOD_DRESS_ATTRS = {"尺码": ["S", "M"], "颜色": ["红色"], "材质": "雪纺"}


def test_valid_attributes_in_a_leaf_pass():
    assert compliance.scan_category(TREE, "womenswear-dresses", GOOD_DRESS_ATTRS, []) == []


def test_only_leaf_categories_hold_products():
    [f] = compliance.scan_category(TREE, "womenswear", {}, [])
    assert (f.field, f.rule, f.text) == ("category_id", "category_not_leaf", "女装")
    assert rules_of(compliance.scan_category(TREE, "beauty-masks", {}, [])) == [("category_id", "category_not_leaf")]


def test_unknown_category():
    assert rules_of(compliance.scan_category(TREE, "nope", {}, [])) == [("category_id", "category_unknown")]


def test_electrical_attribute_under_clothing_is_caught():
    found = compliance.scan_category(TREE, "womenswear-dresses", {**GOOD_DRESS_ATTRS, "电压": "220V"}, [])
    assert rules_of(found) == [("attributes.电压", "attribute_unknown")]
    assert found[0].text == "电压"


def test_required_attributes_must_be_present():
    found = compliance.scan_category(TREE, "womenswear-dresses", {"尺码": ["S"]}, [])
    assert sorted(rules_of(found)) == [
        ("attributes.材质", "attribute_required"),
        ("attributes.颜色", "attribute_required"),
    ]


def test_attribute_types():
    bad = {"尺码": "S", "颜色": ["紫色"], "材质": ["棉"], "风格": ""}
    found = compliance.scan_category(TREE, "womenswear-dresses", bad, [])
    assert sorted(rules_of(found)) == sorted(
        [
            ("attributes.尺码", "attribute_type"),  # multi-enum takes a list
            ("attributes.颜色", "attribute_value"),  # not an allowed value
            ("attributes.材质", "attribute_type"),  # enum takes one value
            ("attributes.风格", "attribute_type"),  # text must not be empty
        ]
    )


def test_number_attribute_and_inherited_attributes():
    ok = {"适用肤质": ["通用"], "净含量ml": 25, "功效": ["修护"]}  # 适用肤质/净含量 inherited from 面膜
    assert compliance.scan_category(TREE, "beauty-masks-repair", ok, []) == []
    found = compliance.scan_category(TREE, "beauty-masks-repair", {**ok, "净含量ml": "25ml"}, [])
    assert rules_of(found) == [("attributes.净含量ml", "attribute_type")]
    found = compliance.scan_category(TREE, "beauty-masks-repair", {**ok, "净含量ml": True}, [])
    assert rules_of(found) == [("attributes.净含量ml", "attribute_type")]


def test_sku_spec_must_fit_the_category():
    skus = [
        {"sku_code": "A", "spec": {"颜色": "红色", "尺码": "M"}},
        {"sku_code": "B", "spec": {"颜色": "紫色", "功率": "100W"}},
    ]
    found = compliance.scan_category(TREE, "womenswear-dresses", GOOD_DRESS_ATTRS, skus)
    assert sorted(rules_of(found)) == [
        ("skus[1].spec.功率", "attribute_unknown"),
        ("skus[1].spec.颜色", "attribute_value"),
    ]


def test_attribute_completeness():
    assert compliance.attribute_completeness(TREE, "womenswear-dresses", GOOD_DRESS_ATTRS) == 60  # 3 of 5
    full = {**GOOD_DRESS_ATTRS, "裙长": "长裙", "风格": "通勤"}
    assert compliance.attribute_completeness(TREE, "womenswear-dresses", full) == 100
    draft = {
        "category_id": "womenswear-dresses",
        "title": "连衣裙",
        "attributes": GOOD_DRESS_ATTRS,
        "images": [img(800, 800)] + [img(750, 750)] * 5,
        "skus": [sku(100)],
    }
    found = compliance.scan_product(draft, TREE, LEX, RULES)
    assert rules_of(found) == []
    assert ("attributes", "attribute_completeness") in rules_of(found, compliance.WARNING)


def test_attribute_definitions_rules():
    inherited = [domain.AttributeDef("颜色", domain.TEXT)]
    errors = domain.validate_attribute_defs(
        [
            {"name": "颜色", "type": "text"},
            {"name": "尺码", "type": "enum", "options": []},
            {"name": "产地", "type": "colour"},
            {"name": "重量", "type": "number", "options": ["1"]},
            {"name": "款式", "type": "multi_enum", "options": ["A", "A"]},
        ],
        inherited,
    )
    assert set(errors) == {
        "attributes[0].name",
        "attributes[1].options",
        "attributes[2].type",
        "attributes[3].options",
        "attributes[4].options",
    }
    assert domain.validate_attribute_defs([{"name": "尺码", "type": "enum", "options": ["S"]}], inherited) == {}


def test_field_errors_name_rule_and_text():
    found = [
        compliance.Finding("title", "banned_word", "最", "…"),
        compliance.Finding("images", "detail_images_few", "0", "…", compliance.WARNING),
    ]
    errors = compliance.field_errors(found)
    assert list(errors) == ["title"]
    assert "banned_word" in errors["title"][0] and "'最'" in errors["title"][0]
