"""Intake triage: what a seasoned first-line agent decides the moment a request arrives.

For each target (type, impact, urgency, category, assignment group, tier) a calibrated model
predicts with a confidence, abstains below its threshold ("needs a human", with the top-3), and
shows its evidence; explicit signals (rules) override where they are certain and say so.
Priority, quadrant and SLA follow from impact × urgency through the configured matrix.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import (
    BackendUnavailableError,
    InvalidInputError,
    ModelNotTrainedError,
    NotFoundError,
)
from core.settings import Settings
from indexer.normalize import normalize
from indexer.service import Firstline
from indexer.types import Filters
from kb.models import Correction, Ticket, TriageRequest
from models.artifacts import ArtifactStore
from models.encoder import encode_cached
from triage.matrix import PriorityMatrix
from triage.rules import apply_rules
from triage.training import (
    TARGETS,
    Example,
    TriageBundle,
    evaluate_bundle,
    fingerprint,
    gate,
    train_bundle,
)

ARTIFACT = "triage"

# progress(stage, done, total): "encoding" texts, then one step per target fitted
TrainProgress = Callable[[str, int, int], None]


def request_text(title: str | None, description: str | None) -> str:
    return normalize(f"{title or ''}. {description or ''}").strip(" .")


class Triager:
    def __init__(self, settings: Settings, service: Firstline | None = None) -> None:
        self.settings = settings
        self.service = service or Firstline(settings)
        self.store = ArtifactStore(settings.models_dir)
        self._bundle: tuple[str, TriageBundle] | None = None
        self._matrix: PriorityMatrix | None = None

    # -- configuration -------------------------------------------------------------------
    @property
    def matrix(self) -> PriorityMatrix:
        if self._matrix is None:
            path = self.settings.triage.matrix_file
            if path is None:
                self._matrix = PriorityMatrix()
            else:
                try:
                    self._matrix = PriorityMatrix.from_dict(json.loads(path.read_text()))
                except (OSError, json.JSONDecodeError) as e:
                    raise InvalidInputError(f"priority matrix file {path}: {e}") from e
        return self._matrix

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.service.encoder.encode(list(texts))

    def _cache_path(self):  # noqa: ANN202
        enc = self.service.encoder
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", enc.name)
        return self.settings.models_dir / "triage-embeddings" / f"{name}-{enc.dim}.npz"

    def embed_history(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Vectors of the training texts.  Those an earlier training encoded come from a cache
        beside the models (keyed by a hash of the text, one file per encoder), so a retrain
        encodes only new or changed texts; ``progress(done, total)`` follows the encoding."""
        return encode_cached(self.service.encoder, texts, self._cache_path(), progress)

    def _history_embedder(
        self, examples: Sequence[Example], progress: Callable[[int, int], None] | None = None
    ) -> Callable[[Sequence[str]], np.ndarray]:
        """Every example's vector, encoded (or taken from the cache) once, behind the
        ``embed(texts)`` function that training and evaluation take."""
        texts = [e.text for e in examples]
        by_text = dict(zip(texts, self.embed_history(texts, progress), strict=True))
        return lambda batch: np.vstack([by_text[x] for x in batch])

    # -- training ------------------------------------------------------------------------
    def examples(self) -> list[Example]:
        """Labelled history from the SQL record, with agents' corrections applied on top."""
        out: list[Example] = []
        with self.service.db.session() as s:
            for t in s.scalars(select(Ticket)):
                labels = {
                    "type": t.type,
                    "impact": t.impact,
                    "urgency": t.urgency,
                    "category": t.category,
                    "assignment_group": t.assignment_group,
                    "tier": (t.extra or {}).get("tier"),
                }
                out.append(
                    Example(
                        request_text(t.title, t.description),
                        {k: v for k, v in labels.items() if v},
                        f"ticket:{t.id}",
                    )
                )
            corrected: dict[int, dict[str, str]] = {}
            for c in s.scalars(select(Correction).order_by(Correction.id)):
                corrected.setdefault(c.request_id, {})[c.field] = c.new_value
            if corrected:
                reqs = s.scalars(select(TriageRequest).where(TriageRequest.id.in_(corrected)))
                for r in reqs:
                    out.append(
                        Example(
                            request_text(r.title, r.description), corrected[r.id], f"request:{r.id}"
                        )
                    )
        return out

    def train(self, force: bool = False, progress: TrainProgress | None = None) -> dict[str, Any]:
        """Train on history + corrections; activate only if not worse than the active model."""
        examples = self.examples()
        if not examples:
            raise InvalidInputError("no tickets to learn from: ingest resolved tickets first")
        t = self.settings.triage
        embed = self._history_embedder(
            examples, (lambda done, total: progress("encoding", done, total)) if progress else None
        )

        def fitting(target: str) -> None:
            if progress:
                progress(f"fitting {target}", TARGETS.index(target), len(TARGETS))

        bundle, metrics = train_bundle(examples, embed, t.target_precision, t.knn_weight, fitting)
        if progress:
            progress("evaluating", len(TARGETS), len(TARGETS))
        if not bundle.models:
            raise InvalidInputError(
                "no target has enough labels to train (need 10+ labelled tickets and 2+ "
                f"labels): {bundle.fallback}"
            )
        active = self.store.active_version(ARTIFACT)
        passed, detail = True, "first model"
        if active is not None:
            old, _ = self.store.load(ARTIFACT, active)
            passed, detail = gate(metrics, evaluate_bundle(old, examples, embed))
        meta = self.store.save(
            ARTIFACT,
            bundle,
            metrics=metrics,
            fingerprint=fingerprint(examples),
            labels={k: [str(c) for c in m.classes_] for k, m in bundle.models.items()},
            params={
                "target_precision": t.target_precision,
                "knn_weight": t.knn_weight,
                "thresholds": bundle.thresholds,
                "abstention": bundle.abstention,
                "fallback": bundle.fallback,
                "examples": len(examples),
                "embedding_model": self.service.encoder.name,
            },
        )
        activated = passed or force
        if activated:
            self.store.activate(ARTIFACT, meta.version)
            self._bundle = None
        return {
            "version": meta.version,
            "activated": activated,
            "gate": detail,
            "forced": force and not passed,
            "metrics": metrics,
            "fallback": bundle.fallback,
        }

    def evaluate(self) -> dict[str, Any]:
        bundle, version = self.bundle()
        examples = self.examples()
        metrics = evaluate_bundle(bundle, examples, self._history_embedder(examples))
        return {"version": version, "metrics": metrics}

    def models(self) -> dict[str, Any]:
        active = self.store.active_version(ARTIFACT)
        return {
            "active": active,
            "versions": [
                {
                    "version": m.version,
                    "created": m.created,
                    "metrics": {
                        k: {"accuracy": v.get("accuracy"), "macro_f1": v.get("macro_f1")}
                        for k, v in m.metrics.items()
                    },
                    "fingerprint": m.fingerprint,
                    # per target: the threshold, how many rows it rests on, by which method,
                    # and the precision and coverage expected at it (empty for older models)
                    "abstention": m.params.get("abstention", {}),
                    "active": m.version == active,
                }
                for m in self.store.versions(ARTIFACT)
            ],
        }

    def rollback(self) -> str:
        version = self.store.rollback(ARTIFACT)
        self._bundle = None
        return version

    def bundle(self) -> tuple[TriageBundle, str]:
        active = self.store.active_version(ARTIFACT)
        if active is None:
            raise ModelNotTrainedError(
                "no triage model has been trained yet: run `firstline triage train`"
            )
        if self._bundle is None or self._bundle[0] != active:
            obj, _meta = self.store.load(ARTIFACT, active)
            self._bundle = (active, obj)
        return self._bundle[1], self._bundle[0]

    # -- prediction ----------------------------------------------------------------------
    def predict(
        self,
        requests: Sequence[dict[str, Any]],
        suggestions: int = 3,
        record: bool = True,
        embeddings: np.ndarray | None = None,
        within: Session | None = None,
    ) -> list[dict[str, Any]]:
        """``embeddings``: the requests' vectors when the caller already has them; ``within``:
        the caller's unit of work, in which the prediction is recorded."""
        bundle, version = self.bundle()
        texts = []
        for r in requests:
            text = request_text(r.get("title"), r.get("description"))
            if not text:
                raise InvalidInputError("a request needs a title or a description")
            texts.append(text)
        emb = self.embed(texts) if embeddings is None else embeddings
        out = []
        for i, (req, text) in enumerate(zip(requests, texts, strict=True)):
            result = self._predict_one(bundle, req, text, emb[i : i + 1], suggestions)
            result["model_version"] = version
            if record:
                result["request_id"] = self._record(req, result, version, within)
            out.append(result)
        return out

    def _predict_one(
        self, bundle: TriageBundle, req: dict[str, Any], text: str, emb: np.ndarray, k: int
    ) -> dict[str, Any]:
        fields: dict[str, dict[str, Any]] = {}
        # The targets' models share one featuriser and one pool of training embeddings
        # (models saved by earlier versions have their own): compute each once.
        features: dict[int, Any] = {}
        similarities: dict[int, np.ndarray] = {}
        for target in TARGETS:
            model = bundle.models.get(target)
            if model is None:
                fields[target] = {
                    "value": None,
                    "confidence": None,
                    "abstained": True,
                    "decided_by": "none",
                    "top": [],
                    "reason": bundle.fallback.get(target, "no model"),
                    "evidence": {},
                }
                continue
            X = features.get(id(model.vectorizer_))
            if X is None:
                X = features[id(model.vectorizer_)] = model.transform([text])
            nb = None
            if getattr(model, "train_embeddings_", None) is not None:
                sims = similarities.get(id(model.train_embeddings_))
                if sims is None:
                    sims = similarities[id(model.train_embeddings_)] = model.similarities(emb)
                nb = model.neighbours(sims=sims)
            proba = model.predict_proba([text], emb, X=X, neighbours=nb)[0]
            order = np.argsort(-proba)
            top = [[str(model.classes_[j]), round(float(proba[j]), 4)] for j in order[:3]]
            value, conf = top[0]
            abstained = conf < bundle.thresholds.get(target, 1.0)
            fields[target] = {
                "value": None if abstained else value,
                "confidence": conf,
                "abstained": abstained,
                "decided_by": "model",
                "top": top,
                "evidence": {"terms": model.explain(text, value, X=X)},
            }
            if nb is not None:
                idx, sims = nb
                fields[target]["evidence"]["neighbour_votes"] = [
                    {
                        "label": str(model.classes_[model.train_labels_[j]]),
                        "similarity": round(float(s), 3),
                    }
                    for j, s in zip(idx[0][:5], sims[0][:5], strict=True)
                ]
        for hit in apply_rules(req):
            f = fields[hit.target]
            f.update(
                value=hit.value,
                abstained=False,
                decided_by=f"rule:{hit.rule}",
                rule=hit.reason,
                confidence=f["confidence"],
            )
        suggested, availability = self.suggestions(text, max(k, 3), emb[0])
        result: dict[str, Any] = {"fields": fields, "suggestions": availability}
        result.update(self._priority(fields["impact"]["value"], fields["urgency"]["value"]))
        self._tier(fields, result.get("priority"), suggested)
        result.update({name: hits[:k] for name, hits in suggested.items()})
        return result

    def suggestions(
        self, text: str, k: int, vector: np.ndarray
    ) -> tuple[dict[str, list[dict[str, Any]]], str]:
        """Published articles and similar resolved tickets, and "ok"; with the search engine
        unreachable, none and "unavailable" (degraded, not down: the request is still taken)."""
        published = Filters(kinds=["article"], statuses=["published"])
        try:
            articles = self.service.search(text, k, published, vector=vector)
            tickets = self.service.search(text, k, Filters(kinds=["ticket"]), vector=vector)
        except BackendUnavailableError as e:
            logging.getLogger("firstline.triage").warning("suggestions unavailable: %s", e)
            return {"suggested_articles": [], "similar_tickets": []}, "unavailable"
        return {"suggested_articles": articles, "similar_tickets": tickets}, "ok"

    def _tier(
        self,
        fields: dict[str, dict[str, Any]],
        priority: str | None,
        suggested: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Changes and major incidents go to second line; otherwise a strong match with a
        known answer makes the request first-line resolvable."""
        tier = fields["tier"]
        if fields["type"]["value"] == "change":
            tier.update(
                value="second_line",
                abstained=False,
                decided_by="rule:change",
                rule="changes go through change management (second line)",
            )
            return
        if (
            priority
            == self.matrix.cells[self.matrix.impact_levels[-1]][self.matrix.urgency_levels[-1]]
        ):
            tier.update(
                value="second_line",
                abstained=False,
                decided_by="rule:major_incident",
                rule=f"{priority}: highest impact and urgency, a major incident",
            )
            return
        threshold = self.settings.triage.kb_match_threshold
        best = None
        for hit in suggested["suggested_articles"] + suggested["similar_tickets"]:
            dense = hit["why"].get("dense_score") or 0.0
            answer = hit["kind"] == "article" or bool(hit.get("resolution"))
            if answer and dense >= threshold and (best is None or dense > best[0]):
                best = (dense, hit)
        if best is not None and not tier.get("decided_by", "").startswith("rule"):
            tier.update(
                value="first_line",
                abstained=False,
                decided_by="rule:kb_match",
                rule=f"{best[1]['kind']} {best[1]['external_id']} matches with "
                f"similarity {best[0]:.2f} (≥ {threshold}) and has an answer",
            )
        elif tier["value"] is None and tier["decided_by"] == "none":
            tier.update(
                value="second_line",
                abstained=False,
                decided_by="rule:no_kb_match",
                rule=f"no article or resolved ticket with similarity ≥ {threshold}",
            )

    def _priority(self, impact: str | None, urgency: str | None) -> dict[str, Any]:
        m = self.matrix
        if impact not in m.impact_levels or urgency not in m.urgency_levels:
            return {
                "priority": None,
                "quadrant": None,
                "sla": None,
                "priority_reason": "needs impact and urgency on the matrix's levels",
            }
        assert impact is not None and urgency is not None
        p = m.priority(impact, urgency)
        sla = m.sla_for(p)
        now = datetime.now(UTC)
        return {
            "priority": p,
            "priority_name": m.names.get(p, p),
            "quadrant": m.quadrant(impact, urgency),
            "sla": None
            if sla is None
            else {
                "respond_minutes": sla.respond_minutes,
                "resolve_minutes": sla.resolve_minutes,
                "respond_by": (now + timedelta(minutes=sla.respond_minutes)).isoformat(),
                "resolve_by": (now + timedelta(minutes=sla.resolve_minutes)).isoformat(),
            },
        }

    # -- audit and corrections -----------------------------------------------------------
    def _record(
        self,
        req: dict[str, Any],
        result: dict[str, Any],
        version: str,
        within: Session | None = None,
    ) -> int:
        summary = {t: f["value"] for t, f in result["fields"].items()}
        summary["priority"] = result.get("priority")
        extra = {k: v for k, v in req.items() if k not in ("title", "description")}
        with self.service.db.session(within) as s:
            row = TriageRequest(
                title=req.get("title") or "",
                description=req.get("description") or "",
                fields=extra,
                prediction=summary,
                model_version=version,
            )
            s.add(row)
            s.flush()
            return row.id

    def correct(
        self,
        request_id: int,
        field: str,
        value: str,
        author: str,
        within: Session | None = None,
    ) -> dict[str, Any]:
        if field not in TARGETS:
            raise InvalidInputError(f"unknown field {field!r}; one of: {', '.join(TARGETS)}")
        if not value or not value.strip():
            raise InvalidInputError("the corrected value is empty")
        with self.service.db.session(within) as s:
            req = s.get(TriageRequest, request_id)
            if req is None:
                raise NotFoundError(f"no triage request {request_id}")
            old = (req.prediction or {}).get(field)
            c = Correction(
                request_id=request_id,
                field=field,
                old_value=old,
                new_value=value.strip(),
                author=author,
            )
            s.add(c)
            s.flush()
            return {
                "id": c.id,
                "request_id": request_id,
                "field": field,
                "old": old,
                "new": c.new_value,
                "author": author,
                "created_at": c.created_at.isoformat(),
            }
