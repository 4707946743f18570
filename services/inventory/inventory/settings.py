"""inventory's settings: every `INVENTORY_*` variable the service reads, with its default (the
README's "Settings" table lists the same, checked by tests/test_settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.settings import ServiceSettings, setting

from .domain import ShortagePolicy


def _policy(raw: str) -> str:
    # An unknown policy falls back to the default rather than stopping the service.
    return raw if raw in ShortagePolicy.ALL else ShortagePolicy.DEFAULT


@dataclass(frozen=True)
class Settings(ServiceSettings):
    default_shortage_policy: str = setting(
        "INVENTORY_DEFAULT_SHORTAGE_POLICY",
        ShortagePolicy.DEFAULT,
        "policy of shops that never set one (`wait` or `cancel`; anything else reads as `wait`)",
        parse=_policy,
    )
    replenish_window_days: int = setting("INVENTORY_REPLENISH_WINDOW_DAYS", 30, "sales history for the average")
    replenish_cover_days: int = setting(
        "INVENTORY_REPLENISH_COVER_DAYS", 3, '"available ≤ average daily sales × 3 days"'
    )
    replenish_target_days: int = setting(
        "INVENTORY_REPLENISH_TARGET_DAYS", 15, "a reorder covers this many days (15 before a big promotion)"
    )
    waiting_batch: int = setting("INVENTORY_WAITING_BATCH", 500, "waiting orders tried per arrival of stock")
    promotion_cover_days: int = setting(
        "INVENTORY_PROMOTION_COVER_DAYS",
        15,
        "the pre-promotion report lists SKUs with fewer days of cover than this",
    )
    slow_mover_days: int = setting(
        "INVENTORY_SLOW_MOVER_DAYS", 60, "a SKU with units on hand and no sale in this many days is a slow mover"
    )
    overstock_days: int = setting(
        "INVENTORY_OVERSTOCK_DAYS",
        90,
        "a SKU that sells but whose available stock covers more days than this is overstock",
    )
