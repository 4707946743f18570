"""analytics' settings: the README's table lists every variable with the default the code uses, and
a set variable is read."""

from __future__ import annotations

from pathlib import Path

from analytics.settings import Settings
from ecom_common.config import Config
from ecom_testkit.settings_table import assert_readme_lists


def test_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(config: Config):
    s = Settings.from_config(
        config.with_(settings={"ANALYTICS_DAY_UTC_OFFSET_HOURS": "0", "ANALYTICS_VISITS_MAX_BATCH": "3"})
    )
    assert (s.day_utc_offset_hours, s.visits_max_batch, s.old_buyer_days) == (0, 3, 365)
