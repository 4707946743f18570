"""The two peers orders asks when an order is placed: catalog (prices) and logistics (shipping fee).

Small classes over ecom_common.peers.PeerClient. operations.place reaches both through
`peers.gateway(PEERS, Gateways.from_config)`; unit tests put fakes in their place with
`peers.inject_gateway(app, PEERS, Gateways(FakeCatalog(), FakeLogistics()))`. A peer that cannot be
reached raises ServiceUnavailable (503) from PeerClient before anything is written.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ecom_common.config import Config
from ecom_common.errors import BadGateway, RuleViolation
from ecom_common.peers import PeerClient


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


# The app's gateways to both peers, under this key (ecom_common.peers.gateway).
PEERS = "orders.peers"


@dataclass
class Gateways:
    catalog: CatalogGateway
    logistics: LogisticsGateway

    @classmethod
    def from_config(cls, config: Config) -> Gateways:
        return cls(CatalogGateway(config), LogisticsGateway(config))
