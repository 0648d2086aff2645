"""What the recorded events say: near-duplicate articles, knowledge gaps, problem candidates and
the desk's figures (deflection, KCS reuse/create, triage accuracy and coverage, priorities and
SLA breaches).  Every number here is computed from stored rows; nothing is estimated.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import undefer

from core.settings import KbSettings
from core.text import STOP_WORDS
from core.time import aware, iso, utcnow
from kb.db import Database
from kb.desk import sla_status
from kb.models import Article, Correction, DeskTicket, Event, SearchLog, TriageRequest

TRIAGE_FIELDS = ("type", "impact", "urgency", "category", "assignment_group", "tier")
_WORD = re.compile(r"[a-z][a-z0-9]+")


def _unit(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(n == 0, 1, n)


def _vectors(blob: bytes | None, dim: int | None) -> np.ndarray | None:
    if not blob:
        return None
    v = np.frombuffer(blob, np.float32)
    if dim:
        v = v.reshape(-1, dim)
    return v


def _label(tickets: Sequence[DeskTicket], n: int = 4) -> str:
    """The words a cluster's tickets share most, title words first on ties, then the order
    they first appear in: a name an editor can read, the same on every run."""
    docs, titles, first = Counter(), Counter(), {}  # type: ignore[var-annotated]
    for t in tickets:
        title_words = [w for w in _WORD.findall(t.title.lower()) if w not in STOP_WORDS]
        words = title_words + [
            w for w in _WORD.findall(t.description.lower()) if w not in STOP_WORDS
        ]
        for w in words:
            first.setdefault(w, len(first))
        docs.update(set(words))
        titles.update(set(title_words))
    ranked = sorted(docs, key=lambda w: (-docs[w], -titles[w], first[w]))
    return " · ".join(ranked[:n])


def greedy_clusters(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Leader clustering on unit vectors: each item joins the first cluster whose centroid is
    at least ``threshold`` similar, else starts one.  Deterministic, linear in clusters."""
    clusters: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for i, v in enumerate(vectors):
        if centroids:
            sims = np.stack(centroids) @ v
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                clusters[j].append(i)
                c = vectors[clusters[j]].mean(axis=0)
                centroids[j] = c / (np.linalg.norm(c) or 1)
                continue
        clusters.append([i])
        centroids.append(v)
    return clusters


def best_article_score(triage: dict[str, Any] | None) -> float | None:
    """The best published article's dense similarity among the ticket's suggestions."""
    scores = [
        (h.get("why") or {}).get("dense_score")
        for h in (triage or {}).get("suggested_articles", [])
    ]
    scores = [s for s in scores if s is not None]
    return max(scores) if scores else None


