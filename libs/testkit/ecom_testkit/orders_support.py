"""Test data and fake peer gateways of the orders tests (imported by their conftest and test modules)."""

from __future__ import annotations

from ecom_common.errors import ServiceUnavailable
from orders import pricing
from orders.gateways import CouponRefused, Quote, RegionNotServed

SHOP = "S1"
OTHER_SHOP = "S2"


def sku(
    code, price_fen, list_price_fen=None, weight_g=500, sellable=True, category_id="C-dress", status="listed", **special
):
    """Catalog's SKU read model; `special`: no_7day_return, presale_ship_days (special goods), spec,
    handling (marks "fragile", "liquid" for the pick list)."""
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
        "spec": special.get("spec", {}),
        "handling": special.get("handling", []),
        "no_7day_return": special.get("no_7day_return", False),
        "presale_ship_days": special.get("presale_ship_days"),
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
                "CUSTOM": sku("CUSTOM", 8000, no_7day_return=True),  # made to measure: no 7-day return
                "PRE-7": sku("PRE-7", 8000, presale_ship_days=7),  # presale: ships within 7 days of payment
                "PRE-15": sku("PRE-15", 6000, presale_ship_days=15),
                # a glass bottle of oil: the pick list shows its spec and handling marks
                "OIL-1L": sku("OIL-1L", 4000, spec={"容量": "1L"}, handling=["fragile", "liquid"]),
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


class FakeMarketing:
    """Marketing for orders' unit tests: the single-item price is catalog's promo price when lower
    than the list price, and each coupon of `coupons` (claim id -> (fen, funder)) is taken off the
    lines in proportion to what they cost (largest remainder); any other claim is refused. The real
    engine and its properties are marketing's own tests; the saga tests run the real service."""

    def __init__(self):
        self.down = False
        self.calls = []
        self.coupons = {"CL-SHOP-10": (1000, "shop"), "CL-PLAT-5": (500, "platform")}

    def quote(self, order_id, request, lines):
        self.calls.append((order_id, request.buyer_id, list(request.coupon_claim_ids), request.points))
        if self.down:
            raise ServiceUnavailable("marketing is unreachable: ConnectionError")
        owed = [(line.promo_price_fen or line.list_unit_fen) * line.quantity for line in lines]
        rows = [
            pricing.Discount(
                i,
                line.sku_code,
                "promo_price",
                None,
                (line.list_unit_fen - line.unit_price_fen) * line.quantity,
                "shop",
            )
            for i, line in enumerate(lines)
            if line.promo_price_fen is not None
        ]
        shares = [0] * len(lines)
        for claim in request.coupon_claim_ids:
            if claim not in self.coupons:
                raise CouponRefused("a coupon cannot be used", {"coupon_claim_ids": ["unknown"]})
            amount, funder = self.coupons[claim]
            cut = largest_remainder(min(amount, sum(owed)), owed)
            for i, share in enumerate(cut):
                if share:
                    owed[i] -= share
                    shares[i] += share
                    source = "shop_coupon" if funder == "shop" else "platform_coupon"
                    rows.append(pricing.Discount(i, lines[i].sku_code, source, claim, share, funder))
        quoted = tuple(
            pricing.QuotedLine(line.sku_code, line.quantity, line.promo_price_fen or line.list_unit_fen, shares[i])
            for i, line in enumerate(lines)
        )
        return pricing.Quote(quoted, tuple(sorted(rows, key=lambda r: r.line)))


def largest_remainder(amount, weights):
    """`amount` split in proportion to `weights`, in whole fen that sum to it exactly."""
    total = sum(weights)
    if total <= 0:
        return [0] * len(weights)
    exact = [amount * w for w in weights]
    shares = [e // total for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] % total), i))
    for i in order[: amount - sum(shares)]:
        shares[i] += 1
    return shares


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
