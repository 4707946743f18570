"""The small kernel every service's shape rests on: settings, the use-case context, ids, times,
pages and the errors that tell a consumer to retry (issue 15, items 1, 3 and 8)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import Schema, fields

from ecom_common import clock, ids, schemas
from ecom_common.auth import Scope
from ecom_common.clock import OffsetClock
from ecom_common.db import Database
from ecom_common.errors import ConcurrentChange, Conflict, LostRace, NotFound, RetryLater
from ecom_common.settings import ServiceSettings, parse_bool, setting, settings_of
from ecom_common.usecase import SYSTEM, Actor, Ctx, for_job
from ecom_testkit import unit_config


@dataclass(frozen=True)
class OrdersLike(ServiceSettings):
    timeout_minutes: int = setting("ORDERS_TIMEOUT_MINUTES", 30, "minutes to pay")
    auto: bool = setting("ORDERS_AUTO", True, "confirm on its own")
    provinces: tuple[str, ...] = setting("ORDERS_PROVINCES", ("新疆",), "remote provinces")
    ratio: float | None = setting("ORDERS_RATIO", None, "optional ratio")


def test_settings_read_every_variable_cast_to_its_field_type(tmp_path):
    config = unit_config("orders", tmp_path).with_(
        settings={
            "ORDERS_TIMEOUT_MINUTES": "15",
            "ORDERS_AUTO": "off",
            "ORDERS_PROVINCES": "新疆, 西藏",
            "ORDERS_RATIO": "0.5",
        }
    )
    s = OrdersLike.from_config(config)
    assert (s.timeout_minutes, s.auto, s.provinces, s.ratio) == (15, False, ("新疆", "西藏"), 0.5)
    with pytest.raises(FrozenInstanceError):
        s.timeout_minutes = 1  # type: ignore[misc]


def test_settings_unset_or_empty_keep_their_defaults_and_the_table_lists_them(tmp_path):
    s = OrdersLike.from_config(unit_config("orders", tmp_path).with_(settings={"ORDERS_AUTO": ""}))
    assert s == OrdersLike()
    assert [(row.env, row.default) for row in OrdersLike.table()] == [
        ("ORDERS_TIMEOUT_MINUTES", 30),
        ("ORDERS_AUTO", True),
        ("ORDERS_PROVINCES", ("新疆",)),
        ("ORDERS_RATIO", None),
    ]


def test_a_bad_setting_names_the_variable(tmp_path):
    config = unit_config("orders", tmp_path).with_(settings={"ORDERS_TIMEOUT_MINUTES": "half an hour"})
    with pytest.raises(ValueError, match="ORDERS_TIMEOUT_MINUTES"):
        OrdersLike.from_config(config)
    with pytest.raises(ValueError):
        parse_bool("maybe")


def test_settings_of_reads_the_environment_once_per_config(tmp_path):
    config = unit_config("orders", tmp_path)
    assert settings_of(config, OrdersLike) is settings_of(config, OrdersLike)
    other = config.with_(settings={"ORDERS_TIMEOUT_MINUTES": "5"})
    assert settings_of(other, OrdersLike).timeout_minutes == 5


def test_parse_iso_reads_z_offsets_and_naive_times_as_utc():
    assert clock.parse_iso("2026-11-11T00:00:00Z") == datetime(2026, 11, 11, tzinfo=UTC)
    assert clock.parse_iso("2026-11-11T08:00:00+08:00") == datetime(2026, 11, 11, tzinfo=UTC)
    assert clock.parse_iso("2026-11-11T00:00:00") == datetime(2026, 11, 11, tzinfo=UTC)
    assert clock.parse_iso(None) is None and clock.parse_iso("") is None
    with pytest.raises(ValueError):
        clock.parse_iso("11/11/2026")


def test_ids_sort_by_the_time_they_are_given():
    t = datetime(2026, 11, 11, tzinfo=UTC)
    earlier, later = ids.new_id("R", t), ids.new_id("R", t + timedelta(milliseconds=1))
    assert earlier.startswith("R") and len(earlier) == 1 + 12 + 8
    assert earlier < later
    assert ids.new_id("R", t) != ids.new_id("R", t)


def test_a_unit_of_work_and_its_context_read_the_configured_clock(tmp_path):
    moved = OffsetClock(timedelta(days=7))
    db = Database(unit_config("orders", tmp_path).with_(clock=moved))
    with db.uow() as uow:
        ctx = Ctx(uow=uow, actor=SYSTEM, settings=OrdersLike())
        assert ctx.now == uow.now
        assert ctx.now - datetime.now(UTC) > timedelta(days=6)
    with for_job(db, OrdersLike) as ctx:
        assert ctx.actor == SYSTEM and ctx.settings == OrdersLike()
    db.dispose()


def test_the_context_applies_the_tenancy_rule(tmp_path):
    db = Database(unit_config("orders", tmp_path))
    with db.uow() as uow:
        staff = Ctx(uow=uow, actor=Actor("u1", ("ops",)), settings=OrdersLike(), scope=Scope(shop_id="S1"))
        staff.require_visible("S1")
        with pytest.raises(NotFound):
            staff.require_visible("S2", what="order")
        assert Ctx(uow=uow, actor=SYSTEM, settings=OrdersLike()).visible("S2")  # the service itself
        assert staff.acting_as(SYSTEM).scope == staff.scope
    db.dispose()


def test_page_of_is_one_named_class_per_item_schema():
    class ParcelOut(Schema):
        weight_g = fields.Int()

    page = schemas.page_of(ParcelOut)
    assert page.__name__ == "ParcelPage" and schemas.page_of(ParcelOut) is page
    assert page().dump({"items": [{"weight_g": 5}], "next_cursor": None}) == {
        "items": [{"weight_g": 5}],
        "next_cursor": None,
    }


def test_concurrent_change_is_a_409_and_a_lost_race_is_a_retry():
    assert ConcurrentChange().problem is Conflict
    assert issubclass(LostRace, RetryLater) and not issubclass(LostRace, ConcurrentChange)
    assert RetryLater("payment not applied yet").reason == "payment not applied yet"


def test_a_readme_settings_table_is_checked_against_the_settings(tmp_path):
    from ecom_testkit.settings_table import assert_readme_lists

    readme = tmp_path / "README.md"
    rows = "| `ORDERS_TIMEOUT_MINUTES` | 30 | x |\n| `ORDERS_AUTO` | true | x |\n| `ORDERS_PROVINCES` | `新疆` | x |\n"
    readme.write_text("# orders\n\n## Settings\n\n| setting | default | meaning |\n|---|---|---|\n" + rows)
    with pytest.raises(AssertionError, match="only in the code"):
        assert_readme_lists(OrdersLike, readme)
    readme.write_text(readme.read_text() + "| `ORDERS_RATIO` | unset: no ratio | x |\n\n## Next\n")
    assert_readme_lists(OrdersLike, readme)
    readme.write_text(readme.read_text().replace("| 30 |", "| 45 |"))
    with pytest.raises(AssertionError, match="ORDERS_TIMEOUT_MINUTES"):
        assert_readme_lists(OrdersLike, readme)


def test_a_broken_guarantee_names_itself():
    from ecom_testkit.invariants import guarantee

    with pytest.raises(AssertionError, match=r"^no double charge: 2 refunds$"), guarantee("no double charge"):
        raise AssertionError("2 refunds")