class Insights:
    """``relevance_floor``: the search setting below which a hit is a weak match; a ticket or
    search whose best article stays below it had no good article (one floor for both)."""

    def __init__(self, db: Database, settings: KbSettings, relevance_floor: float) -> None:
        self.db = db
        self.settings = settings
        self.relevance_floor = relevance_floor

    # -- duplicates ----------------------------------------------------------------------
    def duplicates(
        self, dim: int, threshold: float | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Pairs of live articles whose embeddings (mean of the title's and the text windows'
        ``dim``-sized vectors) are at least ``threshold`` similar, most similar first."""
        threshold = self.settings.duplicate_threshold if threshold is None else threshold
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(Article)
                    .options(undefer(Article.embedding))
                    .where(Article.status != "retired", Article.embedding.is_not(None))
                )
            )
        if len(rows) < 2:
            return []
        means = np.stack(
            [_vectors(r.embedding, dim).mean(axis=0) for r in rows]  # type: ignore[union-attr]
        )
        sims = _unit(means) @ _unit(means).T
        iu = np.triu_indices(len(rows), k=1)
        order = np.argsort(-sims[iu])
        out = []
        for idx in order[:limit]:
            i, j = iu[0][idx], iu[1][idx]
            if sims[i, j] < threshold:
                break
            a, b = rows[i], rows[j]
            out.append(
                {
                    "similarity": round(float(sims[i, j]), 3),
                    "articles": [_brief(a), _brief(b)],
                }
            )
        return out

    # -- knowledge gaps ------------------------------------------------------------------
    def gaps(self, days: int | None = None, limit: int = 20) -> dict[str, Any]:
        """Clusters of recent desk tickets that had no good article (no suggested article
        cleared the relevance floor, and not resolved by reusing one), ranked by size; and the
        recent searches that found nothing good (no article hit at or above the floor)."""
        cfg = self.settings
        since = utcnow() - timedelta(days=days or cfg.gap_days)
        with self.db.session() as s:
            tickets = list(
                s.scalars(
                    select(DeskTicket)
                    .options(undefer(DeskTicket.embedding))
                    .where(DeskTicket.created_at >= since)
                    .order_by(DeskTicket.id)
                )
            )
            searches = list(s.scalars(select(SearchLog).where(SearchLog.created_at >= since)))
        lacking = []
        for t in tickets:
            best = best_article_score(t.triage)
            if t.outcome == "reuse" or t.embedding is None:
                continue
            if best is None or best < self.relevance_floor:
                lacking.append((t, best))
        clusters: list[dict[str, Any]] = []
        if lacking:
            vecs = _unit(np.stack([np.frombuffer(t.embedding, np.float32) for t, _ in lacking]))
            for members in greedy_clusters(vecs, cfg.gap_similarity):
                if len(members) < cfg.gap_min_size:
                    continue
                centroid = _unit(vecs[members].mean(axis=0))
                ranked = sorted(members, key=lambda m: -float(vecs[m] @ centroid))
                group = [lacking[m] for m in ranked]
                scores = [b for _, b in group if b is not None]
                clusters.append(
                    {
                        "size": len(group),
                        "label": _label([t for t, _ in group]),
                        "ticket_ids": [t.id for t, _ in group],
                        "representatives": [
                            {"id": t.id, "title": t.title, "created_at": iso(t.created_at)}
                            for t, _ in group[:3]
                        ],
                        "best_article_score": round(max(scores), 3) if scores else None,
                        "latest": iso(max(aware(t.created_at) for t, _ in group)),
                    }
                )
        clusters.sort(key=lambda c: -c["size"])
        weak = Counter(
            " ".join(q.query.lower().split())
            for q in searches
            if q.hits == 0 or q.top_score is None or q.top_score < self.relevance_floor
        )
        return {
            "since": iso(since),
            "clusters": clusters[:limit],
            "searches": [{"query": q, "count": n} for q, n in weak.most_common(limit)],
        }

    # -- problem candidates --------------------------------------------------------------
    def problems(
        self,
        window_minutes: int | None = None,
        min_incidents: int | None = None,
        days: int = 7,
    ) -> list[dict[str, Any]]:
        """Bursts of similar incidents: at least ``min_incidents`` alike (same service, or
        embeddings at least ``problem_similarity`` similar) within ``window_minutes``."""
        cfg = self.settings
        window = timedelta(minutes=window_minutes or cfg.problem_window_minutes)
        need = min_incidents or cfg.problem_min_incidents
        since = utcnow() - timedelta(days=days)
        with self.db.session() as s:
            rows = [
                t
                for t in s.scalars(
                    select(DeskTicket)
                    .options(undefer(DeskTicket.embedding))
                    .where(DeskTicket.created_at >= since)
                    .order_by(DeskTicket.created_at, DeskTicket.id)
                )
                if t.type in (None, "incident") and t.embedding is not None
            ]
        if len(rows) < need:
            return []
        vecs = _unit(np.stack([np.frombuffer(t.embedding, np.float32) for t in rows]))
        times = [aware(t.created_at) for t in rows]
        used: set[int] = set()
        out = []
        for i, t in enumerate(rows):
            if i in used:
                continue
            group = [i]
            for j in range(i + 1, len(rows)):
                if times[j] - times[i] > window:  # type: ignore[operator]
                    break
                if j in used:
                    continue
                same_service = bool(t.service) and rows[j].service == t.service
                if same_service or float(vecs[i] @ vecs[j]) >= cfg.problem_similarity:
                    group.append(j)
            if len(group) >= need:
                used.update(group)
                members = [rows[g] for g in group]
                services = Counter(m.service for m in members if m.service)
                out.append(
                    {
                        "size": len(members),
                        "service": services.most_common(1)[0][0] if services else None,
                        "label": _label(members),
                        "first": iso(times[group[0]]),
                        "last": iso(times[group[-1]]),
                        "incidents": [
                            {
                                "id": m.id,
                                "title": m.title,
                                "caller": m.caller,
                                "state": m.state,
                                "created_at": iso(m.created_at),
                            }
                            for m in members
                        ],
                    }
                )
        return sorted(out, key=lambda p: -p["size"])

    # -- the dashboard -------------------------------------------------------------------
    def dashboard(self, days: int = 30) -> dict[str, Any]:
        since = utcnow() - timedelta(days=days)
        with self.db.session() as s:
            # One window for every figure: the tickets opened in it, and what happened to
            # them (whenever it happened); feedback counts by when it was given.
            tickets = list(s.scalars(select(DeskTicket).where(DeskTicket.created_at >= since)))
            events = list(
                s.scalars(
                    select(Event).where(
                        Event.ticket_id.in_([t.id for t in tickets] or [-1]),
                        Event.kind.in_(["reuse", "create"]),
                    )
                )
            )
            events += list(
                s.scalars(select(Event).where(Event.kind == "feedback", Event.created_at >= since))
            )
            requests = list(
                s.scalars(select(TriageRequest).where(TriageRequest.created_at >= since))
            )
            corrections = list(
                s.scalars(
                    select(Correction).where(
                        Correction.request_id.in_([r.id for r in requests] or [-1])
                    )
                )
            )
        return {
            "since": iso(since),
            "tickets": len(tickets),
            "open": sum(t.state in ("new", "in_progress", "escalated") for t in tickets),
            **kcs_figures(tickets, events),
            "triage": triage_figures(requests, corrections),
            "priorities": by_day(tickets, lambda t: t.priority or "none"),
            "sla_breaches": by_day(
                [t for t in tickets if sla_status(t)["breached"]], lambda t: t.priority or "none"
            ),
            "breached_now": sum(
                sla_status(t)["breached"]
                for t in tickets
                if t.state in ("new", "in_progress", "escalated")
            ),
            "top_gaps": self.gaps(days)["clusters"][:5],
        }


def kcs_figures(tickets: Sequence[DeskTicket], events: Sequence[Event]) -> dict[str, Any]:
    """Deflection: share of first-line decisions that were resolved with an article the desk
    suggested.  KCS reuse/create: resolutions that reused an article vs. captured a new one.
    ``tickets``: those opened in the window; ``events``: their reuse/create events and the
    window's feedback."""
    decided = [t for t in tickets if t.outcome in ("reuse", "create", "escalated")]
    decided_ids = {t.id for t in decided}
    first_line = [e for e in events if (e.data or {}).get("line", "first") == "first"]
    reused = [e for e in first_line if e.kind == "reuse" and e.ticket_id in decided_ids]
    deflected = {e.ticket_id for e in reused if (e.data or {}).get("suggested")}
    reuse = sum(e.kind == "reuse" for e in events)
    create = sum(e.kind == "create" for e in events)
    escalated = sum(t.outcome == "escalated" for t in decided)
    return {
        "decided": len(decided),
        "deflected": len(deflected),
        "escalated": escalated,
        "deflection_rate": round(len(deflected) / len(decided), 4) if decided else None,
        "reuse": reuse,
        "create": create,
        "reuse_rate": round(reuse / (reuse + create), 4) if reuse + create else None,
        "helpful": sum(
            e.kind == "feedback" and (e.data or {}).get("helpful") is True for e in events
        ),
        "not_helpful": sum(
            e.kind == "feedback" and (e.data or {}).get("helpful") is False for e in events
        ),
    }


def triage_figures(
    requests: Sequence[TriageRequest], corrections: Sequence[Correction]
) -> dict[str, Any]:
    """Per field: coverage (share answered, not abstained) and accuracy (share of answers no
    agent corrected to another value)."""
    corrected: dict[tuple[int, str], str] = {}
    for c in sorted(corrections, key=lambda c: c.id):
        corrected[(c.request_id, c.field)] = c.new_value
    out: dict[str, Any] = {}
    total_answered = total_right = 0
    for f in TRIAGE_FIELDS:
        answered = [r for r in requests if (r.prediction or {}).get(f) is not None]
        wrong = [
            r
            for r in answered
            if (r.id, f) in corrected and corrected[(r.id, f)] != r.prediction.get(f)
        ]
        total_answered += len(answered)
        total_right += len(answered) - len(wrong)
        out[f] = {
            "requests": len(requests),
            "answered": len(answered),
            "corrected": len(wrong),
            "coverage": round(len(answered) / len(requests), 4) if requests else None,
            "accuracy": round(1 - len(wrong) / len(answered), 4) if answered else None,
        }
    n = len(requests) * len(TRIAGE_FIELDS)
    return {
        "requests": len(requests),
        "corrections": len(corrections),
        "coverage": round(total_answered / n, 4) if n else None,
        "accuracy": round(total_right / total_answered, 4) if total_answered else None,
        "fields": out,
    }


def by_day(tickets: Sequence[DeskTicket], key: Any) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str]] = Counter()
    for t in tickets:
        counts[(aware(t.created_at).date().isoformat(), key(t))] += 1  # type: ignore[union-attr]
    return [{"day": d, "key": k, "count": n} for (d, k), n in sorted(counts.items())]


def _brief(a: Article) -> dict[str, Any]:
    return {
        "id": a.id,
        "external_id": a.external_id,
        "title": a.title,
        "status": a.status,
        "category": a.category,
    }
