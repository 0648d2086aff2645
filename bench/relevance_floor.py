"""How the relevance floor trades answers kept for non-answers removed (README, "Evaluation").

    python bench/relevance_floor.py [DATA_DIR] [--cache /tmp/firstline-floor]

DATA_DIR is ``../shared/data`` by default (dev files only).  Two temporary indexes are built
through the production path (``indexer.evaluation.temporary_index``): the StackFAQ documents and
the SeaMonkey bugs (``bench/make_seamonkey.py``).  Each query's top hit comes from the production
search (``Firstline.search``, hybrid, the configured settings) and is:

- a **correct answer** when it is one of the query's relevant documents;
- a **non-answer** when it is not (a wrong top hit), or when the query has no answer in that
  index at all: every SeaMonkey bug (summary and description) asked of the StackFAQ index, and
  every StackFAQ question asked of the SeaMonkey index ("out of domain").

For each floor the table gives the share of correct answers kept (match score at or above the
floor) and the share of non-answers removed (below it).  The match score is the one the service
compares with the floor (``indexer.service.match_score``).  Vectors are cached in ``--cache``
(keyed by text), so only the first run encodes (25 minutes on 2 busy cores); a run with the
cache took 3 min 20 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.make_seamonkey import build as build_seamonkey  # noqa: E402
from core.settings import Settings  # noqa: E402
from indexer.evaluation import load_queries, temporary_index  # noqa: E402
from indexer.service import match_score  # noqa: E402
from indexer.types import Filters  # noqa: E402
from models.encoder import Encoder, ProgressFn, get_encoder  # noqa: E402

FLOORS = [round(0.20 + 0.05 * i, 2) for i in range(11)]


class CachedEncoder:
    """The real encoder behind a file cache of its vectors, keyed by a hash of the text."""

    def __init__(self, inner: Encoder, path: Path) -> None:
        self.inner, self.path = inner, path
        self.name, self.dim = inner.name, inner.dim
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path.exists():
            with np.load(path) as z:
                self.vectors = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    def encode(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self.vectors}
        if missing:
            fresh = self.inner.encode(list(missing.values()))
            self.vectors.update(zip(missing, fresh, strict=True))
            self.dirty = True
        if progress:
            progress(len(texts))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self.vectors[k] for k in keys])

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        keys = list(self.vectors)
        np.savez(tmp, keys=np.asarray(keys), vectors=np.vstack([self.vectors[k] for k in keys]))
        os.replace(tmp, self.path)
        self.dirty = False


def top_hits(
    docs: Path, queries: list[dict], settings: Settings, encoder: CachedEncoder, label: str
) -> list[dict]:
    """Each query's best hit (the query's own ``exclude`` ids left out) with its match score."""
    # Encode every query in one batch first: the searches then find their vectors cached.
    encoder.encode([q["query"] for q in queries])
    encoder.save()
    out = []
    with temporary_index(docs, settings, encoder=encoder) as service:
        encoder.save()
        for i, q in enumerate(queries, start=1):
            exclude = set(q.get("exclude") or [])
            hits = service.search(q["query"], k=1 + len(exclude), filters=Filters())
            hits = [h for h in hits if h["external_id"] not in exclude]
            top = hits[0] if hits else None
            relevant = set(q.get("relevant") or [])
            out.append(
                {
                    "set": label,
                    "answer": bool(relevant) and top is not None and top["external_id"] in relevant,
                    "score": match_score(top) if top is not None else None,
                    "query": q["query"][:300],
                    "top": None if top is None else top["external_id"],
                    "lexical": None if top is None else top["why"]["lexical_score"],
                }
            )
            if i % 200 == 0:
                print(f"  {label}: {i}/{len(queries)}", file=sys.stderr)
    return out


def curve(rows: list[dict], floors: Sequence[float]) -> list[dict]:
    groups = {
        "faq_correct": [r for r in rows if r["set"] == "faq" and r["answer"]],
        "faq_wrong": [r for r in rows if r["set"] == "faq" and not r["answer"]],
        "bugs_correct": [r for r in rows if r["set"] == "bugs" and r["answer"]],
        "bugs_wrong": [r for r in rows if r["set"] == "bugs" and not r["answer"]],
        "ood": [r for r in rows if r["set"].startswith("ood")],
    }
    groups["correct"] = groups["faq_correct"] + groups["bugs_correct"]
    groups["non_answers"] = groups["faq_wrong"] + groups["bugs_wrong"] + groups["ood"]

    def above(rs: list[dict], f: float) -> float:
        return sum(r["score"] is not None and r["score"] >= f for r in rs) / max(len(rs), 1)

    table = []
    for f in floors:
        row: dict = {"floor": f}
        for name, rs in groups.items():
            kept = above(rs, f)
            row[name] = round(kept if "correct" in name else 1 - kept, 3)
        table.append(row)
    return [{"counts": {k: len(v) for k, v in groups.items()}}, *table]


def markdown(result: list[dict]) -> str:
    counts, rows = result[0]["counts"], result[1:]
    head = (
        "| floor | correct kept: StackFAQ | SeaMonkey | non-answers removed: wrong StackFAQ "
        "| wrong SeaMonkey | out of domain | **all correct kept** | **all non-answers removed** |"
    )
    lines = [
        head,
        "|---|---|---|---|---|---|---|---|",
        f"| (queries) | {counts['faq_correct']} | {counts['bugs_correct']} | "
        f"{counts['faq_wrong']} | {counts['bugs_wrong']} | {counts['ood']} | "
        f"{counts['correct']} | {counts['non_answers']} |",
    ]
    for r in rows:
        lines.append(
            f"| {r['floor']:.2f} | {r['faq_correct']:.3f} | {r['bugs_correct']:.3f} | "
            f"{r['faq_wrong']:.3f} | {r['bugs_wrong']:.3f} | {r['ood']:.3f} | "
            f"**{r['correct']:.3f}** | **{r['non_answers']:.3f}** |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "firstline-floor")
    ap.add_argument("--json", type=Path, help="Also write the curve and every top hit here.")
    args = ap.parse_args()
    faq_dir, bugs_src = args.data / "stackfaq", args.data / "gitbugs_seamonkey"
    if not (faq_dir / "docs.jsonl").exists() or not (bugs_src / "bugs.csv").exists():
        sys.exit(f"no StackFAQ or SeaMonkey files under {args.data}")
    settings = Settings()
    m = settings.model
    encoder = CachedEncoder(
        get_encoder(m.kind, m.path, m.batch_size, m.device, m.max_seq_length, m.onnx),
        args.cache / f"vectors-{settings.model.kind}-{m.path or 'default'}.npz".replace("/", "_"),
    )
    bugs_dir = args.cache / "seamonkey"
    build_seamonkey(bugs_src, bugs_dir)
    faq_queries = load_queries(faq_dir / "queries_dev_pairs.jsonl")
    bug_queries = load_queries(bugs_dir / "queries.jsonl")
    bug_texts = [
        {"query": f"{d['title']}\n{d['body']}"}
        for d in map(json.loads, (bugs_dir / "docs.jsonl").read_text().splitlines())
    ]
    faq_questions = [{"query": q["query"]} for q in faq_queries]  # no answer among the bugs
    rows = top_hits(faq_dir / "docs.jsonl", faq_queries, settings, encoder, "faq")
    rows += top_hits(faq_dir / "docs.jsonl", bug_texts, settings, encoder, "ood_bugs_in_faq")
    rows += top_hits(bugs_dir / "docs.jsonl", bug_queries, settings, encoder, "bugs")
    rows += top_hits(bugs_dir / "docs.jsonl", faq_questions, settings, encoder, "ood_faq_in_bugs")
    encoder.save()
    result = curve(rows, FLOORS)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps({"curve": result, "hits": rows}, indent=1))


if __name__ == "__main__":
    main()
