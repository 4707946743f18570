"""billing's settings: the README's table lists every BILLING_* variable with the code's default,
and a variable that is set is read."""

from __future__ import annotations

from pathlib import Path

from billing.settings import WEBHOOK_PATH, Settings
from ecom_common.settings import settings_of
from ecom_testkit.settings_table import assert_readme_lists


def test_the_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(config):
    s = Settings.from_config(
        config.with_(
            settings={
                "BILLING_SETTLEMENT_DAYS": "0.001",
                "BILLING_DEFAULT_COMMISSION_BPS": "250",
                "BILLING_SANDBOX_AUTO_CONFIRM": "off",
                "BILLING_SANDBOX_CONFIRM_DELAY_MS": "50",
                "BILLING_SANDBOX_WEBHOOK_URL": "http://hook.example/in",
            }
        )
    )
    assert (s.settlement_days, s.default_commission_bps, s.sandbox_auto_confirm) == (0.001, 250, False)
    assert s.confirm_delay_s == 0.05
    assert s.webhook_target("http://billing:8006/") == "http://hook.example/in"


def test_unset_webhook_secret_and_url_are_derived(config):
    s = Settings.from_config(config.with_(settings={"BILLING_WEBHOOK_SECRET": "", "BILLING_SANDBOX_WEBHOOK_URL": ""}))
    assert s.webhook_secret is None and s.sandbox_webhook_url is None
    derived = s.signing_secret("platform-secret")
    assert derived == s.signing_secret("platform-secret") != s.signing_secret("another-secret")
    assert s.webhook_target("http://billing:8006/") == "http://billing:8006" + WEBHOOK_PATH
    assert settings_of(config, Settings).signing_secret("x") == "whsec_unit_test"  # the tests' own secret
