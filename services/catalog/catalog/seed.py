"""The default category tree and advertising-law word list, seeded by migration 0001 (and listed in
the README); admins change both over the API afterwards."""

from __future__ import annotations

from typing import Any

from .domain import ENUM, MULTI_ENUM, NUMBER, TEXT

SEED_CATEGORIES: list[dict[str, Any]] = [
    {"id": "womenswear", "parent_id": None, "name": "女装", "attributes": []},
    {
        "id": "womenswear-dresses",
        "parent_id": "womenswear",
        "name": "连衣裙",
        "attributes": [
            {"name": "尺码", "type": MULTI_ENUM, "required": True, "options": ["XS", "S", "M", "L", "XL", "XXL"]},
            {
                "name": "颜色",
                "type": MULTI_ENUM,
                "required": True,
                "options": ["黑色", "白色", "红色", "蓝色", "粉色", "绿色", "黄色", "灰色", "杏色"],
            },
            {
                "name": "材质",
                "type": ENUM,
                "required": True,
                "options": ["棉", "麻", "真丝", "涤纶", "羊毛", "雪纺", "混纺"],
            },
            {"name": "裙长", "type": ENUM, "required": False, "options": ["短裙", "中长裙", "长裙"]},
            {"name": "风格", "type": TEXT, "required": False},
        ],
    },
    {"id": "beauty", "parent_id": None, "name": "美妆护肤", "attributes": []},
    {
        "id": "beauty-masks",
        "parent_id": "beauty",
        "name": "面膜",
        "attributes": [
            {
                "name": "适用肤质",
                "type": MULTI_ENUM,
                "required": True,
                "options": ["干性", "油性", "混合性", "中性", "敏感性", "通用"],
            },
            {"name": "净含量ml", "type": NUMBER, "required": True},
            {"name": "片数", "type": NUMBER, "required": False},
        ],
    },
    {
        "id": "beauty-masks-repair",
        "parent_id": "beauty-masks",
        "name": "修护面膜",
        "attributes": [
            {"name": "功效", "type": MULTI_ENUM, "required": True, "options": ["修护", "补水", "舒缓", "保湿", "提亮"]},
            {"name": "备案号", "type": TEXT, "required": False},
        ],
    },
    {"id": "digital", "parent_id": None, "name": "数码", "attributes": []},
    {
        "id": "digital-phones",
        "parent_id": "digital",
        "name": "手机",
        "attributes": [
            {"name": "网络类型", "type": ENUM, "required": True, "options": ["5G", "4G"]},
            {
                "name": "存储容量",
                "type": MULTI_ENUM,
                "required": True,
                "options": ["64GB", "128GB", "256GB", "512GB", "1TB"],
            },
            {"name": "颜色", "type": TEXT, "required": False},
            {"name": "屏幕尺寸英寸", "type": NUMBER, "required": False},
            {"name": "运行内存", "type": ENUM, "required": False, "options": ["4GB", "6GB", "8GB", "12GB", "16GB"]},
        ],
    },
]

# 广告法 第九条 (absolute terms) and the usual platform list; admins edit it at /api/v1/banned-words.
SEED_BANNED_WORDS = [
    "最",
    "第一",
    "绝对",
    "国家级",
    "顶级",
    "极品",
    "唯一",
    "首个",
    "首选",
    "独家",
    "全网第一",
    "史无前例",
    "万能",
    "永久",
    "王牌",
    "世界级",
    "冠军",
    "极致",
    "终极",
    "顶尖",
    "100%",
    "NO.1",
    "TOP1",
]
# Ordinary words that contain a banned one but claim nothing.
SEED_EXEMPTIONS = ["最近", "最初", "第一次", "第一步", "绝对值"]
