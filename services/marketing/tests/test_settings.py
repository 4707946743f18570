"""marketing's settings: the README's table names every variable the code reads, with its default,
and a set variable is read."""

from __future__ import annotations

from pathlib import Path

from marketing.settings import Settings


def test_the_readme_lists_every_setting():
    from ecom_testkit.settings_table import assert_readme_lists

    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(config):
    changed = config.with_(settings={"MARKETING_LOCK_TIMEOUT_MINUTES": "5", "MARKETING_POINTS_MAX_PERCENT": "20"})
    s = Settings.from_config(changed)
    assert (s.lock_timeout_minutes, s.points_max_percent, s.points_per_yuan) == (5, 20, 1)
