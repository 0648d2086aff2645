"""Calibration and abstention: expected calibration error, precision/coverage, thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

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


def precision_lower_bound(hits: np.ndarray | float, n: np.ndarray | float, z: float) -> np.ndarray:
    """Wilson score lower bound of a precision of ``hits`` out of ``n`` (``z``: the normal
    quantile of the one-sided confidence; 0 gives the observed precision itself).  A threshold
    resting on 8 accepted rows gets a lower bound far below one resting on 800 with the same
    observed precision."""
    hits = np.asarray(hits, dtype=float)
    n = np.asarray(n, dtype=float)
    p = hits / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (centre - margin) / (1 + z2 / n)


ABSTAIN_ALWAYS = 1.000001


@dataclass(frozen=True)
class Abstention:
    """An abstention threshold and what it rests on: ``rows`` scored rows (``method``:
    out-of-fold or validation), of which ``accepted`` reach ``threshold`` with ``precision``
    (observed) and its lower bound at ``z`` (what had to reach ``target_precision``);
    ``coverage`` = accepted / rows; ``reason`` when it abstains always."""

    threshold: float
    method: str
    rows: int
    target_precision: float = 0.0
    z: float = 0.0
    accepted: int = 0
    precision: float | None = None
    precision_lower_bound: float | None = None
    coverage: float = 0.0
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                # the threshold exactly enough that "abstain always" stays above 1
                out[k] = round(v, 6 if k == "threshold" else 4)
        return out


def choose_threshold(
    confidence: Sequence[float],
    correct: Sequence[bool],
    target: float,
    z: float = 0.0,
    min_accepted: int = 1,
    method: str = "out-of-fold",
) -> Abstention:
    """The lowest confidence threshold whose accepted rows (at least ``min_accepted``) reach
    ``target`` precision — their observed precision with ``z`` = 0, else its Wilson lower bound
    (:func:`precision_lower_bound`) — so the most coverage at that precision; abstain always
    (a threshold above 1) when none does."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    n = len(conf)
    if n == 0:
        return Abstention(
            ABSTAIN_ALWAYS, method, 0, target, z, reason="no rows to choose a threshold on"
        )
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    accepted = np.arange(1, n + 1)
    hits = np.cumsum(ok)
    # only the last row of a run of equal confidences is a threshold one can set
    last = np.append(conf[1:] != conf[:-1], True)
    bound = precision_lower_bound(hits, accepted, z)
    good = np.flatnonzero(last & (accepted >= min_accepted) & (bound >= target - 1e-12))
    if len(good) == 0:
        return Abstention(
            ABSTAIN_ALWAYS,
            method,
            n,
            target,
            z,
            reason=f"no confidence reaches {target:.2f} precision on {n} rows"
            + (" (lower bound)" if z else ""),
        )
    i = int(good[-1])
    return Abstention(
        float(conf[i]),
        method,
        n,
        target,
        z,
        accepted=int(accepted[i]),
        precision=float(hits[i] / accepted[i]),
        precision_lower_bound=float(bound[i]),
        coverage=float(accepted[i] / n),
    )


def threshold_for_precision(
    confidence: Sequence[float], correct: Sequence[bool], target: float, z: float = 0.0
) -> float:
    """The lowest confidence threshold whose accepted share still reaches ``target`` precision
    (most coverage at that precision); 1.0+ (abstain always) when no threshold reaches it."""
    return choose_threshold(confidence, correct, target, z).threshold


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
