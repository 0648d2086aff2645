"""Calibration error and the abstention threshold."""

from __future__ import annotations

import numpy as np
import pytest

from triage.calibration import curve_summary, ece, precision_coverage, threshold_for_precision


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
