"""The calls aftersales makes to other services: `GET orders /api/v1/orders/{order_id}` (and the
buyer's newest order), and catalog's banned-word list (`GET catalog /api/v1/banned-words`).

Behind small classes so that the rest of the service sees an `OrderView` and a `Lexicon`, not the
peers' JSON. Views reach the app's instances with `orders()` / `catalog()` (ecom_common.peers.gateway);
unit tests put fakes in their place with `peers.inject_gateway(app, ORDERS | CATALOG, fake)`.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from ecom_common.config import Config
from ecom_common.errors import BadGateway, ServiceUnavailable
from ecom_common.peers import PeerClient, gateway
from ecom_common.settings import settings_of

from .banned_words import Lexicon
from .domain import OrderView
from .settings import Settings

ORDERS = "orders"
CATALOG = "catalog"


class OrdersGateway:
    def __init__(self, config: Config):
        self.client = PeerClient(config, "orders")

    def get_order(self, order_id: str) -> OrderView | None:
        """The order, or None when orders does not know it. Orders unreachable -> 503 (PeerClient)."""
        resp = self.client.get(f"/api/v1/orders/{quote(order_id, safe='')}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise BadGateway(f"orders answered {resp.status_code} for order {order_id}")
        try:
            return OrderView.from_json(resp.json())
        except (KeyError, TypeError, ValueError) as exc:
            raise BadGateway(f"orders answered an order aftersales cannot read: {exc!r}") from exc

    def latest_order_id(self, buyer_id: str) -> str | None:
        """The buyer's newest order (to reach a buyer a message names without an order), or None."""
        resp = self.client.get("/api/v1/orders", params={"buyer_id": buyer_id, "limit": 1})
        if resp.status_code != 200:
            raise BadGateway(f"orders answered {resp.status_code} for buyer {buyer_id}'s orders")
        items = resp.json().get("items") or []
        return str(items[0]["order_id"]) if items else None


def orders() -> OrdersGateway:
    """The app's orders gateway (a fake in unit tests)."""
    return gateway(ORDERS, OrdersGateway)


class CatalogGateway:
    """Catalog's word list, kept for AFTERSALES_BANNED_WORDS_CACHE_SECONDS (per process). When catalog
    cannot be reached the last list read is used however old; with none yet, 503 (nothing written)."""

    def __init__(self, config: Config):
        self.client = PeerClient(config, "catalog")
        self.ttl = settings_of(config, Settings).banned_words_cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, Lexicon] | None = None

    def banned_words(self) -> Lexicon:
        with self._lock:
            cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            lexicon = self._read()
        except (ServiceUnavailable, BadGateway):
            if cached is not None:
                return cached[1]  # stale beats blocking reviews while catalog is away
            raise
        with self._lock:
            self._cached = (time.monotonic(), lexicon)
        return lexicon

    def _read(self) -> Lexicon:
        words: dict[str, list[str]] = {"banned": [], "exemption": []}
        cursor = None
        for _ in range(100):  # 20,000 words at most
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            resp = self.client.get("/api/v1/banned-words", params=params)
            if resp.status_code != 200:
                raise BadGateway(f"catalog answered {resp.status_code} for the banned-word list")
            body = resp.json()
            for item in body.get("items") or []:
                words.setdefault(str(item.get("kind")), []).append(str(item["word"]))
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return Lexicon(banned=tuple(words["banned"]), exemptions=tuple(words["exemption"]))


def catalog() -> CatalogGateway:
    """The app's catalog gateway (a fake in unit tests)."""
    return gateway(CATALOG, CatalogGateway)
