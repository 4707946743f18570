"""orders' settings (ORDERS_*), read once per config: `ctx.settings` in operations, handlers and jobs.

The audit figures are the seed rules of a shop that has not set its own (`operations.seed_rules`);
their defaults are domain.AuditRules' own, so the SOP's figures are written in one place.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from ecom_common.settings import ServiceSettings, setting

from .domain import AuditRules

_SEED = AuditRules()


@dataclass(frozen=True)
class Settings(ServiceSettings):
    unpaid_timeout_minutes: float = setting(
        "ORDERS_UNPAID_TIMEOUT_MINUTES", 30.0, "minutes a buyer has to pay before the order is closed"
    )
    auto_confirm_days: float = setting(
        "ORDERS_AUTO_CONFIRM_DAYS",
        7.0,
        "days after delivery before receipt is confirmed for the buyer (fractions allowed)",
    )
    review_target_minutes: int = setting(
        "ORDERS_REVIEW_TARGET_MINUTES", 30, "minutes a held order may wait for review before it is overdue"
    )
    presale_ship_days: int = setting(
        "ORDERS_PRESALE_SHIP_DAYS", 3, "days promised to ship an order that waits for stock"
    )
    job_batch: int = setting("ORDERS_JOB_BATCH", 200, "orders per job run")
    export_page_size: int = setting(
        "ORDERS_EXPORT_PAGE_SIZE", 1000, "orders read per query by the CSV export (memory holds one page)"
    )
    audit_auto_pass_max_fen: int = setting(
        "ORDERS_AUDIT_AUTO_PASS_MAX_FEN", _SEED.auto_pass_max_fen, "seed rule: payable up to this passes automatically"
    )
    audit_hold_above_fen: int = setting(
        "ORDERS_AUDIT_HOLD_ABOVE_FEN", _SEED.hold_above_fen, "seed rule: payable above this is always held"
    )
    audit_auto_pass_middle: bool = setting(
        "ORDERS_AUDIT_AUTO_PASS_MIDDLE",
        _SEED.auto_pass_middle,
        "seed rule: orders between the thresholds (or remote, or presale) pass too (SOP: false)",
    )
    remote_regions: tuple[str, ...] = setting(
        "ORDERS_REMOTE_REGIONS", _SEED.remote_regions, "seed rule: provinces that never pass automatically"
    )
    repeat_phone_count: int = setting(
        "ORDERS_REPEAT_PHONE_COUNT", _SEED.repeat_phone_count, "seed rule: this many orders from one phone are held"
    )
    repeat_phone_window_minutes: int = setting(
        "ORDERS_REPEAT_PHONE_WINDOW_MINUTES",
        _SEED.repeat_phone_window_minutes,
        "seed rule: ... when placed within this many minutes",
    )

    phone_search_key: str | None = setting(
        "ORDERS_PHONE_SEARCH_KEY",
        None,
        "HMAC key of the stored receiver-phone hash that phone search matches (unset: derived from "
        "ECOM_JWT_SECRET; changing it needs `receiver_phone_hash` recomputed)",
    )

    @property
    def unpaid_timeout(self) -> timedelta:
        return timedelta(minutes=self.unpaid_timeout_minutes)

    @property
    def auto_confirm_after(self) -> timedelta:
        return timedelta(days=self.auto_confirm_days)

    def seed_rules(self) -> AuditRules:
        """The audit rules of a shop that has not set its own."""
        return AuditRules.from_dict(
            {
                "auto_pass_max_fen": self.audit_auto_pass_max_fen,
                "hold_above_fen": self.audit_hold_above_fen,
                "auto_pass_middle": self.audit_auto_pass_middle,
                "remote_regions": list(self.remote_regions),
                "repeat_phone_count": self.repeat_phone_count,
                "repeat_phone_window_minutes": self.repeat_phone_window_minutes,
            }
        )

    def phone_key(self, jwt_secret: str) -> bytes:
        """The key of the receiver-phone hash: ORDERS_PHONE_SEARCH_KEY, or one derived from the
        platform secret (never a value published in the source)."""
        return phone_key(self.phone_search_key, jwt_secret)


def phone_key(explicit: str | None, jwt_secret: str) -> bytes:
    """Shared with migration 0003, which hashes the phones of the orders placed before it."""
    if explicit:
        return explicit.encode()
    return hmac.new(jwt_secret.encode(), b"orders-receiver-phone-search", hashlib.sha256).digest()
