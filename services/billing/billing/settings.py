"""billing's settings: every BILLING_* variable it reads, with its default (the README's "Settings"
table lists the same, checked by tests/test_settings.py).

Code reads them as `ctx.settings.x` (operations) or `settings_of(config, Settings)` (the sandbox
provider, which runs outside a use case).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ecom_common.settings import ServiceSettings, setting

WEBHOOK_PATH = "/api/v1/payments/webhook"


@dataclass(frozen=True)
class Settings(ServiceSettings):
    webhook_secret: str | None = setting(
        "BILLING_WEBHOOK_SECRET",
        None,
        "HMAC-SHA256 key of the sandbox provider's webhooks (unset: derived from ECOM_JWT_SECRET)",
    )
    webhook_tolerance_seconds: float = setting(
        "BILLING_WEBHOOK_TOLERANCE_SECONDS", 300.0, "how far a webhook's signed timestamp may be from now"
    )
    sandbox_auto_confirm: bool = setting(
        "BILLING_SANDBOX_AUTO_CONFIRM",
        True,
        "the provider confirms each intent on its own after the delay below (unit tests turn it off)",
    )
    sandbox_confirm_delay_ms: float = setting(
        "BILLING_SANDBOX_CONFIRM_DELAY_MS", 200.0, "delay between POST /payments committing and the provider's webhook"
    )
    sandbox_retry_after_seconds: float = setting(
        "BILLING_SANDBOX_RETRY_AFTER_SECONDS",
        30.0,
        "the provider resolves intents still pending, and resends undelivered webhooks, after this",
    )
    sandbox_webhook_url: str | None = setting(
        "BILLING_SANDBOX_WEBHOOK_URL", None, "where the provider posts (unset: BILLING_URL + /api/v1/payments/webhook)"
    )
    settlement_days: float = setting(
        "BILLING_SETTLEMENT_DAYS", 7.0, "T+N settlement after completion (a float: 0.001 is ~86 s)"
    )
    default_commission_bps: int = setting(
        "BILLING_DEFAULT_COMMISSION_BPS", 500, "commission for categories without a rate, in basis points (5%)"
    )
    ask_orders_on_webhook: bool = setting(
        "BILLING_ASK_ORDERS_ON_WEBHOOK",
        True,
        "before applying a success, ask orders whether the order was cancelled meanwhile",
    )

    @property
    def confirm_delay_s(self) -> float:
        return self.sandbox_confirm_delay_ms / 1000.0

    def signing_secret(self, jwt_secret: str) -> str:
        """The webhook HMAC key: BILLING_WEBHOOK_SECRET, or one derived from the platform secret.

        No hard-coded default secret: every billing process of one deployment derives the same key,
        and it is never a value published in the source."""
        if self.webhook_secret:
            return self.webhook_secret
        return hmac.new(jwt_secret.encode(), b"billing-sandbox-webhook", hashlib.sha256).hexdigest()

    def webhook_target(self, billing_url: str) -> str:
        """Where the provider posts: BILLING_SANDBOX_WEBHOOK_URL, or billing's own URL + the path."""
        return self.sandbox_webhook_url or billing_url.rstrip("/") + WEBHOOK_PATH
