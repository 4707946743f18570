"""The three peers orders asks when an order is placed: catalog (prices), marketing (promotions,
coupons, points: the quote, which also locks the coupons for the order) and logistics (shipping fee).

Small classes over ecom_common.peers.PeerClient. operations.place reaches them through
`peers.gateway(PEERS, Gateways.from_config)`; unit tests put fakes in their place with
`peers.inject_gateway(app, PEERS, Gateways(FakeCatalog(), FakeLogistics(), FakeMarketing()))`. A peer
that cannot be reached raises ServiceUnavailable (503) from PeerClient before anything is written.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ecom_common.config import Config
from ecom_common.errors import BadGateway, RuleViolation
from ecom_common.peers import PeerClient

from . import pricing


class RegionNotServed(RuleViolation):
    """Logistics does not deliver to this province (its 422)."""

    def __init__(self, province: str, detail: str | None = None):
        super().__init__(
            detail or f"the shop does not ship to {province}", {"address.province": [f"Not served: {province}."]}
        )


@dataclass(frozen=True)
class Quote:
    fee_fen: int
    breakdown: list = field(default_factory=list)


class CatalogGateway:
    def __init__(self, config: Config):
        self.client = PeerClient(config, "catalog")

    def skus(self, shop_id: str, sku_codes: list[str]) -> dict[str, dict]:
        """The shop's SKUs by code; codes catalog does not know are simply absent."""
        resp = self.client.post("/api/v1/skus/batch", json={"shop_id": shop_id, "sku_codes": sku_codes})
        if resp.status_code != 200:
            raise BadGateway(f"catalog answered {resp.status_code} to a SKU lookup")
        body = resp.json()
        return {item["sku_code"]: item for item in body.get("items", [])}


class LogisticsGateway:
    def __init__(self, config: Config):
        self.client = PeerClient(config, "logistics")

    def quote(self, shop_id: str, province: str, weight_g: int, goods_fen: int) -> Quote:
        resp = self.client.post(
            "/api/v1/shipping/quote",
            json={
                "shop_id": shop_id,
                "province": province,
                "weight_g": weight_g,
                "goods_fen": goods_fen,
            },
        )
        if resp.status_code == 422:
            detail = None
            with contextlib.suppress(ValueError):
                detail = resp.json().get("detail")
            raise RegionNotServed(province, detail)
        if resp.status_code != 200:
            raise BadGateway(f"logistics answered {resp.status_code} to a shipping quote")
        body = resp.json()
        if body.get("served") is False:
            raise RegionNotServed(province)
        return Quote(fee_fen=int(body["fee_fen"]), breakdown=list(body.get("breakdown") or []))


class CouponRefused(RuleViolation):
    """Marketing refused the coupon claims or the points (its 422): the buyer's to fix, with
    marketing's reason per field (`coupon_claim_ids`: expired, below_threshold, locked, ...;
    `points`: not_enough_points)."""


class MarketingGateway:
    def __init__(self, config: Config):
        self.client = PeerClient(config, "marketing")

    def quote(self, order_id: str, request: pricing.OrderRequest, lines: list[pricing.PricedLine]) -> pricing.Quote:
        """Marketing's price of the lines for this buyer, locking the coupon claims and points for
        `order_id` (idempotent by it: asked again, marketing answers the same quote)."""
        resp = self.client.post(
            "/api/v1/quotes",
            json={
                "order_id": order_id,
                "shop_id": request.shop_id,
                "buyer_id": request.buyer_id,
                "lines": [
                    {
                        "sku_code": line.sku_code,
                        "quantity": line.quantity,
                        "list_price_fen": line.list_unit_fen,
                        "promo_price_fen": line.promo_price_fen,
                        "member_price_fen": line.member_price_fen,
                        "category_id": line.category_id,
                    }
                    for line in lines
                ],
                "coupon_claim_ids": list(request.coupon_claim_ids),
                "points": request.points,
            },
        )
        if resp.status_code == 422:
            body = _json(resp)
            raise CouponRefused(body.get("detail") or "marketing refused the quote", body.get("errors") or {})
        if resp.status_code != 200:
            raise BadGateway(f"marketing answered {resp.status_code} to a quote")
        return _quote_of(_json(resp))


def _json(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _quote_of(body: dict) -> pricing.Quote:
    try:
        return pricing.Quote(
            lines=tuple(
                pricing.QuotedLine(
                    sku_code=str(q["sku_code"]),
                    quantity=int(q["quantity"]),
                    unit_price_fen=int(q["unit_price_fen"]),
                    discount_fen=int(q["discount_fen"]),
                )
                for q in body["lines"]
            ),
            discounts=tuple(
                pricing.Discount(
                    line=int(d["line"]),
                    sku_code=str(d["sku_code"]),
                    source=str(d["source"]),
                    ref=d.get("ref"),
                    amount_fen=int(d["amount_fen"]),
                    funded_by=str(d["funded_by"]),
                )
                for d in body.get("discounts") or []
            ),
            points_used=int(body.get("points_used") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadGateway(f"marketing answered a quote orders cannot read: {exc!r}") from exc


# The app's gateways to its peers, under this key (ecom_common.peers.gateway).
PEERS = "orders.peers"


@dataclass
class Gateways:
    catalog: CatalogGateway
    logistics: LogisticsGateway
    marketing: MarketingGateway

    @classmethod
    def from_config(cls, config: Config) -> Gateways:
        return cls(CatalogGateway(config), LogisticsGateway(config), MarketingGateway(config))
