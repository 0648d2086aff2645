"""`firstline eval triage`: train on one labelled file through the production pipeline, score
another.  Files: CSV, CSV.GZ or JSONL; text from one or more columns, one label column."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidInputError
from indexer.normalize import normalize
from indexer.readers import RowError, read_rows
from triage.training import fit_target, score


def load_labelled(
    path: Path, text_cols: Sequence[str], label_col: str, require_label: bool = True
) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for row_no, row in read_rows(path):
        if isinstance(row, RowError):
            raise InvalidInputError(f"{path.name} row {row_no}: {row.reason}")
        missing = [c for c in [*text_cols, label_col] if c not in row]
        if missing:
            raise InvalidInputError(
                f"{path.name}: no column(s) {', '.join(missing)}; columns: {', '.join(row)}"
            )
        label = str(row[label_col]).strip() if row[label_col] is not None else ""
        text = normalize(". ".join(str(row[c] or "") for c in text_cols)).strip(" .")
        if not label and require_label:
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise InvalidInputError(f"{path.name}: no labelled rows")
    return texts, labels


def evaluate_triage(
    train: Path,
    test: Path,
    text_cols: Sequence[str],
    label_col: str,
    embed: Callable[[Sequence[str]], np.ndarray] | None,
    target_precision: float,
    knn_weight: float,
    predictions: Path | None = None,
) -> dict[str, Any]:
    texts, labels = load_labelled(train, text_cols, label_col)
    test_texts, test_labels = load_labelled(test, text_cols, label_col, require_label=False)
    emb = embed(texts) if embed else None
    t_emb = embed(test_texts) if embed else None
    # Every training row fits the model; the abstention threshold rests on their out-of-fold
    # confidences, as in `triage train`.
    model, abstention = fit_target(texts, labels, emb, target_precision, knn_weight)
    threshold = abstention.threshold
    labelled = [i for i, y in enumerate(test_labels) if y]
    result = score(
        model,
        [test_texts[i] for i in labelled],
        [test_labels[i] for i in labelled],
        t_emb[labelled] if t_emb is not None else None,
        threshold,
    )
    if predictions is not None:
        proba = model.predict_proba(test_texts, t_emb)
        with open(predictions, "w", encoding="utf-8") as fh:
            for p in proba:
                order = np.argsort(-p)
                conf = float(p[order[0]])
                fh.write(
                    json.dumps(
                        {
                            "label": str(model.classes_[order[0]]),
                            "confidence": round(conf, 6),
                            "abstained": conf < threshold,
                            "top": [
                                [str(model.classes_[j]), round(float(p[j]), 6)] for j in order[:3]
                            ],
                        }
                    )
                    + "\n"
                )
    keys = (
        "n",
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "coverage",
        "accuracy_when_confident",
        "ece",
    )
    out = {k: result[k] for k in keys}
    out["threshold"] = round(float(threshold), 6)
    out["abstention"] = abstention.as_dict()
    out["precision_at_coverage"] = result["precision_at_coverage"]
    return out
