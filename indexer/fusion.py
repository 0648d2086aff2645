"""Fusion of the lexical and the dense ranking into one, shared by every backend.

Measured on the StackFAQ and SeaMonkey dev files (see README, "Evaluation"): naive reciprocal
rank fusion *loses* to dense search alone on FAQ retrieval, because BM25's many near-misses
push good dense hits down.  What works on both is a convex combination of per-query min-max
normalised scores, weighted towards dense, followed by one step of dense pseudo-relevance
feedback: documents close to the best candidate move up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from indexer.types import Hit


@dataclass(slots=True)
class Fused:
    id: str
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    lexical_score: float | None
    dense_score: float | None


def to_hit(
    f: Fused,
    stored: dict,
    snippet: str,
    ranges: list[tuple[int, int]],
    created_at: datetime | None,
) -> Hit:
    """One result for the caller: the stored fields, the snippet and why it ranked here."""
    return Hit(
        id=f.id,
        score=f.score,
        kind=stored.get("kind") or "",
        title=stored.get("title") or "",
        category=stored.get("category") or None,
        status=stored.get("status") or None,
        created_at=created_at,
        lexical_rank=f.lexical_rank,
        dense_rank=f.dense_rank,
        lexical_score=f.lexical_score,
        dense_score=f.dense_score,
        snippet=snippet,
        highlights=[list(r) for r in ranges],
    )


def _minmax(values: Mapping[str, float], floor: float | None = None) -> dict[str, float]:
    if not values:
        return {}
    lo = min(values.values()) if floor is None else floor
    hi = max(values.values())
    span = hi - lo
    if span <= 0:
        return {k: 1.0 for k in values}
    return {k: max(0.0, (v - lo) / span) for k, v in values.items()}


def hybrid(
    lexical: Sequence[tuple[str, float]],
    dense: Sequence[tuple[str, float]],
    dense_scores: Mapping[str, float],
    *,
    dense_weight: float,
    feedback_weight: float = 0.0,
    feedback: Callable[[str, Sequence[str]], Mapping[str, float]] | None = None,
) -> list[Fused]:
    """Rank the union of both candidate lists.

    ``lexical`` and ``dense`` are each ranker's top candidates, best first; ``dense_scores``
    holds the dense score of *every* candidate in the union (a backend computes it exactly).
    Lexical scores are scaled by the best one (a document BM25 did not retrieve scores 0);
    dense scores are min-max scaled over the union.  Score = w·dense + (1-w)·lexical, then, if
    ``feedback`` is given, + feedback_weight · similarity to the top document.
    """
    lex = dict(lexical)
    lex_rank = {doc: i for i, (doc, _) in enumerate(lexical, start=1)}
    den_rank = {doc: i for i, (doc, _) in enumerate(dense, start=1)}
    union = list(dict.fromkeys([*den_rank, *lex_rank]))
    if not union:
        return []
    lex_n = _minmax({d: lex.get(d, 0.0) for d in union}, floor=0.0)
    den_n = _minmax({d: dense_scores.get(d, 0.0) for d in union})
    score = {
        d: dense_weight * den_n.get(d, 0.0) + (1.0 - dense_weight) * lex_n.get(d, 0.0)
        for d in union
    }
    if feedback is not None and feedback_weight > 0:
        top = max(union, key=lambda d: (score[d], -den_rank.get(d, 1 << 30)))
        for d, sim in feedback(top, union).items():
            score[d] += feedback_weight * sim
    out = [
        Fused(d, score[d], lex_rank.get(d), den_rank.get(d), lex.get(d), dense_scores.get(d))
        for d in union
    ]
    out.sort(key=lambda f: (-f.score, f.dense_rank or 1 << 30, f.id))
    return out


def single(ranking: Sequence[tuple[str, float]], lexical: bool) -> list[Fused]:
    """One ranker's list as results (lexical-only or dense-only mode)."""
    return [
        Fused(
            d,
            s,
            i if lexical else None,
            None if lexical else i,
            s if lexical else None,
            None if lexical else s,
        )
        for i, (d, s) in enumerate(ranking, start=1)
    ]
