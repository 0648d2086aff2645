"""How should each triage target choose its abstention threshold?  Compared on held-out rows.

    python bench/abstention.py --only demo --out /tmp/demo.json    # or every set: no --only
    python bench/abstention.py --data ../shared/data --only "endava, all" --repeats 2
    python bench/abstention.py --show bench/abstention.json       # the README's table again

Each data set is cut into ``--folds`` folds, ``--repeats`` times with different shuffles; every
fold is held out once while the rest trains, through the production model
(``triage.classifier.TriageClassifier``, real encoder, embeddings cached in ``--cache``).  For
each way of choosing the threshold at the settings' target precision (0.90) we count, pooled over
all held-out rows: coverage (share of rows given an answer) and precision (share of answers that
are right), per target and for priority (impact and urgency both given; right when both are);
the JSON also counts the folds whose answers fall below the target precision (of those with 10+
answers: with about 35 held-out rows a fold, many fall below even at a true 0.90).

The ways compared:

- ``validation``: the model fits 85 % of the training rows and the threshold is the lowest
  confidence reaching 0.90 precision on the other 15 % (the method before this comparison);
- ``oof``: the model fits every training row; the threshold is the lowest confidence reaching
  0.90 precision on all training rows' out-of-fold confidences (``TriageClassifier.oof_proba_``);
- ``oof, ≥ N accepted``: the same, with at least N rows at or above the threshold;
- ``oof, Wilson z``: the same, where the Wilson lower bound at ``z`` (one-sided: 1.0 ≈ 84 %,
  1.28 = 90 %, 1.645 = 95 %) of the precision must reach 0.90 — a threshold resting on 8 rows is
  not trusted like one on 800;
- ``validation, Wilson z = 1``: the lower bound on the validation rows.

Data: the demo desk (``demo/tickets.jsonl``, 173 tickets: every target) and the Endava
dev file (incidents only, 459 rows, and every ticket type, 4,345 rows: impact and urgency).
Prints a Markdown table (for the README) and writes every figure as JSON to ``--out``;
``--show A.json B.json`` prints the table of earlier runs together.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from models.encoder import SentenceTransformerEncoder, encode_cached  # noqa: E402
from triage.calibration import choose_threshold  # noqa: E402
from triage.classifier import TriageClassifier  # noqa: E402
from triage.evaluation import load_labelled  # noqa: E402
from triage.service import request_text  # noqa: E402

# name -> (rows the threshold is chosen on: "validation" or "oof", Wilson z, min accepted rows)
METHODS: dict[str, tuple[str, float, int]] = {
    "validation (before)": ("validation", 0.0, 1),
    "oof": ("oof", 0.0, 1),
    "oof, ≥ 30 accepted": ("oof", 0.0, 30),
    "oof, Wilson z = 1": ("oof", 1.0, 1),
    "oof, Wilson z = 1.28": ("oof", 1.2816, 1),
    "oof, Wilson z = 1.645": ("oof", 1.645, 1),
    "validation, Wilson z = 1": ("validation", 1.0, 1),
}
VALIDATION_SHARE = 0.15


@dataclass
class DataSet:
    name: str
    texts: list[str]
    labels: dict[str, np.ndarray]  # target -> label per text ("" when missing)


TARGETS_DEMO = ("type", "impact", "urgency", "category", "assignment_group", "tier")


def demo_set() -> DataSet:
    rows = [json.loads(line) for line in (ROOT / "demo" / "tickets.jsonl").open(encoding="utf-8")]
    texts = [request_text(r.get("title"), r.get("description")) for r in rows]
    labels = {t: np.asarray([str(r.get(t) or "") for r in rows]) for t in TARGETS_DEMO}
    return DataSet("demo desk (173 tickets)", texts, labels)


def endava_sets(data: Path) -> list[DataSet]:
    path = data / "endava_priority" / "tickets.csv.gz"
    texts, urgency = load_labelled(path, ["title", "body"], "urgency")
    _, impact = load_labelled(path, ["title", "body"], "impact")
    _, kind = load_labelled(path, ["title", "body"], "ticket_type")
    incident = np.asarray(kind) == "0"
    both = {"impact": np.asarray(impact), "urgency": np.asarray(urgency)}
    return [
        DataSet(
            f"Endava incidents ({int(incident.sum())})",
            [t for t, i in zip(texts, incident, strict=True) if i],
            {k: v[incident] for k, v in both.items()},
        ),
        DataSet(f"Endava, all ticket types ({len(texts)})", texts, both),
    ]


def folds(n: int, k: int, seed: int) -> np.ndarray:
    fold = np.empty(n, dtype=int)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return fold


def fit_and_choose(
    texts: list[str], y: np.ndarray, emb: np.ndarray, target: float, knn_weight: float, seed: int
) -> dict[str, tuple[TriageClassifier, float, int]]:
    """Per method: the model that answers, its threshold and the rows the threshold rests on.
    The out-of-fold methods share one model fitted on every training row; the validation ones
    one fitted on 85 % of them."""
    full = TriageClassifier(knn_weight=knn_weight).fit(texts, y, emb)
    scored = ~np.isnan(full.oof_proba_).any(axis=1)
    oof = (full, full.oof_proba_[scored].max(axis=1), full.oof_correct_[scored])
    val = np.random.default_rng(seed).uniform(size=len(y)) < VALIDATION_SHARE
    part = TriageClassifier(knn_weight=knn_weight).fit(
        [t for t, v in zip(texts, val, strict=True) if not v], y[~val], emb[~val]
    )
    proba = part.predict_proba([t for t, v in zip(texts, val, strict=True) if v], emb[val])
    validation = (part, proba.max(axis=1), part.classes_[proba.argmax(axis=1)] == y[val])
    out = {}
    for name, (source, z, min_accepted) in METHODS.items():
        model, conf, ok = oof if source == "oof" else validation
        a = choose_threshold(conf, ok, target, z, min_accepted)
        out[name] = (model, a.threshold, a.rows)
    return out


def run(
    ds: DataSet,
    embed: Callable[[list[str]], np.ndarray],
    target: float,
    knn_weight: float,
    repeats: int,
    k: int,
) -> dict[str, dict[str, dict[str, float]]]:
    emb = embed(ds.texts)
    n = len(ds.texts)
    # per method and target, one entry per held-out fold: (labelled, given, right) per row
    held: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {
        m: {} for m in METHODS
    }
    rests_on: dict[str, dict[str, list[int]]] = {m: {} for m in METHODS}
    for r in range(repeats):
        fold = folds(n, k, seed=r)
        for f in range(k):
            t_idx = np.flatnonzero(fold == f)
            t_texts = [ds.texts[i] for i in t_idx]
            answers: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
                m: {} for m in METHODS
            }
            for t, y_all in ds.labels.items():
                idx = np.flatnonzero((fold != f) & (y_all != ""))
                chosen = fit_and_choose(
                    [ds.texts[i] for i in idx],
                    y_all[idx],
                    emb[idx],
                    target,
                    knn_weight,
                    seed=1000 * r + f,
                )
                predicted: dict[int, tuple[np.ndarray, np.ndarray]] = {}
                y = y_all[t_idx]
                for m, (model, threshold, rows) in chosen.items():
                    if id(model) not in predicted:
                        p = model.predict_proba(t_texts, emb[t_idx])
                        predicted[id(model)] = (p.max(axis=1), model.classes_[p.argmax(axis=1)])
                    conf, pred = predicted[id(model)]
                    labelled = y != ""
                    given = labelled & (conf >= threshold)
                    answers[m][t] = (labelled, given, given & (pred == y))
                    rests_on[m].setdefault(t, []).append(rows)
            for m, targets in answers.items():
                if "impact" in targets and "urgency" in targets:
                    (li, gi, oi), (lu, gu, ou) = targets["impact"], targets["urgency"]
                    targets["priority"] = (li & lu, gi & gu, oi & ou)
                for t, a in targets.items():
                    held[m].setdefault(t, []).append(a)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for m, targets in held.items():
        out[m] = {}
        for t, per_fold in targets.items():
            labelled, given, right = (np.concatenate(x) for x in zip(*per_fold, strict=True))
            fold_precision = [o.sum() / g.sum() for _, g, o in per_fold if g.sum() >= 10]
            out[m][t] = {
                "coverage": float(given.sum() / labelled.sum()),
                "precision": float(right.sum() / given.sum()) if given.any() else float("nan"),
                "answers": int(given.sum()),
                "folds_below_target": int(sum(p < target for p in fold_precision)),
                "folds_counted": len(fold_precision),
                "rests_on_rows": float(np.mean(rests_on[m].get(t, [0]))),
            }
    return out


def cell(fig: dict[str, float]) -> str:
    if not fig["answers"]:
        return "0 %"
    return f"{100 * fig['coverage']:.0f} % ({fig['precision']:.3f})"


def table(results: dict[str, dict], target: float) -> str:
    """The Markdown table of one or more runs' results (as written to ``--out``)."""
    present = {t for run_ in results.values() for f in run_["methods"].values() for t in f}
    order = ["type", "impact", "urgency", "priority", "category", "assignment_group", "tier"]
    targets = [t for t in order if t in present]
    lines = [
        "| data (cross-validation) | method | " + " | ".join(targets) + " | rests on (rows) |",
        "|---|---|" + "---|" * len(targets) + "---|",
    ]
    for name, run_ in results.items():
        for m, figs in run_["methods"].items():
            cells = [cell(figs[x]) if x in figs else "–" for x in targets]
            rows = sorted({round(f["rests_on_rows"]) for x, f in figs.items() if x != "priority"})
            rests_on = ", ".join(map(str, rows))
            lines.append(
                f"| {name}, {run_['cv']} | {m} | " + " | ".join(cells) + f" | {rests_on} |"
            )
    return (
        f"Coverage (precision) on held-out rows, pooled over the folds, target precision "
        f"{target:.2f}:\n\n" + "\n".join(lines)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="shared data")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/firstline-triage-cache"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/firstline-abstention.json"))
    ap.add_argument("--only", help="run only the data sets whose name contains this")
    ap.add_argument(
        "--show", type=Path, nargs="+", help="only print the table of earlier runs' --out files"
    )
    args = ap.parse_args()

    t = Settings().triage
    if args.show:
        results = {}
        for path in args.show:
            results.update(json.loads(path.read_text()))
        print(table(results, t.target_precision))
        return
    settings = Settings()
    encoder = SentenceTransformerEncoder(
        path=settings.model.path, batch_size=settings.model.batch_size, onnx=False
    )
    sets = [demo_set()]
    if not args.only or "endava" in args.only.lower():
        sets += endava_sets(args.data)
    if args.only:
        sets = [s for s in sets if args.only.lower() in s.name.lower()]
    results = {}
    for ds in sets:
        start = time.perf_counter()
        slug = ds.name.split(" (")[0].replace(" ", "_").replace(",", "")
        vectors = encode_cached(encoder, ds.texts, args.cache / f"abstention-{slug}.npz")
        by_text = dict(zip(ds.texts, vectors, strict=True))

        def embed(texts: list[str], by_text: dict = by_text) -> np.ndarray:
            return np.vstack([by_text[x] for x in texts])

        with threadpool_limits(1):
            methods = run(ds, embed, t.target_precision, t.knn_weight, args.repeats, args.folds)
        results[ds.name] = {"cv": f"{args.repeats} × {args.folds} folds", "methods": methods}
        print(f"{ds.name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    args.out.write_text(json.dumps(results, indent=1))
    print(table(results, t.target_precision))


if __name__ == "__main__":
    main()
