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
from sqlalchemy.orm import Session, undefer

from core.errors import (
    BackendUnavailableError,
    InvalidInputError,
    ModelNotTrainedError,
    NotFoundError,
)
from core.settings import Settings
from indexer.documents import request_text
from indexer.service import Firstline
from indexer.types import Filters
from kb.artifacts import ModelStore
from kb.models import Correction, Ticket, TriageRequest
from models.artifacts import ArtifactStore
from models.encoder import encode_cached
from triage.matrix import PriorityMatrix
from triage.rules import RuleHit, level_rules, type_rule
from triage.signals import read_request
from triage.training import (
    TARGETS,
    Example,
    TriageBundle,
    evaluate_bundle,
    fingerprint,
    gate,
    train_bundle,
)
from triage.zeroshot import ZeroShotTypes

ARTIFACT = "triage"
COLD = (
    "cold start: no trained model yet, so type comes from zero-shot similarity to ITIL's "
    "definitions and impact, urgency and priority from the request's signals; run "
    "`firstline triage train` once the desk has labelled tickets"
)
# An unsure model that leans this much against an agent's default makes the field abstain.
LEAN = 0.5

# progress(stage, done, total): "encoding" texts, then one step per target fitted
TrainProgress = Callable[[str, int, int], None]


class Triager:
    def __init__(self, settings: Settings, service: Firstline | None = None) -> None:
        self.settings = settings
        self.service = service or Firstline(settings)
        # The record holds the models (every process serves the active one); the files under
        # the data dir are this process's copy.
        self.store = ModelStore(self.service.db, ArtifactStore(settings.models_dir))
        self._bundle: tuple[str, TriageBundle] | None = None
        self._matrix: PriorityMatrix | None = None
        self._zero_shot: ZeroShotTypes | None = None

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
        """Every example's vector behind the ``embed(texts)`` function that training and
        evaluation take: the one ingestion stored in the record, else encoded (or taken from
        the cache) once."""
        by_text = {e.text: e.vector for e in examples if e.vector is not None}
        missing = list(dict.fromkeys(e.text for e in examples if e.text not in by_text))
        if missing:
            by_text.update(zip(missing, self.embed_history(missing, progress), strict=True))
        return lambda batch: np.vstack([by_text[x] for x in batch])

    # -- training ------------------------------------------------------------------------
    def examples(self) -> list[Example]:
        """Labelled history from the SQL record, with agents' corrections applied on top."""
        out: list[Example] = []
        model = self.service.encoder.name
        with self.service.db.session() as s:
            tickets = select(Ticket).options(undefer(Ticket.request_embedding))
            for t in s.scalars(tickets.execution_options(yield_per=2000)):
                labels = {
                    "type": t.type,
                    "impact": t.impact,
                    "urgency": t.urgency,
                    "category": t.category,
                    "assignment_group": t.assignment_group,
                    "tier": (t.extra or {}).get("tier"),
                }
                stored = t.request_embedding if t.request_embedding_model == model else None
                out.append(
                    Example(
                        request_text(t.title, t.description),
                        {k: v for k, v in labels.items() if v},
                        f"ticket:{t.id}",
                        # A vector of another model is recomputed, never reused.
                        np.frombuffer(stored, np.float32) if stored else None,
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

        def fitting(target: str, done: int, total: int) -> None:
            if progress:
                progress(f"fitting {target}", done, total)

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
        """Trained versions with their metrics and label sets, and the matrix's impact and
        urgency levels (what a correction may say)."""
        active = self.store.active_version(ARTIFACT)
        matrix = self.matrix
        return {
            "active": active,
            "levels": {
                "impact": list(matrix.impact_levels),
                "urgency": list(matrix.urgency_levels),
            },
            "versions": [
                {
                    "version": m.version,
                    "created": m.created,
                    "metrics": {
                        k: {"accuracy": v.get("accuracy"), "macro_f1": v.get("macro_f1")}
                        for k, v in m.metrics.items()
                    },
                    "fingerprint": m.fingerprint,
                    "labels": m.labels,
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
        """The active model and its version.  Which version is active is asked of the record
        every time (one indexed lookup), so a model another process trained or rolled back to
        is served from the next request on; it is loaded only when it changed."""
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
        try:
            bundle, version = self.bundle()
            cold = None
        except ModelNotTrainedError:
            # a fresh install: rules and zero-shot signals, marked as such
            bundle, version, cold = TriageBundle(fallback=dict.fromkeys(TARGETS, COLD)), "", COLD
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
            result["model_version"] = version or None
            result["cold_start"] = cold
            if record:
                result["request_id"] = self._record(req, result, version or "cold-start", within)
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
        if "type" not in bundle.models:
            self._zero_shot_type(fields["type"], emb[0])
        elif fields["type"]["abstained"]:
            self._second_opinion(fields["type"], emb[0])
        self._apply_signals(fields, req)
        suggested, availability = self.suggestions(text, max(k, 3), emb[0])
        result: dict[str, Any] = {"fields": fields, "suggestions": availability}
        result.update(self._priority(fields["impact"]["value"], fields["urgency"]["value"]))
        if result["priority"] is None:
            result.update(self._provisional(fields))
        self._tier(fields, result.get("priority"), suggested)
        result.update({name: hits[:k] for name, hits in suggested.items()})
        return result

    @property
    def zero_shot(self) -> ZeroShotTypes:
        """The zero-shot type reader (its prototype vectors are encoded on first use)."""
        if self._zero_shot is None:
            self._zero_shot = ZeroShotTypes(self.embed)
        return self._zero_shot

    def _zero_shot_type(self, f: dict[str, Any], vector: np.ndarray) -> None:
        z = self.zero_shot.predict(vector)
        f.update(
            value=None if z["abstained"] else z["value"],
            confidence=z["confidence"],
            abstained=z["abstained"],
            decided_by="zero-shot",
            top=z["top"],
            rule=z["reason"],
        )

    def _second_opinion(self, f: dict[str, Any], vector: np.ndarray) -> None:
        """An unsure type model whose first choice the zero-shot reading shares (two
        independent readings agreeing) decides."""
        z = self.zero_shot.predict(vector)
        top = f.get("top") or []
        if top and not z["abstained"] and z["value"] == top[0][0]:
            f.update(
                value=z["value"],
                abstained=False,
                decided_by="model+zero-shot",
                rule=f"the model's first choice ({top[0][1]:.0%}) and {z['reason']}",
            )

    def _apply_signals(self, fields: dict[str, dict[str, Any]], req: dict[str, Any]) -> None:
        """What the request says overrides the model; where it says nothing, an agent's
        default decides unless the model, still unsure, leans elsewhere (then the field
        abstains and the priority is given as a provisional range)."""
        reading = read_request(req)
        t = type_rule(req, reading)
        if t is not None and (t.explicit or fields["type"]["abstained"]):
            self._decide(fields["type"], t)
        ftype = fields["type"]
        kind = ftype["value"] or (ftype["top"][0][0] if ftype.get("top") else None)
        for hit in level_rules(reading, kind):
            f = fields[hit.target]
            f.setdefault("evidence", {})["signals"] = hit.signals
            if hit.explicit or f["decided_by"] in ("none", "zero-shot"):
                self._decide(f, hit)
                continue
            if not f["abstained"]:
                f["default"] = {"value": hit.value, "reason": hit.reason}
                continue
            top = f.get("top") or []
            leaning = top[0] if top else None
            if leaning is None or leaning[0] == hit.value or leaning[1] < LEAN:
                self._decide(f, hit)
            else:
                f["default"] = {"value": hit.value, "reason": hit.reason}

    @staticmethod
    def _decide(f: dict[str, Any], hit: RuleHit) -> None:
        f.update(
            value=hit.value,
            abstained=False,
            decided_by=f"rule:{hit.rule}",
            rule=hit.reason,
            confidence=f.get("confidence"),
        )

    def _candidates(self, f: dict[str, Any], levels: Sequence[str]) -> list[str]:
        """The levels an abstaining field still considers: its default and the model's top
        candidates up to 80 % of the probability."""
        if not f["abstained"] and f["value"] in levels:
            return [f["value"]]
        out: list[str] = []
        default = (f.get("default") or {}).get("value")
        if default in levels:
            out.append(default)
        mass = 0.0
        for value, p in f.get("top") or []:
            if value in levels and value not in out:
                out.append(value)
            mass += p
            if mass >= 0.8 or len(out) >= 2:
                break
        return out

    def _provisional(self, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """While impact or urgency waits for a human: the priorities the candidates span, with
        the SLA clock started on the highest of them."""
        m = self.matrix
        impacts = self._candidates(fields["impact"], m.impact_levels)
        urgencies = self._candidates(fields["urgency"], m.urgency_levels)
        if not impacts or not urgencies:
            return {"provisional": None}
        span = m.ordered({m.priority(i, u) for i in impacts for u in urgencies})
        confirm = [t for t in ("impact", "urgency") if fields[t]["abstained"]]
        label = span[0] if len(span) == 1 else f"{span[0]}–{span[-1]}"
        label += ", confirm " + " and ".join(confirm)
        out = self._priority_for(span[0])
        sla = out["sla"]
        if sla is not None:
            sla["provisional"] = True
        return {
            "priority": None,
            "provisional": {
                "priorities": span,
                "label": label,
                "confirm": confirm,
                "sla_priority": span[0],
            },
            "sla": sla,
            "priority_reason": f"provisional {label}: the SLA clock runs on {span[0]}, the "
            "highest candidate, until a human confirms",
        }

    def suggestions(
        self, text: str, k: int, vector: np.ndarray
    ) -> tuple[dict[str, list[dict[str, Any]]], str]:
        """Published articles and resolved tickets (with a resolution) that clear the relevance
        floor, never padded with weak ones; and "ok", or "no_match" when no article clears it (no
        good KB match: capture one when it is solved).  With the search engine unreachable, none
        and "unavailable" (degraded, not down: the request is still taken)."""
        published = Filters(kinds=["article"], statuses=["published"])
        resolved = Filters(kinds=["ticket"], answered=True)
        try:
            articles = self.service.search(text, k, published, vector=vector, weak=False)
            tickets = self.service.search(text, k, resolved, vector=vector, weak=False)
        except BackendUnavailableError as e:
            logging.getLogger("firstline.triage").warning("suggestions unavailable: %s", e)
            return {"suggested_articles": [], "similar_tickets": []}, "unavailable"
        found = {"suggested_articles": articles, "similar_tickets": tickets}
        return found, "ok" if articles else "no_match"

    def _tier(
        self,
        fields: dict[str, dict[str, Any]],
        priority: str | None,
        suggested: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Changes, suggestions, major incidents and faults that hit more than one person go to
        second line; otherwise a strong match (one that clears the relevance floor) with a known
        answer makes the request first-line resolvable."""
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
        kind, impact = fields["type"]["value"], fields["impact"]["value"]
        m = self.matrix
        wide = impact in m.impact_levels and m.impact_levels.index(impact) >= 1
        if kind == "improvement" or (kind == "incident" and wide):
            tier.update(
                value="second_line",
                abstained=False,
                decided_by="rule:improvement" if kind == "improvement" else "rule:wide_incident",
                rule="a suggestion goes to the service's owners (second line)"
                if kind == "improvement"
                else f"a fault with impact {impact}: more than one person, for the specialist "
                "group (second line)",
            )
            return
        floor = self.settings.search.relevance_floor
        best = None
        for hit in suggested["suggested_articles"] + suggested["similar_tickets"]:
            dense = hit["why"].get("dense_score") or 0.0
            answer = hit["kind"] == "article" or bool(hit.get("resolution"))
            if answer and hit.get("match") == "strong" and (best is None or dense > best[0]):
                best = (dense, hit)
        if best is not None and not tier.get("decided_by", "").startswith("rule"):
            tier.update(
                value="first_line",
                abstained=False,
                decided_by="rule:kb_match",
                rule=f"{best[1]['kind']} {best[1]['external_id']} matches with "
                f"similarity {best[0]:.2f} (≥ {floor}, the relevance floor) and has an answer",
            )
        elif tier["value"] is None and tier["decided_by"] == "none":
            tier.update(
                value="second_line",
                abstained=False,
                decided_by="rule:no_kb_match",
                rule=f"no article or resolved ticket clears the relevance floor ({floor})",
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
        out = self._priority_for(m.priority(impact, urgency))
        out["quadrant"] = m.quadrant(impact, urgency)
        out["provisional"] = None
        return out

    def _priority_for(self, p: str) -> dict[str, Any]:
        m = self.matrix
        sla = m.sla_for(p)
        now = datetime.now(UTC)
        return {
            "priority": p,
            "priority_name": m.names.get(p, p),
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
