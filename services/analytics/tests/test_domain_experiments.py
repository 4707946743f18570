"""A/B experiments (issue 17, item 5): deterministic assignment, the two-proportion test, and the
SOP's winner rule, on generated data whose true effect is known."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from analytics import domain
from analytics.domain import Variant

AB = (Variant("A", 1), Variant("B", 1))


def test_assignment_is_deterministic_and_follows_the_weights():
    variants = (Variant("control", 2), Variant("video", 1), Variant("long-image", 1))
    seen = Counter(domain.assign("X1", f"visitor-{n}", variants) for n in range(40_000))
    assert abs(seen["control"] / 40_000 - 0.5) < 0.01
    assert abs(seen["video"] / 40_000 - 0.25) < 0.01 and abs(seen["long-image"] / 40_000 - 0.25) < 0.01
    assert all(
        domain.assign("X1", f"visitor-{n}", variants) == domain.assign("X1", f"visitor-{n}", variants)
        for n in range(100)
    )
    # another experiment shuffles visitors independently
    same = sum(domain.assign("X1", f"v{n}", AB) == domain.assign("X2", f"v{n}", AB) for n in range(10_000))
    assert 4_700 < same < 5_300


def test_variants_are_checked():
    for bad in ((Variant("A", 1),), (Variant("A", 1), Variant("A", 1)), (Variant("A", 1), Variant("B", 0))):
        with pytest.raises(domain.ExperimentError):
            domain.check_variants(bad)


def test_the_p_value_of_a_textbook_case():
    # 200/1000 against 250/1000: pooled 0.225, z = 0.05 / 0.018675 = 2.677, two-sided p = 0.00742
    assert domain.two_proportion_p(200, 1000, 250, 1000) == pytest.approx(0.00742, abs=1e-5)
    assert domain.two_proportion_p(0, 0, 1, 10) is None and domain.two_proportion_p(0, 10, 0, 10) is None


def _simulate(rates: dict[str, float], visitors: int, seed: int) -> list[tuple[str, int, int]]:
    """Visitors assigned by the real hash, each buying with its variant's true rate."""
    rng = random.Random(seed)
    n, x = Counter(), Counter()
    variants = tuple(Variant(name, 1) for name in rates)
    for v in range(visitors):
        arm = domain.assign("EXP", f"v{v}", variants)
        n[arm] += 1
        x[arm] += rng.random() < rates[arm]
    return [(name, n[name], x[name]) for name in rates]


def test_a_real_effect_of_20_percent_names_the_variant():
    report = domain.experiment_report(_simulate({"A": 0.05, "B": 0.06}, 40_000, seed=1))
    b = report["variants"][1]
    assert report["winner"] == "B" and b["significant"] and 0.1 < b["lift"] < 0.3


def test_no_effect_names_no_winner_in_most_runs():
    """With no true effect a winner may appear by chance (alpha), rarely: at most 2 of 20 runs."""
    winners = sum(
        domain.experiment_report(_simulate({"A": 0.05, "B": 0.05}, 20_000, seed=s))["winner"] is not None
        for s in range(20)
    )
    assert winners <= 2


def test_a_significant_lift_under_5_percent_is_no_win():
    report = domain.experiment_report(_simulate({"A": 0.30, "B": 0.312}, 400_000, seed=7))
    b = report["variants"][1]
    assert b["significant"] and b["lift"] < 0.05 and report["winner"] is None


def test_a_large_lift_without_significance_is_no_win():
    report = domain.experiment_report([("A", 100, 5), ("B", 100, 7)])
    assert report["variants"][1]["lift"] == 0.4 and not report["variants"][1]["significant"]
    assert report["winner"] is None
    assert report["variants"][0]["lift"] is None and report["variants"][0]["p_value"] is None
