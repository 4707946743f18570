"""inventory's settings: the README's table lists every variable with the default the code uses."""

from pathlib import Path

from ecom_testkit.settings_table import assert_readme_lists
from inventory.settings import Settings


def test_the_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(config):
    settings = Settings.from_config(
        config.with_(
            settings={
                "INVENTORY_DEFAULT_SHORTAGE_POLICY": "cancel",
                "INVENTORY_REPLENISH_WINDOW_DAYS": "7",
                "INVENTORY_WAITING_BATCH": "20",
            }
        )
    )
    assert settings.default_shortage_policy == "cancel"
    assert settings.replenish_window_days == 7
    assert settings.waiting_batch == 20
    assert settings.replenish_cover_days == 3  # unset: the default


def test_an_unknown_policy_reads_as_the_default(config):
    settings = Settings.from_config(config.with_(settings={"INVENTORY_DEFAULT_SHORTAGE_POLICY": "refund"}))
    assert settings.default_shortage_policy == "wait"
