"""Training, evaluation and the evaluation gate for the triage models.

Every labelled example goes to one of two parts by a hash of its text — train (80 %) and test
(20 %, where models are compared) — so a retrain on grown data keeps the old test rows out of
training and the old and the new model are judged on the same rows.  Each target's abstention
threshold is chosen on the out-of-fold confidences of all its training rows (every row scored by
a fold model that did not see it, see ``TriageClassifier``), as the lowest confidence at which a
lower confidence bound on the precision reaches the target precision: a threshold resting on a
few rows is not trusted like one resting on many.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from triage.calibration import ABSTAIN_ALWAYS, Abstention, choose_threshold, curve_summary, ece
from triage.classifier import TriageClassifier
from triage.features import TextFeatures

TARGETS = ("type", "impact", "urgency", "category", "assignment_group", "tier")


@dataclass
class Example:
    text: str
    labels: dict[str, str]
    key: str = ""
    # The text's vector when the record already holds one made by the encoder in use.
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)

    def part(self) -> str:
        h = int(hashlib.sha256((self.key or self.text).encode()).hexdigest()[:8], 16) % 100
        return "train" if h < 80 else "test"


@dataclass
class TriageBundle:
    """Everything a prediction needs, saved as one versioned artifact."""

    models: dict[str, TriageClassifier] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    fallback: dict[str, str] = field(default_factory=dict)  # targets without enough labels
    # per target: what its threshold rests on (Abstention.as_dict)
    abstention: dict[str, dict[str, Any]] = field(default_factory=dict)


def fingerprint(examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for e in sorted(examples, key=lambda e: e.key or e.text):
        h.update(json.dumps([e.key, e.text, e.labels], sort_keys=True).encode())
    return h.hexdigest()[:16]


def score(
    model: TriageClassifier,
    texts: Sequence[str],
    labels: Sequence[str],
    embeddings: np.ndarray | None,
    threshold: float,
) -> dict[str, Any]:
    """Accuracy, F1, calibration and abstention figures of one model on labelled rows."""
    proba = model.predict_proba(texts, embeddings)
    pred = model.classes_[proba.argmax(axis=1)]
    conf = proba.max(axis=1)
    y = np.asarray([str(v) for v in labels])
    correct = pred == y
    confident = conf >= threshold
    return {
        "n": len(y),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
        "weighted_f1": round(float(f1_score(y, pred, average="weighted", zero_division=0)), 4),
        "coverage": round(float(confident.mean()), 4) if len(y) else 0.0,
        "accuracy_when_confident": round(float(correct[confident].mean()), 4)
        if confident.any()
        else None,
        "ece": round(ece(conf, correct), 4),
        "precision_at_coverage": curve_summary(conf, correct),
    }


# The precision that must reach the target is Wilson's lower bound at this normal quantile
# (one-sided 84 %): on held-out demo-desk rows the observed out-of-fold precision (z = 0) gave
# answers below the target, z = 1 held it with the most coverage of those that did (see
# bench/abstention.py and the README).
ABSTENTION_Z = 1.0


def oof_abstention(
    model: TriageClassifier,
    y: Sequence[str],
    target_precision: float,
    z: float = ABSTENTION_Z,
    min_accepted: int = 1,
) -> Abstention:
    """The abstention threshold of a fitted ``model`` chosen on its out-of-fold confidences
    over its training rows ``y`` (see :func:`triage.calibration.choose_threshold`)."""
    proba, correct = model.oof_proba_, model.oof_correct_
    if proba is None or correct is None:
        return Abstention(
            ABSTAIN_ALWAYS,
            "out-of-fold",
            0,
            target_precision,
            z,
            reason=f"{len(y)} training rows: too few for out-of-fold confidences (40+)",
        )
    scored = ~np.isnan(proba).any(axis=1)
    return choose_threshold(
        proba[scored].max(axis=1), correct[scored], target_precision, z, min_accepted, "out-of-fold"
    )


def fit_target(
    texts: Sequence[str],
    y: Sequence[str],
    emb: np.ndarray | None,
    target_precision: float,
    knn_weight: float,
    features: TextFeatures | None = None,
    pool: tuple[np.ndarray, np.ndarray] | None = None,
    z: float = ABSTENTION_Z,
) -> tuple[TriageClassifier, Abstention]:
    """Fit one target's model on all its training rows and choose its abstention threshold on
    their out-of-fold confidences (``features`` and ``pool``: shared with the other targets,
    see ``TriageClassifier.fit``)."""
    model = TriageClassifier(knn_weight=knn_weight).fit(texts, y, emb, features=features, pool=pool)
    return model, oof_abstention(model, y, target_precision, z)


def train_bundle(
    examples: Sequence[Example],
    embed: Callable[[Sequence[str]], np.ndarray] | None,
    target_precision: float,
    knn_weight: float,
    progress: Callable[[str, int, int], None] | None = None,
    min_examples: int = 10,
) -> tuple[TriageBundle, dict[str, dict[str, Any]]]:
    """Train every target that has labels; return the bundle and its test metrics.
    ``progress(target, done, total)`` before each target, in labelled training rows (a
    target's fitting time grows with them), so that a progress bar's time remaining means
    something."""
    texts = [e.text for e in examples]
    emb = embed(texts) if embed is not None and texts else None
    parts = np.asarray([e.part() for e in examples])
    bundle = TriageBundle()
    # Shared by every target: one featuriser fitted on the training part's texts (no labels
    # involved) and one pool of their embeddings, so that a request is featurised and its
    # neighbours found once for all targets.
    train_rows = np.flatnonzero(parts == "train")
    features = TextFeatures().fit([texts[i] for i in train_rows]) if len(train_rows) else None
    pool_of = np.full(len(examples), -1)
    pool_of[train_rows] = np.arange(len(train_rows))
    pool = np.ascontiguousarray(emb[train_rows], dtype=np.float32) if emb is not None else None
    train_examples = [e for e, p in zip(examples, parts, strict=True) if p == "train"]
    work = {t: sum(1 for e in train_examples if e.labels.get(t)) for t in TARGETS}
    done, total = 0, sum(work.values())
    for target in TARGETS:
        labelled = np.asarray([bool(e.labels.get(target)) for e in examples])
        y_all = np.asarray([e.labels.get(target) or "" for e in examples])
        n_classes = len(set(y_all[labelled]))
        if labelled.sum() < min_examples or n_classes < 2:
            bundle.fallback[target] = (
                f"{int(labelled.sum())} labelled examples, {n_classes} distinct labels: rules only"
            )
            total -= work[target]
            continue
        if progress:
            progress(target, done, total)
        done += work[target]
        sel = {p: np.flatnonzero(labelled & (parts == p)) for p in ("train", "test")}
        if len(set(y_all[sel["train"]])) < 2:
            bundle.fallback[target] = "too few training rows after the split: rules only"
            continue

        def rows(p: str, sel: dict[str, np.ndarray] = sel, y_all: np.ndarray = y_all):  # noqa: ANN202
            i = sel[p]
            return [texts[j] for j in i], list(y_all[i]), (emb[i] if emb is not None else None)

        model, abstention = fit_target(
            *rows("train"),
            target_precision,
            knn_weight,
            features=features,
            pool=(pool, pool_of[sel["train"]]) if pool is not None else None,
        )
        bundle.models[target] = model
        bundle.thresholds[target] = abstention.threshold
        bundle.abstention[target] = abstention.as_dict()
        t_texts, t_y, t_emb = rows("test")
        if t_texts:
            bundle.metrics[target] = score(model, t_texts, t_y, t_emb, abstention.threshold)
    return bundle, bundle.metrics


def evaluate_bundle(
    bundle: TriageBundle,
    examples: Sequence[Example],
    embed: Callable[[Sequence[str]], np.ndarray] | None,
) -> dict[str, dict[str, Any]]:
    """Metrics of a (possibly older) bundle on the test part of ``examples``."""
    test = [e for e in examples if e.part() == "test"]
    texts = [e.text for e in test]
    emb = embed(texts) if embed is not None and texts else None
    out = {}
    for target, model in bundle.models.items():
        idx = [i for i, e in enumerate(test) if e.labels.get(target)]
        if not idx:
            continue
        y = [test[i].labels[target] for i in idx]
        out[target] = score(
            model,
            [texts[i] for i in idx],
            y,
            emb[idx] if emb is not None else None,
            bundle.thresholds.get(target, 1.0),
        )
    return out


def gate(new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """Is the new model at least as good as the old on the targets both predict?"""
    common = sorted(set(new) & set(old))
    if not common:
        return True, "no earlier model to compare with"
    new_acc = float(np.mean([new[t]["accuracy"] for t in common]))
    old_acc = float(np.mean([old[t]["accuracy"] for t in common]))
    detail = f"mean test accuracy over {', '.join(common)}: new {new_acc:.4f}, active {old_acc:.4f}"
    return new_acc >= old_acc - 1e-9, detail
