"""marketing's settings: one frozen object, read once per config (`settings_of`). The service
README's `## Settings` table lists the same variables with the same defaults
(tests/test_settings.py checks it)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.settings import ServiceSettings, setting


@dataclass(frozen=True)
class Settings(ServiceSettings):
    lock_timeout_minutes: int = setting(
        "MARKETING_LOCK_TIMEOUT_MINUTES",
        30,
        "a coupon or points locked by a quote whose order never appears are released after this",
    )
    points_per_yuan: int = setting("MARKETING_POINTS_PER_YUAN", 1, "points earned per yuan paid, on completion")
    points_max_percent: int = setting(
        "MARKETING_POINTS_MAX_PERCENT", 50, "the share of what is still payable that points may pay (100 = all)"
    )
    tier_active_orders: int = setting("MARKETING_TIER_ACTIVE_ORDERS", 2, "paid orders that make a member active")
    tier_high_value_fen: int = setting(
        "MARKETING_TIER_HIGH_VALUE_FEN", 500000, "paid net of refunds that makes a member high value"
    )
    level_growth: tuple[str, ...] = setting(
        "MARKETING_LEVEL_GROWTH", ("0", "1000", "5000", "20000"), "growth value (yuan paid net) of levels 1, 2, ..."
    )
    level_coupon_fen: tuple[str, ...] = setting(
        "MARKETING_LEVEL_COUPON_FEN", ("0", "500", "1000", "2000"), "the coupon (fen) of levels 1, 2, ... each month"
    )
    repurchase_after_days: int = setting(
        "MARKETING_REPURCHASE_AFTER_DAYS",
        30,
        "a buyer's one paid order this old, no repeat, not refunded: re-purchase coupon",
    )
    repurchase_coupon_fen: int = setting(
        "MARKETING_REPURCHASE_COUPON_FEN", 1000, "the re-purchase coupon (no threshold)"
    )
    repurchase_valid_days: int = setting("MARKETING_REPURCHASE_VALID_DAYS", 14, "days the re-purchase coupon is valid")
    compensation_valid_days: int = setting(
        "MARKETING_COMPENSATION_VALID_DAYS", 30, "days a compensation coupon (a complaint's solution) is valid"
    )
    utc_offset_minutes: int = setting(
        "MARKETING_UTC_OFFSET_MINUTES", 480, "the local time of daily discount windows (480: China, UTC+8)"
    )
