"""catalog's settings: the README lists every one with the code's default, and a set one is read."""

from __future__ import annotations

from pathlib import Path

from catalog.settings import Settings
from ecom_testkit import unit_config
from ecom_testkit.settings_table import assert_readme_lists


def test_the_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(tmp_path):
    config = unit_config("catalog", tmp_path).with_(
        settings={"CATALOG_TITLE_MAX_CHARS": "40", "CATALOG_RESTORE_DAYS": "7"}
    )
    s = Settings.from_config(config)
    assert (s.title_max_chars, s.restore_days, s.review_due_hours) == (40, 7, 24)
