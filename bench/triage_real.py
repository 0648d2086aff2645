"""`firstline eval triage` on the real dev splits, with each text encoded once and cached.

    python bench/make_triage_splits.py ../shared/data /tmp/splits
    python bench/triage_real.py /tmp/splits itsm_assignment
    python bench/triage_real.py /tmp/splits topic_groups --model /path/to/other-sentence-model

Runs the same function as `firstline eval triage` (``triage.evaluation.evaluate_triage``: the
production pipeline, 85 % fits and 15 % chooses the abstention threshold) with the settings'
target precision and kNN weight; only the encoding is cached, in
``CACHE/<set>-<model>.npz`` (default cache: /tmp/firstline-triage-cache), so that a second run
or a second experiment skips the hour the topic-groups texts take to encode on 2 cores.
Prints one JSON line like `firstline eval triage`, plus ``set``, ``model`` and the seconds
spent encoding and training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from models.encoder import SentenceTransformerEncoder, encode_cached  # noqa: E402
from triage.evaluation import evaluate_triage, load_labelled  # noqa: E402

# set name (as written by make_triage_splits.py) -> text columns, label column
SETS = {
    "topic_groups": (["Document"], "Topic_group"),
    "itsm_assignment": (["Short description", "Description"], "Assignment group"),
    "endava_urgency": (["title", "body"], "urgency"),
    "endava_impact": (["title", "body"], "impact"),
    "endava_all_urgency": (["title", "body"], "urgency"),
    "endava_all_impact": (["title", "body"], "impact"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("splits", type=Path, help="folder written by make_triage_splits.py")
    ap.add_argument("set", choices=sorted(SETS))
    ap.add_argument("--model", help="a local sentence-transformers model (default: the settings')")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/firstline-triage-cache"))
    args = ap.parse_args()

    settings = Settings()
    cols, label = SETS[args.set]
    train = args.splits / f"{args.set}_train.csv"
    test = args.splits / f"{args.set}_test.csv"
    if not train.exists() or not test.exists():
        sys.exit(
            f"error: no {train.name} / {test.name} in {args.splits}: run make_triage_splits.py"
        )
    encoder = SentenceTransformerEncoder(
        path=args.model or settings.model.path, batch_size=settings.model.batch_size, onnx=False
    )
    texts = load_labelled(train, cols, label)[0]
    texts += load_labelled(test, cols, label, require_label=False)[0]
    texts = sorted(set(texts))
    start = time.perf_counter()
    with tqdm(desc=f"encoding ({encoder.name})", unit="text") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        vectors = encode_cached(
            encoder, texts, args.cache / f"{args.set}-{encoder.name}.npz", progress
        )
    encoded = time.perf_counter() - start
    row = {t: i for i, t in enumerate(texts)}

    def embed(batch: list[str]) -> np.ndarray:
        return vectors[[row[t] for t in batch]]

    start = time.perf_counter()
    result = evaluate_triage(
        train,
        test,
        cols,
        label,
        embed,
        settings.triage.target_precision,
        settings.triage.knn_weight,
    )
    result.update(
        set=args.set,
        model=encoder.name,
        encode_s=round(encoded, 1),
        train_and_score_s=round(time.perf_counter() - start, 1),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
