"""aftersales' settings: the README's table lists every variable with the default the code uses, and
a set variable reaches the domain's policy."""

from __future__ import annotations

import json
from pathlib import Path

from aftersales.settings import Settings
from ecom_common.config import Config
from ecom_testkit.settings_table import assert_readme_lists


def test_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_a_set_variable_is_read(config: Config):
    s = Settings.from_config(
        config.with_(
            settings={
                "AFTERSALES_AUTO_APPROVE_FEN": "8000",
                "AFTERSALES_RESPONSE_HOURS": "12.5",
                "AFTERSALES_PROMOTION_PERIODS": "2026-11-11T00:00:00Z/2026-11-21T00:00:00Z",
                "AFTERSALES_RETURN_ADDRESSES": json.dumps({"S1": "杭州"}),
            }
        )
    )
    assert (s.auto_approve_below_fen, s.response_hours) == (8000, 12.5)
    assert s.policy.auto_approve_below_fen == 8000 and s.policy.response_hours == 12.5
    assert len(s.policy.promotion_periods) == 1
    assert s.policy.return_address("S1") == "杭州"
    assert s.policy.return_address("S2") == s.default_return_address


def test_unset_variables_keep_the_sop_defaults(config: Config):
    policy = Settings.from_config(config.with_(settings={})).policy
    assert (policy.auto_approve_below_fen, policy.no_reason_days, policy.promotion_periods) == (5000, 7, ())
    assert policy.return_addresses == {}
