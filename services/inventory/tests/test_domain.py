"""Domain rules of inventory, without a database."""

import pytest

from ecom_common.errors import IllegalTransition, RuleViolation
from inventory import domain
from inventory.domain import (
    AdjustmentKind,
    Line,
    LowStockSignal,
    ReplenishmentSettings,
    ShortagePolicy,
)
from inventory.domain import (
    ReservationStatus as RS,
)


def test_lines_are_merged_per_sku_and_sorted_so_locks_are_taken_in_one_order():
    lines = [{"sku_code": "B", "quantity": 1}, {"sku_code": "A", "quantity": 2}, {"sku_code": "B", "quantity": 3}]
    assert domain.merge_lines(lines) == [Line("A", 2), Line("B", 4)]


def test_a_line_below_one_unit_is_refused():
    with pytest.raises(RuleViolation):
        domain.merge_lines([{"sku_code": "A", "quantity": 0}])


@pytest.mark.parametrize("policy,status", [(ShortagePolicy.WAIT, RS.WAITING), (ShortagePolicy.CANCEL, RS.SHORT)])
def test_shortage_policy_decides_where_a_short_order_goes(policy, status):
    assert domain.status_after_shortage(policy) == status


def test_unknown_policy_is_a_rule_violation():
    with pytest.raises(RuleViolation):
        domain.status_after_shortage("backorder")


def test_default_policy_is_wait():
    assert ShortagePolicy.DEFAULT == "wait"


@pytest.mark.parametrize(
    "current,target",
    [
        (RS.WAITING, RS.RESERVED),
        (RS.WAITING, RS.RELEASED),
        (RS.RESERVED, RS.RELEASED),
        (RS.RESERVED, RS.DEDUCTED),
    ],
)
def test_allowed_reservation_transitions(current, target):
    domain.check_transition(current, target, "x")


@pytest.mark.parametrize(
    "current,target",
    [
        (RS.DEDUCTED, RS.RELEASED),
        (RS.RELEASED, RS.RESERVED),
        (RS.SHORT, RS.RESERVED),
        (RS.WAITING, RS.DEDUCTED),
        (RS.CANCELLED, RS.RESERVED),
    ],
)
def test_illegal_reservation_transitions(current, target):
    with pytest.raises(IllegalTransition):
        domain.check_transition(current, target, "x")


def test_inbound_adds_the_quantity():
    assert domain.adjustment_delta(AdjustmentKind.INBOUND, on_hand=5, reserved=5, quantity=7) == 7


def test_count_correction_sets_on_hand_to_the_count():
    assert domain.adjustment_delta(AdjustmentKind.COUNT_CORRECTION, on_hand=10, reserved=3, counted=4) == -6
    assert domain.adjustment_delta(AdjustmentKind.COUNT_CORRECTION, on_hand=10, reserved=3, counted=12) == 2
    assert domain.adjustment_delta(AdjustmentKind.COUNT_CORRECTION, on_hand=10, reserved=3, counted=3) == -7


def test_count_correction_can_never_go_below_reserved():
    with pytest.raises(RuleViolation) as exc:
        domain.adjustment_delta(AdjustmentKind.COUNT_CORRECTION, on_hand=10, reserved=3, counted=2)
    assert "counted" in exc.value.errors


@pytest.mark.parametrize("kind", [AdjustmentKind.DAMAGE, AdjustmentKind.LOSS])
def test_write_off_only_from_available(kind):
    assert domain.adjustment_delta(kind, on_hand=10, reserved=3, quantity=7) == -7
    with pytest.raises(RuleViolation):
        domain.adjustment_delta(kind, on_hand=10, reserved=3, quantity=8)


def test_low_stock_alerts_once_per_crossing_and_rearms_above_threshold():
    threshold = 10
    alerted = False
    signals = []
    for available in [15, 11, 10, 9, 3, 0, 8, 10, 11, 12, 10, 25]:
        signal = domain.low_stock_signal(alerted, available, threshold)
        signals.append(signal)
        if signal == LowStockSignal.ALERT:
            alerted = True
        elif signal == LowStockSignal.REARM:
            alerted = False
    assert signals == [None, None, "alert", None, None, None, None, None, "rearm", None, "alert", "rearm"]


def test_is_low_includes_the_threshold_itself():
    assert domain.is_low(10, 10) and not domain.is_low(11, 10)


def test_replenishment_listed_when_available_covers_at_most_cover_days():
    s = ReplenishmentSettings(window_days=30, cover_days=3, target_days=15)
    # 60 sold in 30 days -> 2 a day -> reorder point 6
    line = domain.replenishment_line("A", available=6, sold_in_window=60, settings=s)
    assert line.average_daily_sales == 2 and line.reorder_point == 6
    assert line.suggested_quantity == 2 * 15 - 6
    assert domain.replenishment_line("A", available=7, sold_in_window=60, settings=s) is None


def test_replenishment_rounds_target_up_and_adds_waiting_orders():
    s = ReplenishmentSettings(window_days=7, cover_days=3, target_days=10)
    # 10 in 7 days -> 1.428/day -> reorder point 4.29; target 14.29 -> 15
    line = domain.replenishment_line("A", available=4, sold_in_window=10, settings=s, waiting_quantity=3)
    assert line.suggested_quantity == 15 + 3 - 4
    assert line.to_dict()["average_daily_sales"] == 1.429


def test_replenishment_window_changes_the_average():
    short = ReplenishmentSettings(window_days=10)
    long = ReplenishmentSettings(window_days=30)
    assert domain.replenishment_line("A", 9, 30, short).average_daily_sales == 3  # 3/day x 3 = 9 >= 9
    assert domain.replenishment_line("A", 9, 30, long) is None  # 1/day x 3 days = 3 < 9


def test_sku_that_never_sells_and_nobody_waits_for_is_not_listed():
    assert domain.replenishment_line("A", 0, 0, ReplenishmentSettings()) is None
    line = domain.replenishment_line("A", 0, 0, ReplenishmentSettings(), waiting_quantity=4)
    assert line.suggested_quantity == 4


def test_suggestion_is_never_negative():
    line = domain.replenishment_line("A", available=0, sold_in_window=1, settings=ReplenishmentSettings(target_days=0))
    assert line.suggested_quantity == 0
