"""inventory domain: stock per SKU and warehouse. No Flask, no SQL.

available = on_hand - reserved. Stock is never taken by reading a number in Python and writing back
a smaller one: the database does it with a conditional update (see models/handlers), so that two
buyers can never both take the last unit.

A SKU code is unique per shop (catalog), so stock is keyed by (shop_id, sku_code, warehouse_code).
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_WAREHOUSE = "WH1"


class Movement:
    """Kinds of stock-ledger rows: every change of on_hand or reserved is one of these."""

    IN = "in"
    OUT = "out"
    RESERVE = "reserve"
    RELEASE = "release"
    DEDUCT = "deduct"
    ADJUST = "adjust"
    CREATE = "create"

    ALL = (IN, OUT, RESERVE, RELEASE, DEDUCT, ADJUST, CREATE)


@dataclass(frozen=True)
class NewSku:
    sku_code: str
    shop_id: str
    low_stock_threshold: int


def skus_from_listing(payload: dict) -> list[NewSku]:
    """The SKUs a catalog.ProductListed event brings, with their low-stock thresholds."""
    return [
        NewSku(sku["sku_code"], payload["shop_id"], int(sku.get("low_stock_threshold", 10)))
        for sku in payload.get("skus", [])
    ]
