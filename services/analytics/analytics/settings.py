"""analytics' settings (ANALYTICS_*), read once per config: `ctx.settings` in a use case (the README's
"Settings" table, checked by tests/test_settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.settings import ServiceSettings, setting


@dataclass(frozen=True)
class Settings(ServiceSettings):
    day_utc_offset_hours: float = setting(
        "ANALYTICS_DAY_UTC_OFFSET_HOURS", 8, "hours east of UTC of the clock a shop's day follows (China: 8)"
    )
    visits_max_batch: int = setting("ANALYTICS_VISITS_MAX_BATCH", 500, "most visits one beacon POST may carry")
    old_buyer_days: int = setting(
        "ANALYTICS_OLD_BUYER_DAYS", 365, "a buyer who paid in this many days before a period is an old buyer"
    )
    max_range_days: int = setting("ANALYTICS_MAX_RANGE_DAYS", 366, "longest date range of one KPI report")
    top_n: int = setting("ANALYTICS_TOP_N", 10, "SKUs and categories in a report's top lists")
