"""Days of cover: how long a SKU's available stock lasts at its recent sales. The rules behind the
safety-stock alert, the pre-promotion cover report and the slow-mover / overstock report. No Flask,
no SQL (checked by mypy --strict like domain.py).

Sales are inventory's own: units deducted for orders (`deduct` movements with cause `order:*`) over
a window of days ending now; average daily sales = those units / window days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecom_common.errors import RuleViolation


def average_daily_sales(sold_in_window: int, window_days: int) -> float:
    if window_days < 1:
        raise RuleViolation("the sales window is at least 1 day", {"window_days": [str(window_days)]})
    return max(sold_in_window, 0) / window_days


def days_of_cover(available: int, average: float) -> float | None:
    """available / average daily sales; None when the SKU does not sell (its cover is unbounded)."""
    if average <= 0:
        return None
    return max(available, 0) / average


# Safety stock ------------------------------------------------------------------------------------
def below_safety_stock(available: int, average: float, cover_days: int) -> bool:
    """available <= average daily sales x cover days (3), for a SKU that sells."""
    return average > 0 and available <= average * cover_days


def safety_signal(alerted: bool, low: bool) -> str | None:
    """One alert per crossing: "alert" when low and not alerted yet, "rearm" once above again."""
    if low and not alerted:
        return "alert"
    if not low and alerted:
        return "rearm"
    return None


# Pre-promotion cover ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverLine:
    sku_code: str
    available: int
    sold_in_window: int
    average_daily_sales: float
    days_of_cover: float
    needed_units: int  # what brings the SKU up to the wanted days of cover

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku_code": self.sku_code,
            "available": self.available,
            "sold_in_window": self.sold_in_window,
            "average_daily_sales": round(self.average_daily_sales, 3),
            "days_of_cover": round(self.days_of_cover, 1),
            "needed_units": self.needed_units,
        }


def short_cover(
    sku_code: str, available: int, sold_in_window: int, *, window_days: int, cover_days: int
) -> CoverLine | None:
    """The SKU when its available stock covers fewer than `cover_days` (15) days of sales, with the
    units missing to reach them; None when it covers them or does not sell."""
    average = average_daily_sales(sold_in_window, window_days)
    days = days_of_cover(available, average)
    if days is None or days >= cover_days:
        return None
    needed = max(0, math.ceil(average * cover_days - 1e-9) - max(available, 0))
    return CoverLine(sku_code, available, sold_in_window, average, days, needed)


def days_until(start: datetime, now: datetime) -> float:
    """Days from now to a period's start (0 once it started)."""
    return max(0.0, (start - now).total_seconds() / 86400)


# Slow movers and overstock ---------------------------------------------------------------------
@dataclass(frozen=True)
class Movement:
    """A SKU as the slow-mover report sees it: stock, sales in the window, its last sale."""

    sku_code: str
    on_hand: int
    available: int
    sold_in_window: int
    last_sold_at: datetime | None


def slow_or_over(
    item: Movement, now: datetime, *, window_days: int, no_sales_days: int, overstock_days: int
) -> tuple[str, dict[str, Any]] | None:
    """("slow_mover", row) when units are on hand and nothing sold for `no_sales_days` (or ever);
    ("overstock", row) when it sells but available covers more than `overstock_days` days; else None.
    A slow mover is not also listed as overstock."""
    if item.on_hand <= 0:
        return None
    since = None if item.last_sold_at is None else (now - item.last_sold_at).total_seconds() / 86400
    row: dict[str, Any] = {
        "sku_code": item.sku_code,
        "on_hand": item.on_hand,
        "available": item.available,
        "last_sold_at": item.last_sold_at,
        "days_since_sale": None if since is None else math.floor(since),
    }
    if since is None or since >= no_sales_days:
        return "slow_mover", row
    average = average_daily_sales(item.sold_in_window, window_days)
    days = days_of_cover(item.available, average)
    if days is None or days > overstock_days:
        row["average_daily_sales"] = round(average, 3)
        row["days_of_cover"] = None if days is None else round(days, 1)
        row["excess_units"] = max(0, item.available - math.ceil(average * overstock_days - 1e-9))
        return "overstock", row
    return None
