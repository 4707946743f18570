"""aftersales' settings (AFTERSALES_*), read once per config: `ctx.settings` in a use case.

The figures of the after-sales SOP are the domain's `Policy` (`ctx.settings.policy`); this module only
says where each comes from and what it is when unset (the README's "Settings" table, checked by
tests/test_settings.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from ecom_common.settings import ServiceSettings, setting

from . import domain, messages


@dataclass(frozen=True)
class Settings(ServiceSettings):
    auto_approve_below_fen: int = setting(
        "AFTERSALES_AUTO_APPROVE_FEN", 5000, "a refund_only strictly below this amount (fen) is approved at once"
    )
    second_approval_above_fen: int = setting(
        "AFTERSALES_SECOND_APPROVAL_FEN",
        50000,
        "a refund above this amount (fen) needs a second approval by another person, ops or admin (0: never)",
    )
    auto_approve_new_buyer_refund_fen: int = setting(
        "AFTERSALES_AUTO_APPROVE_NEW_BUYER_REFUND_FEN",
        0,
        "a new customer's refund_only up to this amount (fen) is approved at once (0: off)",
    )
    no_reason_days: int = setting("AFTERSALES_NO_REASON_DAYS", 7, "days after delivery a no_reason return is possible")
    response_hours: float = setting("AFTERSALES_RESPONSE_HOURS", 24, "hours cs has to approve or reject a case")
    refund_hours: float = setting("AFTERSALES_REFUND_HOURS", 24, "hours from a return's receipt to its refund")
    promo_refund_hours: float = setting(
        "AFTERSALES_PROMO_REFUND_HOURS", 48, "the same for a return received in a promotion period"
    )
    refund_only_hours: float = setting(
        "AFTERSALES_REFUND_ONLY_HOURS", 48, "hours from a refund_only's approval to its refund"
    )
    reship_hours: float = setting("AFTERSALES_RESHIP_HOURS", 24, "hours from an exchange's receipt to the reshipment")
    promotion_periods: tuple[tuple, ...] | None = setting(
        "AFTERSALES_PROMOTION_PERIODS",
        None,
        "promotion periods, `start/end` ISO times separated by commas",
        parse=domain.parse_periods,
    )
    complaint_general_hours: float = setting(
        "AFTERSALES_COMPLAINT_GENERAL_HOURS", 2, "hours to the first response to a general complaint"
    )
    complaint_serious_hours: float = setting(
        "AFTERSALES_COMPLAINT_SERIOUS_HOURS", 4, "hours to the solution of a serious complaint"
    )
    complaint_crisis_hours: float = setting(
        "AFTERSALES_COMPLAINT_CRISIS_HOURS", 24, "hours to the statement on a crisis complaint"
    )
    return_addresses: dict | None = setting(
        "AFTERSALES_RETURN_ADDRESSES",
        None,
        'each shop\'s return address, JSON `{"<shop_id>": "<address>"}`',
        parse=json.loads,
    )
    default_return_address: str = setting(
        "AFTERSALES_DEFAULT_RETURN_ADDRESS",
        "Returns desk, the shop's registered warehouse",
        "the return address of a shop not in AFTERSALES_RETURN_ADDRESSES",
    )
    # Service clocks (首问负责制) on every case and complaint
    first_response_minutes: float = setting(
        "AFTERSALES_FIRST_RESPONSE_MINUTES", 15, "minutes to an agent's first response to a case or complaint"
    )
    solution_hours: float = setting("AFTERSALES_SOLUTION_HOURS", 24, "hours to an initial solution")
    resolution_hours: float = setting("AFTERSALES_RESOLUTION_HOURS", 72, "hours to the case or complaint being done")
    # Reviews
    bad_review_follow_up_hours: float = setting(
        "AFTERSALES_BAD_REVIEW_FOLLOW_UP_HOURS", 24, "hours cs has to follow up a 1-2 star review"
    )
    banned_words_cache_seconds: int = setting(
        "AFTERSALES_BANNED_WORDS_CACHE_SECONDS",
        300,
        "seconds catalog's banned-word list is kept before reviews read it again",
    )
    risk_keywords: tuple[str, ...] = setting(
        "AFTERSALES_RISK_KEYWORDS",
        ("假货", "诈骗", "过敏", "骗子", "中毒", "曝光"),
        "words in a review that raise ReviewRiskFlagged, separated by commas",
    )
    # Buyer notifications
    quiet_hours: str = setting(
        "AFTERSALES_QUIET_HOURS",
        "22:00-08:00",
        "local hours `HH:MM-HH:MM` in which no marketing message goes out (held until the end); empty: none",
        parse=lambda raw: messages.parse_window(raw) and raw.strip(),
    )
    utc_offset_hours: float = setting(
        "AFTERSALES_NOTIFY_UTC_OFFSET_HOURS", 8, "the buyers' local time for quiet hours, hours east of UTC"
    )
    marketing_weekly_max: int = setting(
        "AFTERSALES_MARKETING_WEEKLY_MAX", 3, "marketing messages at most sent to one buyer in 7 days"
    )
    review_invite_delay_hours: float = setting(
        "AFTERSALES_REVIEW_INVITE_DELAY_HOURS", 24, "hours after delivery the review invitation goes out"
    )
    notify_max_attempts: int = setting(
        "AFTERSALES_NOTIFY_MAX_ATTEMPTS", 5, "attempts at a message before it is parked with the last error"
    )
    notify_retry_base_seconds: float = setting(
        "AFTERSALES_NOTIFY_RETRY_BASE_SECONDS", 30, "wait after the first failed attempt, doubled after each next one"
    )
    sms_sandbox_fail: bool = setting(
        "AFTERSALES_SMS_SANDBOX_FAIL",
        False,
        "the sandbox SMS provider fails every message (until an admin switches it)",
    )

    @cached_property
    def quiet_window(self) -> tuple | None:
        return messages.parse_window(self.quiet_hours) if self.quiet_hours else None

    @cached_property
    def policy(self) -> domain.Policy:
        """The SOP's figures as the domain reads them."""
        return domain.Policy(
            auto_approve_below_fen=self.auto_approve_below_fen,
            no_reason_days=self.no_reason_days,
            response_hours=self.response_hours,
            refund_hours=self.refund_hours,
            promo_refund_hours=self.promo_refund_hours,
            refund_only_hours=self.refund_only_hours,
            reship_hours=self.reship_hours,
            promotion_periods=self.promotion_periods or (),
            complaint_general_hours=self.complaint_general_hours,
            complaint_serious_hours=self.complaint_serious_hours,
            complaint_crisis_hours=self.complaint_crisis_hours,
            return_addresses=dict(self.return_addresses or {}),
            default_return_address=self.default_return_address,
        )
