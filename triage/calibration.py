"""Calibration and abstention: expected calibration error, precision/coverage, thresholds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ece(confidence: Sequence[float], correct: Sequence[bool], bins: int = 15) -> float:
    """Expected calibration error over equal-width bins of the top-class confidence."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if len(conf) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(ok[m].mean() - conf[m].mean())
    return float(total)


def precision_coverage(
    confidence: Sequence[float], correct: Sequence[bool]
) -> list[tuple[float, float, float]]:
    """(threshold, coverage, precision) for every distinct confidence, most confident first."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=float)
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    hits = np.cumsum(ok)
    n = len(conf)
    out = []
    for i in range(n):
        if i + 1 < n and conf[i + 1] == conf[i]:
            continue
        out.append((float(conf[i]), (i + 1) / n, float(hits[i] / (i + 1))))
    return out


def threshold_for_precision(
    confidence: Sequence[float], correct: Sequence[bool], target: float
) -> float:
    """The lowest confidence threshold whose accepted share still reaches ``target`` precision
    (most coverage at that precision); 1.0+ (abstain always) when no threshold reaches it."""
    best = float("inf")
    for threshold, _coverage, precision in precision_coverage(confidence, correct):
        if precision >= target:
            best = threshold
    return best if best != float("inf") else 1.000001


def curve_summary(
    confidence: Sequence[float],
    correct: Sequence[bool],
    points: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 1.0),
) -> list[dict[str, float]]:
    """Precision at a few coverage levels, for reports."""
    curve = precision_coverage(confidence, correct)
    out = []
    for c in points:
        eligible = [p for t, cov, p in curve if cov <= c + 1e-9]
        if eligible:
            out.append({"coverage": c, "precision": round(eligible[-1], 4)})
    return out
