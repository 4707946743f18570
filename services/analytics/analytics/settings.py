"""analytics' settings (ANALYTICS_*), read once per config: `ctx.settings` in a use case (the README's
"Settings" table, checked by tests/test_settings.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from ecom_common.settings import ServiceSettings, setting

from . import domain


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
    carrier_promise_hours: float = setting(
        "ANALYTICS_CARRIER_PROMISE_HOURS",
        72.0,
        "a parcel delivered within this many hours of its dispatch is on time (carrier on-time %)",
    )
    conversion_benchmarks: dict | None = setting(
        "ANALYTICS_CONVERSION_BENCHMARKS",
        None,
        'each shop\'s benchmark payment conversion, JSON `{"<shop_id>": 0.05}`; unset: no conversion alert',
        parse=json.loads,
    )
    conversion_drop: float = setting(
        "ANALYTICS_CONVERSION_DROP", 0.15, "conversion this fraction below the shop's benchmark raises an alert"
    )
    refund_rate_max: float = setting("ANALYTICS_REFUND_RATE_MAX", 0.1, "a day's refund rate above this raises an alert")
    new_buyer_share_min: float = setting(
        "ANALYTICS_NEW_BUYER_SHARE_MIN", 0.3, "a day's new-customer share under this raises an alert"
    )

    @cached_property
    def alert_policy(self) -> domain.AlertPolicy:
        return domain.AlertPolicy(
            conversion_benchmarks={k: float(v) for k, v in (self.conversion_benchmarks or {}).items()},
            conversion_drop=self.conversion_drop,
            refund_rate_max=self.refund_rate_max,
            new_buyer_share_min=self.new_buyer_share_min,
        )
