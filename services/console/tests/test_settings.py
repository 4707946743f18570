from pathlib import Path

from console.settings import Settings
from ecom_testkit.settings_table import assert_readme_lists


def test_readme_lists_every_setting():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(config):
    settings = Settings.from_config(config.with_(settings={"CONSOLE_TOKEN_TTL_MINUTES": "5"}))
    assert settings.token_ttl_minutes == 5
