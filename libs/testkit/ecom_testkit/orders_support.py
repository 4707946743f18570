"""Test data and fake peer gateways of the orders tests (imported by their conftest and test modules)."""

from __future__ import annotations

from ecom_common.errors import ServiceUnavailable
from orders.gateways import Quote, RegionNotServed

SHOP = "S1"
OTHER_SHOP = "S2"


def sku(code, price_fen, list_price_fen=None, weight_g=500, sellable=True, category_id="C-dress", status="listed"):
    return {
        "sku_code": code,
        "shop_id": SHOP,
        "product_id": "P1",
        "title": f"商品 {code}",
        "category_id": category_id,
        "product_status": status,
        "sellable": sellable,
        "list_price_fen": list_price_fen or price_fen,
        "promo_price_fen": None,
        "member_price_fen": None,
        "price_fen": price_fen,
        "weight_g": weight_g,
        "low_stock_threshold": 10,
        "spec": {},
    }


class FakeCatalog:
    def __init__(self):
        self.down = False
        self.calls = []
        self.by_shop = {
            SHOP: {
                "RED-M": sku("RED-M", 9900, list_price_fen=12900),  # on promotion: 30 yuan off
                "BLUE-L": sku("BLUE-L", 5000, weight_g=1500),
                "BIG": sku("BIG", 600000, weight_g=2000),  # 6000 yuan: always reviewed
                "MID": sku("MID", 100000, weight_g=1000),  # 1000 yuan: between thresholds
                "OLD": sku("OLD", 3000, sellable=False, status="delisted"),
            },
            OTHER_SHOP: {"GREEN-S": sku("GREEN-S", 2000)},
        }

    def skus(self, shop_id, sku_codes):
        self.calls.append((shop_id, list(sku_codes)))
        if self.down:
            raise ServiceUnavailable("catalog is unreachable: ConnectionError")
        known = self.by_shop.get(shop_id, {})
        return {c: known[c] for c in sku_codes if c in known}


class FakeLogistics:
    """10 yuan flat, free from 99 yuan of goods; 台湾 not served."""

    def __init__(self):
        self.down = False
        self.calls = []

    def quote(self, shop_id, province, weight_g, goods_fen):
        self.calls.append((shop_id, province, weight_g, goods_fen))
        if self.down:
            raise ServiceUnavailable("logistics is unreachable: ConnectionError")
        if province == "台湾":
            raise RegionNotServed(province)
        fee = 0 if goods_fen >= 9900 else 1000
        return Quote(fee, [{"item": "base", "fee_fen": fee}])


ADDRESS = {
    "name": "张三",
    "phone": "13812345678",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "street": "文三路",
    "detail": "100号3幢501",
}


def order_body(lines=None, **overrides):
    body = {
        "shop_id": SHOP,
        "lines": lines or [{"sku_code": "RED-M", "quantity": 2}],
        "address": dict(ADDRESS),
        "note": "",
    }
    body.update(overrides)
    return body
