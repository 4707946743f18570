"""orders' settings: the README's table lists every ORDERS_* variable with the code's default, and a
set variable is read (cast to its field's type)."""

from __future__ import annotations

from pathlib import Path

from ecom_testkit import unit_config
from ecom_testkit.settings_table import assert_readme_lists
from orders.settings import Settings


def test_the_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(tmp_path):
    config = unit_config("orders", tmp_path).with_(
        settings={
            "ORDERS_UNPAID_TIMEOUT_MINUTES": "5",
            "ORDERS_AUTO_CONFIRM_DAYS": "0.5",
            "ORDERS_REMOTE_REGIONS": "新疆, 西藏",
            "ORDERS_AUDIT_AUTO_PASS_MIDDLE": "false",
        }
    )
    settings = Settings.from_config(config)
    assert settings.unpaid_timeout.total_seconds() == 300
    assert settings.auto_confirm_after.total_seconds() == 12 * 3600
    assert settings.remote_regions == ("新疆", "西藏")
    seed = settings.seed_rules()
    assert seed.remote_regions == ("新疆", "西藏") and seed.auto_pass_middle is False


def test_unset_variables_keep_the_sop_figures(tmp_path):
    settings = Settings.from_config(unit_config("orders", tmp_path))
    assert settings.review_target_minutes == 30 and settings.job_batch == 200
    assert settings.seed_rules().hold_above_fen == 500_000
