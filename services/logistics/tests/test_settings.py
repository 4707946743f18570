"""logistics' settings: the README's table lists every variable with the default the code uses, and
a set variable reaches what the service derives from it (the seed template, the carrier rules, the
waybill sender)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecom_common.config import Config
from ecom_common.errors import RuleViolation
from ecom_testkit.settings_table import assert_readme_lists
from logistics import domain
from logistics.settings import DEFAULT_SENDER, Settings


def test_readme_lists_every_setting_with_its_default():
    assert_readme_lists(Settings, Path(__file__).parents[1] / "README.md")


def test_set_variables_are_read(config: Config):
    s = Settings.from_config(
        config.with_(
            settings={
                "LOGISTICS_STALL_HOURS": "6",
                "LOGISTICS_DISPATCH_HOURS": "12.5",
                "LOGISTICS_REMOTE_PROVINCES": "新疆维吾尔自治区，青海省",
                "LOGISTICS_FIRST_WEIGHT_FEN": "800",
                "LOGISTICS_HEAVY_PARCEL_G": "30000",
                "LOGISTICS_HEAVY_CARRIER": "ZTO",
                "LOGISTICS_DEFAULT_SENDER_JSON": json.dumps({"name": "南京仓", "province": "江苏"}),
            }
        )
    )
    assert (s.stall_hours, s.dispatch_hours, s.promo_dispatch_hours) == (6.0, 12.5, 48.0)
    assert s.remote_provinces == ("新疆", "青海")  # short names, a full-width comma too
    assert s.weight_rule == domain.WeightRule(1000, 800, 1000, 500)
    assert domain.quote(s.default_template(), "青海", 1000).fee_fen == 800 + 1500
    heavy = s.default_rules()[1]
    assert (heavy.carrier, heavy.min_weight_g) == ("ZTO", 30000)
    assert s.default_sender == {**DEFAULT_SENDER, "name": "南京仓", "province": "江苏"}


def test_unset_variables_keep_the_documented_defaults(config: Config):
    s = Settings.from_config(config.with_(settings={}))
    assert s.carrier_webhook_secret is None and s.default_sender == DEFAULT_SENDER
    assert s.default_template() == domain.default_template()
    assert s.default_rules() == domain.default_carrier_rules()
    assert s.default_carrier == "ZTO"


def test_an_unknown_province_in_a_setting_is_refused(config: Config):
    with pytest.raises(RuleViolation):
        Settings.from_config(config.with_(settings={"LOGISTICS_FREE_PROVINCES": "江苏,火星"}))
