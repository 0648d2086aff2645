"""Retrieval evaluation: a fresh temporary index built through the production path, standard
IR metrics over its rankings.

Queries file: JSON lines with ``query`` and ``relevant`` (an id or a list of ids) and, optionally,
``exclude`` (ids left out of that query's ranking, e.g. the query ticket itself).
"""

from __future__ import annotations

import json
import math
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInputError
from core.settings import Settings
from indexer.types import Filters

if TYPE_CHECKING:
    from indexer.service import Firstline
    from models.encoder import Encoder

DEPTH = 100


def _ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def load_queries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    queries = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInputError(f"{path.name} line {n}: broken JSON ({e.msg})") from e
            if not isinstance(obj, dict) or not str(obj.get("query", "")).strip():
                raise InvalidInputError(f"{path.name} line {n}: needs a non-empty 'query'")
            relevant = _ids(obj.get("relevant"))
            if not relevant:
                raise InvalidInputError(f"{path.name} line {n}: needs 'relevant' (an id or a list)")
            queries.append(
                {
                    "query": str(obj["query"]),
                    "relevant": relevant,
                    "exclude": _ids(obj.get("exclude")),
                }
            )
    if not queries:
        raise InvalidInputError(f"{path.name}: no queries")
    return queries


def average_precision(ranking: Sequence[str], relevant: set[str]) -> float:
    hits, total = 0, 0.0
    for i, doc in enumerate(ranking[:DEPTH], start=1):
        if doc in relevant:
            hits += 1
            total += hits / i
    return total / len(relevant) if relevant else 0.0


def ndcg(ranking: Sequence[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 1) for i, d in enumerate(ranking[:k], start=1) if d in relevant)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def metrics(runs: Iterable[tuple[Sequence[str], set[str]]]) -> dict[str, float | int]:
    rows = list(runs)
    n = len(rows)
    if n == 0:
        raise InvalidInputError("no queries to evaluate")

    def mean(f: Callable[[Sequence[str], set[str]], float]) -> float:
        return round(sum(f(r, rel) for r, rel in rows) / n, 4)

    def rr(r: Sequence[str], rel: set[str]) -> float:
        return next((1 / i for i, d in enumerate(r[:DEPTH], start=1) if d in rel), 0.0)

    return {
        "queries": n,
        "map": mean(average_precision),
        "mrr": mean(rr),
        "p_at_1": mean(lambda r, rel: sum(d in rel for d in r[:1]) / 1),
        "p_at_5": mean(lambda r, rel: sum(d in rel for d in r[:5]) / 5),
        "ndcg_at_10": mean(ndcg),
        "recall_at_10": mean(lambda r, rel: len(set(r[:10]) & rel) / len(rel)),
        "recall_at_100": mean(lambda r, rel: len(set(r[:DEPTH]) & rel) / len(rel)),
    }


@contextmanager
def temporary_index(
    docs: Path,
    settings: Settings,
    encoder: Encoder | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Iterator[Firstline]:
    """A service over a fresh temporary store (``settings``' backend and model) holding DOCS
    as published articles, ingested through the production path; removed afterwards.
    ``encoder`` replaces the configured one (a benchmark's cache of vectors)."""
    from indexer.service import Firstline

    with tempfile.TemporaryDirectory(prefix="firstline-eval-") as tmp:
        s = settings.model_copy(deep=True)
        s.data_dir = Path(tmp)
        s.database.url = None
        s.search.index_dir = None
        s.elasticsearch.index_prefix = f"firstline-eval-{uuid.uuid4().hex[:10]}"
        service = Firstline(s)
        if encoder is not None:
            service._encoder = encoder
        try:
            total = service.ingestor.count_rows(docs)
            done = 0

            def on_docs(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress("indexing", done, total)

            report = service.ingest_file(
                docs,
                kind="article",
                mapping={"external_id": "id"},
                source="eval",
                progress=on_docs,
            )
            if report.skipped:
                first = report.skipped[0]
                raise InvalidInputError(
                    f"{docs.name}: {len(report.skipped)} bad line(s), first at line "
                    f"{first.row}: {first.reason}"
                )
            yield service
        finally:
            drop = getattr(service.backend, "drop", None)
            if drop is not None and settings.search.backend != "embedded":
                drop()  # the temporary index on a server goes too
            service.close()


def evaluate_retrieval(
    docs: Path,
    queries_path: Path,
    settings: Settings,
    run_path: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Index DOCS into a temporary store with ``settings``' backend and model; run QUERIES."""
    queries = load_queries(queries_path)
    runs = []
    with temporary_index(docs, settings, progress=progress) as service:
        out = open(run_path, "w", encoding="utf-8") if run_path else None  # noqa: SIM115
        try:
            for i, q in enumerate(queries, start=1):
                exclude = [*q["exclude"]]
                hits = service.search(q["query"], k=DEPTH + len(exclude), filters=Filters())
                ranking = [h["external_id"] for h in hits if h["external_id"] not in exclude]
                ranking = ranking[:DEPTH]
                runs.append((ranking, set(q["relevant"])))
                if out:
                    out.write(json.dumps({"query": q["query"], "ranking": ranking}) + "\n")
                if progress:
                    progress("querying", i, len(queries))
        finally:
            if out:
                out.close()
    result = metrics(runs)
    result["backend"] = settings.search.backend
    return result
