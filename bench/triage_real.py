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
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.settings import Settings  # noqa: E402
from models.encoder import Encoder, SentenceTransformerEncoder  # noqa: E402
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


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def cached_vectors(texts: list[str], encoder: Encoder, cache: Path) -> dict[str, np.ndarray]:
    """Every text's vector, encoding only those not yet in ``cache``."""
    vectors: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as z:
            vectors = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))
    todo = sorted({t for t in texts if _key(t) not in vectors})
    if todo:
        from tqdm import tqdm

        with tqdm(total=len(todo), desc=f"encoding ({encoder.name})", unit="text") as bar:
            fresh = encoder.encode(todo, progress=bar.update)
        vectors.update({_key(t): v for t, v in zip(todo, fresh, strict=True)})
        cache.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(vectors)
        np.savez(cache, keys=np.asarray(keys), vectors=np.stack([vectors[k] for k in keys]))
    return vectors


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
    start = time.perf_counter()
    vectors = cached_vectors(texts, encoder, args.cache / f"{args.set}-{encoder.name}.npz")
    encoded = time.perf_counter() - start

    def embed(batch: list[str]) -> np.ndarray:
        return np.stack([vectors[_key(t)] for t in batch]).astype(np.float32)

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
