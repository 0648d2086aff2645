"""Fusion of a lexical and a dense ranking into one, shared by every backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Fused:
    id: str
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    lexical_score: float | None
    dense_score: float | None


def weighted_rrf(
    lexical: Sequence[tuple[str, float]],
    dense: Sequence[tuple[str, float]],
    *,
    lexical_weight: float,
    dense_weight: float,
    k: int,
) -> list[Fused]:
    """Weighted reciprocal rank fusion: score = sum_r w_r / (k + rank_r).

    Each input is a ranking of ``(id, score)`` best first.  Ties break on the dense rank, then on
    the id, so the order is deterministic.
    """
    table: dict[str, Fused] = {}
    for rank, (doc_id, score) in enumerate(lexical, start=1):
        table[doc_id] = Fused(doc_id, lexical_weight / (k + rank), rank, None, score, None)
    for rank, (doc_id, score) in enumerate(dense, start=1):
        f = table.get(doc_id)
        if f is None:
            table[doc_id] = Fused(doc_id, dense_weight / (k + rank), None, rank, None, score)
        else:
            f.score += dense_weight / (k + rank)
            f.dense_rank, f.dense_score = rank, score
    return sorted(
        table.values(),
        key=lambda f: (-f.score, f.dense_rank or 1 << 30, f.id),
    )
