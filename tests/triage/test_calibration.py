"""Calibration error and the abstention threshold."""

from __future__ import annotations

import numpy as np
import pytest

from triage.calibration import (
    choose_threshold,
    curve_summary,
    ece,
    precision_coverage,
    precision_lower_bound,
    threshold_for_precision,
)


def test_ece_of_calibrated_predictions_is_about_zero() -> None:
    # 80 % sure and right 8 times out of 10; 50 % sure and right 5 times out of 10
    conf = [0.8] * 10 + [0.5] * 10
    correct = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 5
    assert ece(conf, correct) == pytest.approx(0.0, abs=1e-9)


def test_ece_of_overconfident_predictions_is_large() -> None:
    conf = [0.99] * 100
    correct = [True] * 50 + [False] * 50
    assert ece(conf, correct) == pytest.approx(0.49, abs=1e-9)


def test_ece_of_random_calibrated_data_is_small() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 20_000)
    correct = rng.uniform(size=conf.size) < conf
    assert ece(conf, correct) < 0.02
    assert ece(np.clip(conf + 0.2, 0, 1), correct) > 0.1


def test_ece_of_nothing_is_zero() -> None:
    assert ece([], []) == 0.0


def test_precision_coverage_most_confident_first_with_ties_merged() -> None:
    curve = precision_coverage([0.9, 0.6, 0.9, 0.3], [True, False, False, True])
    assert curve == [(0.9, 0.5, 0.5), (0.6, 0.75, pytest.approx(1 / 3)), (0.3, 1.0, 0.5)]


CONF = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
OK = [True, True, True, False, True, False]


@pytest.mark.parametrize(
    ("target", "threshold"),
    [(1.0, 0.8), (0.8, 0.6), (0.76, 0.6), (0.7, 0.6), (0.6, 0.5)],
)
def test_threshold_is_the_lowest_reaching_the_target_precision(
    target: float, threshold: float
) -> None:
    # precision when accepting >= t: 0.8 -> 3/3, 0.7 -> 3/4, 0.6 -> 4/5, 0.5 -> 4/6
    assert threshold_for_precision(CONF, OK, target) == threshold


def test_threshold_gives_the_precision_it_promises() -> None:
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.2, 1.0, 2000)
    correct = rng.uniform(size=conf.size) < conf
    t = threshold_for_precision(conf, correct, 0.9)
    accepted = conf >= t
    assert correct[accepted].mean() >= 0.9
    # and it is the most coverage at that precision: one step lower misses the target
    lower = conf[conf < t].max()
    assert correct[conf >= lower].mean() < 0.9


def test_nothing_reaches_the_target_means_abstain_always() -> None:
    conf = [0.99, 0.9, 0.5]
    t = threshold_for_precision(conf, [False, False, True], 0.9)
    assert t > 1.0
    assert not any(c >= t for c in [*conf, 1.0])


def test_curve_summary_reports_precision_at_coverage() -> None:
    summary = curve_summary(CONF, OK, points=(0.5, 1.0))
    assert summary == [
        {"coverage": 0.5, "precision": 1.0},
        {"coverage": 1.0, "precision": round(4 / 6, 4)},
    ]


def test_a_precision_on_few_rows_is_trusted_less_than_on_many() -> None:
    assert precision_lower_bound(8, 8, 0.0) == 1.0  # z = 0: the observed precision
    few, many = precision_lower_bound(8, 8, 1.0), precision_lower_bound(800, 800, 1.0)
    assert few < 0.9 < many < 1.0
    # 95 % of 20 and of 2,000: the same observed precision, a lower bound far apart
    assert precision_lower_bound(19, 20, 1.645) < 0.85 < precision_lower_bound(1900, 2000, 1.645)


def test_a_threshold_resting_on_8_rows_is_not_trusted_like_one_on_800() -> None:
    # the 8 (or 800) most confident rows all right, then a run of mistakes
    def rows(k: int) -> tuple[list[float], list[bool]]:
        return [0.99] * k + [0.6] * k, [True] * k + [False] * k

    small, large = choose_threshold(*rows(8), 0.9, z=1.0), choose_threshold(*rows(800), 0.9, z=1.0)
    assert small.threshold > 1.0 and small.rows == 16 and small.accepted == 0
    assert "lower bound" in small.reason
    assert large.threshold == 0.99 and large.rows == 1600 and large.accepted == 800
    assert large.precision == 1.0 and 0.99 < large.precision_lower_bound < 1.0
    assert large.coverage == 0.5
    # the observed precision alone trusts both
    assert choose_threshold(*rows(8), 0.9).threshold == 0.99


def test_a_minimum_of_accepted_rows_moves_the_threshold_down() -> None:
    a = choose_threshold(CONF, OK, 0.8, min_accepted=4)
    assert (a.threshold, a.accepted, a.precision) == (0.6, 5, 0.8)
    assert choose_threshold(CONF, OK, 1.0, min_accepted=4).threshold > 1.0


def test_held_out_precision_at_a_lower_bound_threshold_reaches_the_target() -> None:
    # calibrated confidences: over many draws of 150 rows, answers on fresh rows stay at or above
    # the target more often with the lower bound than with the observed precision
    rng = np.random.default_rng(2)
    fresh = rng.uniform(0.3, 1.0, 200_000)
    fresh_ok = rng.uniform(size=fresh.size) < fresh
    shortfall = {0.0: 0, 1.0: 0}
    for _ in range(200):
        conf = rng.uniform(0.3, 1.0, 150)
        ok = rng.uniform(size=conf.size) < conf
        for z in shortfall:
            t = choose_threshold(conf, ok, 0.9, z=z).threshold
            if (fresh >= t).any() and fresh_ok[fresh >= t].mean() < 0.88:
                shortfall[z] += 1
    assert shortfall[1.0] < shortfall[0.0] / 2
    assert shortfall[1.0] < 40


def test_an_abstention_reads_as_plain_numbers() -> None:
    d = choose_threshold(CONF, OK, 0.8).as_dict()
    assert d == {
        "threshold": 0.6,
        "method": "out-of-fold",
        "rows": 6,
        "target_precision": 0.8,
        "z": 0.0,
        "accepted": 5,
        "precision": 0.8,
        "precision_lower_bound": 0.8,
        "coverage": 0.8333,
        "reason": None,
    }
