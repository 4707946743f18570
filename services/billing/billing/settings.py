# ruff: noqa: E501  (the settings table below is rewritten by settings.from_config, issue 15 item 8)
"""billing's settings: every figure configurable through `config.setting("BILLING_...")`.

| setting                               | default | meaning |
|---------------------------------------|---------|---------|
| BILLING_WEBHOOK_SECRET                | derived | HMAC-SHA256 key of the sandbox provider's webhooks (derived from ECOM_JWT_SECRET when unset) |
| BILLING_WEBHOOK_TOLERANCE_SECONDS     | 300     | how far a webhook's signed timestamp may be from now |
| BILLING_SANDBOX_AUTO_CONFIRM          | true    | the provider confirms each intent on its own after the delay below |
| BILLING_SANDBOX_CONFIRM_DELAY_MS      | 200     | delay between POST /payments committing and the provider's webhook |
| BILLING_SANDBOX_RETRY_AFTER_SECONDS   | 30      | the provider re-sends webhooks for intents still pending after this |
| BILLING_SANDBOX_WEBHOOK_URL           | peers   | where the provider posts (default: BILLING_URL + /api/v1/payments/webhook) |
| BILLING_SETTLEMENT_DAYS               | 7       | T+N settlement after completion (float: 0.001 is ~86 s) |
| BILLING_DEFAULT_COMMISSION_BPS        | 500     | commission for categories without a rate (5%) |
| BILLING_ASK_ORDERS_ON_WEBHOOK         | true    | before applying a success, ask orders whether the order was cancelled meanwhile |
"""

from __future__ import annotations

import hashlib
import hmac

from ecom_common.config import Config

WEBHOOK_PATH = "/api/v1/payments/webhook"


def _bool(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def webhook_secret(config: Config) -> str:
    explicit = config.setting("BILLING_WEBHOOK_SECRET", "")
    if explicit:
        return explicit
    # No hard-coded default secret: derive one from the platform secret, so every billing process of
    # one deployment agrees on it and it is never a value published in the source.
    return hmac.new(config.jwt_secret.encode(), b"billing-sandbox-webhook", hashlib.sha256).hexdigest()


def webhook_tolerance_s(config: Config) -> float:
    return config.setting("BILLING_WEBHOOK_TOLERANCE_SECONDS", 300.0, float)


def auto_confirm(config: Config) -> bool:
    return config.setting("BILLING_SANDBOX_AUTO_CONFIRM", True, _bool)


def confirm_delay_s(config: Config) -> float:
    return config.setting("BILLING_SANDBOX_CONFIRM_DELAY_MS", 200.0, float) / 1000.0


def retry_after_s(config: Config) -> float:
    return config.setting("BILLING_SANDBOX_RETRY_AFTER_SECONDS", 30.0, float)


def webhook_url(config: Config) -> str:
    return config.setting("BILLING_SANDBOX_WEBHOOK_URL", "") or config.peers["billing"].rstrip("/") + WEBHOOK_PATH


def settlement_days(config: Config) -> float:
    return config.setting("BILLING_SETTLEMENT_DAYS", 7.0, float)


def default_commission_bps(config: Config) -> int:
    return config.setting("BILLING_DEFAULT_COMMISSION_BPS", 500, int)


def ask_orders_on_webhook(config: Config) -> bool:
    return config.setting("BILLING_ASK_ORDERS_ON_WEBHOOK", True, _bool)
