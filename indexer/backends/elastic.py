"""Elasticsearch backend: the same protocol on a distributed engine.

Client: the official ``elasticsearch`` Python client, major version 8 — an 8.x client talks to
8.x clusters and (in compatibility mode) to 9.x clusters, while a 9.x client talks only to 9.x.

Layout: versioned physical indices ``<prefix>-docs-v<timestamp>`` behind the alias
``<prefix>-docs``; a rebuild fills a new physical index and swaps the alias atomically.

Ranking is the embedded backend's, from Elasticsearch's own candidates: BM25 (``multi_match``
over title and body) and dense (two ``knn`` clauses: the title vector and the nested chunk
vectors, the filters applied inside the kNN), both in one ``_msearch`` that also returns each
candidate's stored vectors; the exact dense score of every candidate and the pseudo-feedback
similarities are computed here from those vectors (the embedded formula, Elasticsearch's cosine),
fused by :mod:`indexer.fusion`.  A second request fetches the top k's fields and highlights: two
requests per search.  Elasticsearch's ``rrf`` retriever is offered for clusters licensed for it
(it rides in the same ``_msearch``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from core.errors import BackendUnavailableError, InvalidInputError
from core.settings import ElasticsearchSettings, SearchSettings
from core.time import iso
from indexer.backends.vectors import dense_scores
from indexer.fusion import Fused, hybrid, single, to_hit
from indexer.normalize import content_terms, query_terms
from indexer.types import Filters, Hit, IndexDoc, IndexFailure, SearchRequest

log = logging.getLogger("firstline.elasticsearch")

MAPPING_VERSION = 1
HL_PRE, HL_POST = "\ue000", "\ue001"  # private-use markers, never in real text
T = TypeVar("T")
_DISPLAY = ("kind", "title", "category", "status", "created_at")  # what a hit shows
_VECTORS = ("title_vector", "chunks")  # what its dense score is computed from


def mapping(dim: int) -> dict[str, Any]:
    """The index mapping, versioned in ``_meta``."""
    vector = {
        "type": "dense_vector",
        "dims": dim,
        "index": True,
        "similarity": "cosine",
        "index_options": {"type": "hnsw", "m": 16, "ef_construction": 100},
    }
    return {
        "dynamic": "strict",
        "_meta": {"firstline_mapping_version": MAPPING_VERSION, "dim": dim},
        "properties": {
            "kind": {"type": "keyword"},
            "content_hash": {"type": "keyword", "index": False},
            "category": {"type": "keyword"},
            "status": {"type": "keyword"},
            "created_at": {"type": "date"},
            "answered": {"type": "boolean"},
            "title": {
                "type": "text",
                "analyzer": "english",
                "fields": {"raw": {"type": "keyword", "ignore_above": 1024}},
            },
            "body": {"type": "text", "analyzer": "english"},
            "title_vector": vector,
            "rep_vector": vector,
            "chunks": {"type": "nested", "properties": {"vector": vector}},
        },
    }


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(
        self,
        es: ElasticsearchSettings,
        search: SearchSettings,
        dim: int,
        client: Any | None = None,
    ) -> None:
        self.es = es
        self.settings = search
        self.dim = dim
        self._client = client
        self._ready = False
        self.alias = f"{es.index_prefix}-docs"

    # -- connection ----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from elasticsearch import Elasticsearch
            except ImportError as e:
                raise BackendUnavailableError(
                    "the Elasticsearch backend needs the 'elasticsearch' extra: "
                    "pip install 'firstline[elasticsearch]'"
                ) from e
            auth: dict[str, Any] = {}
            if self.es.api_key is not None:
                auth["api_key"] = self.es.api_key.get_secret_value()
            elif self.es.username:
                password = self.es.password.get_secret_value() if self.es.password else ""
                auth["basic_auth"] = (self.es.username, password)
            self._client = Elasticsearch(
                self.es.urls,
                verify_certs=self.es.verify_certs,
                ca_certs=self.es.ca_certs,
                request_timeout=self.es.request_timeout,
                max_retries=self.es.max_retries,
                retry_on_status=(429, 502, 503, 504),
                retry_on_timeout=True,
                **auth,
            )
        return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request; an unreachable or failing cluster becomes BackendUnavailableError."""
        from elasticsearch import ApiError, TransportError

        try:
            return fn()
        except TransportError as e:  # connection refused, timeout, TLS ...
            raise BackendUnavailableError(
                f"Elasticsearch at {', '.join(self.es.urls)} is unreachable ({what}): "
                f"{type(e).__name__}"
            ) from e
        except ApiError as e:
            if e.status_code in (429, 500, 502, 503, 504):
                raise BackendUnavailableError(
                    f"Elasticsearch answered {e.status_code} ({what}): {_reason(e)}"
                ) from e
            raise InvalidInputError(f"Elasticsearch refused {what}: {_reason(e)}") from e

    def _new_index_name(self) -> str:
        return f"{self.alias}-v{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 10**9:09d}"

    def _create_index(self, name: str, bulk_load: bool = False) -> None:
        settings: dict[str, Any] = {
            "number_of_shards": self.es.shards,
            "number_of_replicas": 0 if bulk_load else self.es.replicas,
        }
        if bulk_load:
            settings["refresh_interval"] = "-1"
        self._call(
            "create index",
            lambda: self.client.indices.create(
                index=name, settings=settings, mappings=mapping(self.dim)
            ),
        )

    def _physical(self) -> list[str]:
        resp = self._call(
            "read alias",
            lambda: self.client.indices.get_alias(name=self.alias, ignore_unavailable=True),
        )
        return sorted(resp.body if hasattr(resp, "body") else resp)

    def _ensure(self) -> None:
        if self._ready:
            return
        exists = self._call(
            "check alias", lambda: self.client.indices.exists_alias(name=self.alias)
        )
        if not exists:
            name = self._new_index_name()
            self._create_index(name)
            self._call(
                "create alias", lambda: self.client.indices.put_alias(index=name, name=self.alias)
            )
        else:
            meta = self._call(
                "read mapping", lambda: self.client.indices.get_mapping(index=self.alias)
            )
            for index, body in dict(meta).items():
                m = body["mappings"].get("_meta", {})
                if m.get("dim") != self.dim:
                    raise InvalidInputError(
                        f"index {index} holds {m.get('dim')}-dim vectors but the encoder makes "
                        f"{self.dim}: run `firstline reindex` after changing the model"
                    )
                # An index made before `verify` (content_hash) or the answered filter existed:
                # adding a field is allowed; its documents lack it until `firstline reindex`.
                held = body["mappings"].get("properties", {})
                for field in ("content_hash", "answered"):
                    if field not in held:
                        self._call(
                            "add field",
                            lambda index=index, field=field: self.client.indices.put_mapping(
                                index=index,
                                properties={field: mapping(self.dim)["properties"][field]},
                            ),
                        )
        self._ready = True

    # -- writing -------------------------------------------------------------------------
    def _source(self, d: IndexDoc) -> dict[str, Any]:
        chunks = np.asarray(d.chunk_vectors, dtype=np.float32).reshape(-1, self.dim)
        title = np.asarray(d.title_vector, dtype=np.float32).reshape(-1)
        if title.shape[0] != self.dim:
            raise ValueError(f"vector of {d.id} has {title.shape[0]} dims, index has {self.dim}")
        if len(chunks) == 0:
            chunks = title.reshape(1, -1)
        return {
            "kind": d.kind,
            "content_hash": d.content_hash,
            "category": d.category,
            "status": d.status,
            "created_at": iso(d.created_at),
            "answered": d.answered,
            "title": d.title,
            "body": d.body,
            "title_vector": title.tolist(),
            "rep_vector": chunks[0].tolist(),
            "chunks": [{"vector": c.tolist()} for c in chunks],
        }

    def _bulk(self, index: str, actions: list[dict[str, Any]], refresh: bool) -> list[IndexFailure]:
        from elasticsearch import helpers

        failures: list[IndexFailure] = []

        def run() -> None:
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                index=index,
                chunk_size=500,
                max_retries=self.es.max_retries,
                initial_backoff=1,
                max_backoff=30,
                raise_on_error=False,
                raise_on_exception=True,
                yield_ok=False,
            ):
                if not ok:
                    op = next(iter(item.values()))
                    if op.get("status") == 404 and "delete" in item:
                        continue  # deleting what is not there is fine
                    error = op.get("error")
                    reason = error.get("reason", str(error)) if isinstance(error, dict) else error
                    failures.append(IndexFailure(str(op.get("_id")), str(reason)))
                    log.warning("document %s refused: %s", op.get("_id"), reason)
            if refresh:
                self.client.indices.refresh(index=index)

        self._call("bulk write", run)
        return failures

    def upsert(self, docs: Sequence[IndexDoc]) -> list[IndexFailure]:
        if not docs:
            return []
        self._ensure()
        actions = [{"_op_type": "index", "_id": d.id, "_source": self._source(d)} for d in docs]
        # One refresh per batch, not per document: new documents become searchable together.
        return self._bulk(self.alias, actions, refresh=True)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._ensure()
            self._bulk(self.alias, [{"_op_type": "delete", "_id": i} for i in ids], refresh=True)

    # -- reading -------------------------------------------------------------------------
    def _filter(self, f: Filters | None) -> dict[str, Any]:
        must: list[dict[str, Any]] = []
        must_not: list[dict[str, Any]] = []
        if f is not None:
            for field, values in (
                ("kind", f.kinds),
                ("category", f.categories),
                ("status", f.statuses),
            ):
                if values:
                    must.append({"terms": {field: list(values)}})
            if f.date_from or f.date_to:
                rng: dict[str, str] = {}
                if f.date_from:
                    rng["gte"] = iso(f.date_from) or ""
                if f.date_to:
                    rng["lte"] = iso(f.date_to) or ""
                must.append({"range": {"created_at": rng}})
            if f.exclude_ids:
                must_not.append({"ids": {"values": list(f.exclude_ids)}})
            if f.answered:  # a document indexed before the field existed passes
                must_not.append({"term": {"answered": False}})
        return {"bool": {"filter": must, "must_not": must_not}}

    def count(self, filters: Filters | None = None) -> int:
        self._ensure()
        resp = self._call(
            "count", lambda: self.client.count(index=self.alias, query=self._filter(filters))
        )
        return int(resp["count"])

    def ids(self) -> set[str]:
        from elasticsearch import helpers

        self._ensure()
        return self._call(
            "scan",
            lambda: {
                h["_id"]
                for h in helpers.scan(
                    self.client, index=self.alias, _source=False, query={"query": {"match_all": {}}}
                )
            },
        )

    def hashes(self) -> dict[str, str | None]:
        """(id -> content hash) of every document behind the alias (a scroll over them all)."""
        from elasticsearch import helpers

        self._ensure()
        return self._call(
            "scan",
            lambda: {
                h["_id"]: (h.get("_source") or {}).get("content_hash")
                for h in helpers.scan(
                    self.client,
                    index=self.alias,
                    _source=["content_hash"],
                    query={"query": {"match_all": {}}},
                )
            },
        )

    def _lexical_query(self, text: str, f: Filters) -> dict[str, Any] | None:
        terms = query_terms(text)
        if not terms:
            return None
        q = self._filter(f)
        q["bool"]["must"] = [
            {
                "multi_match": {
                    "query": terms,
                    "type": "most_fields",
                    "fields": [f"title^{self.settings.title_boost}", "body"],
                }
            }
        ]
        return q

    def _knn(
        self, vector: np.ndarray, k: int, filt: dict[str, Any], candidates: int
    ) -> list[dict[str, Any]]:
        w = self.settings.title_vector_weight
        q = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        base = {"query_vector": q, "k": k, "num_candidates": max(candidates, k), "filter": filt}
        return [
            {"field": "title_vector", "boost": w, **base},
            {"field": "chunks.vector", "boost": 1 - w, **base},
        ]

    def _candidates(
        self,
        request: SearchRequest,
        lexical_q: dict[str, Any] | None,
        filt: dict[str, Any],
        n: int,
        vectors: bool,
        rrf: dict[str, Any] | None = None,
    ) -> tuple[list[list[tuple[str, float]]], dict[str, dict[str, Any]]]:
        """Request 1: every ranker's candidates in one ``_msearch`` (BM25, kNN and, if given,
        the rrf search), each hit with its stored vectors if ``vectors``.  Returns the rankings
        in that order and each hit's ``_source``."""
        source: list[str] | bool = list(_VECTORS) if vectors else False
        bodies: list[dict[str, Any]] = []
        if lexical_q is not None:
            bodies.append({"query": lexical_q, "size": n, "_source": source})
        if request.vector is not None and request.mode in ("hybrid", "dense"):
            knn = self._knn(request.vector, n, filt, max(self.es.num_candidates, n))
            bodies.append({"knn": knn, "size": n, "_source": source})
        if rrf is not None:
            bodies.append(rrf)
        if not bodies:
            return [], {}
        searches = [line for body in bodies for line in ({"index": self.alias}, body)]
        resp = self._call("search", lambda: self.client.msearch(searches=searches))
        stored: dict[str, dict[str, Any]] = {}
        rankings: list[list[tuple[str, float]]] = []
        for r in resp["responses"]:
            if "error" in r:
                raise InvalidInputError(f"Elasticsearch refused the search: {r['error']}")
            hits = r["hits"]["hits"]
            for h in hits:
                stored.setdefault(h["_id"], h.get("_source") or {})
            rankings.append([(h["_id"], h["_score"]) for h in hits])
        return rankings, stored

    def search(self, request: SearchRequest) -> list[Hit]:
        """Two requests: every ranker's candidates (one ``_msearch``; in hybrid mode with their
        vectors, from which the exact dense scores and the feedback step are computed here),
        then the fields, highlights and (outside hybrid mode) vectors of the top k."""
        self._ensure()
        s = self.settings
        n = max(s.candidates, request.k)
        filt = self._filter(request.filters)
        lexical_q = (
            self._lexical_query(request.text, request.filters)
            if request.mode in ("hybrid", "lexical")
            else None
        )
        if request.vector is not None and not np.any(request.vector):
            request.vector = None  # a zero vector has no direction: cosine is undefined
        vec = request.vector
        use_dense = request.mode in ("hybrid", "dense") and vec is not None
        rrf = (
            self._rrf(request, lexical_q, filt, n)
            if self.es.fusion == "rrf" and request.mode == "hybrid" and use_dense and lexical_q
            else None
        )
        firstline_fusion = request.mode == "hybrid" and rrf is None and vec is not None
        rankings, stored = self._candidates(
            request, lexical_q, filt, n, vectors=firstline_fusion, rrf=rrf
        )
        lexical = rankings.pop(0) if lexical_q is not None else []
        # cosine kNN scores are (1 + cos) / 2 and the two clause boosts sum to 1
        dense = [(d, 2.0 * sc - 1.0) for d, sc in rankings.pop(0)] if use_dense else []
        if request.mode == "lexical":
            fused = single(lexical, lexical=True)
        elif request.mode == "dense":
            fused = single(dense, lexical=False)
        elif rrf is not None:
            fused = _rrf_fused(rankings.pop(0), lexical, dense)
        else:
            union = list(dict.fromkeys([d for d, _ in dense] + [d for d, _ in lexical]))
            vectors = _Vectors(stored, self.dim, s.title_vector_weight)
            fused = hybrid(
                lexical,
                dense,
                vectors.scores(vec, union) if vec is not None else {},
                dense_weight=s.dense_weight if vec is not None else 0.0,
                feedback_weight=s.feedback_weight,
                feedback=vectors.similarity_to if vec is not None else None,
            )
        # Outside firstline's fusion, the top k's exact dense scores come with their fields:
        # every hit carries one, whatever ranked it (the relevance floor), and a kNN
        # candidate's score covers only the clauses that found it.
        return self._hits(fused[: request.k], request, None if firstline_fusion else vec)

    def _rrf(
        self, request: SearchRequest, lexical_q: dict[str, Any], filt: dict[str, Any], n: int
    ) -> dict[str, Any]:
        """The search body of Elasticsearch's rrf retriever (licensed clusters)."""
        assert request.vector is not None
        knn = self._knn(request.vector, n, filt, max(self.es.num_candidates, n))
        retrievers = [{"standard": {"query": lexical_q}}] + [
            {"knn": {key: v for key, v in k.items() if key != "boost"}} for k in knn
        ]
        return {
            "size": request.k,
            "_source": False,
            "retriever": {
                "rrf": {"retrievers": retrievers, "rank_window_size": n, "rank_constant": 60}
            },
        }

    def _highlight(self, text: str) -> dict[str, Any]:
        chars = self.settings.snippet_chars
        highlight: dict[str, Any] = {
            "pre_tags": [HL_PRE],
            "post_tags": [HL_POST],
            "fields": {
                "body": {"fragment_size": chars, "number_of_fragments": 1, "no_match_size": chars}
            },
        }
        terms = content_terms(text)  # never mark a stop word ("the", "for")
        if terms:
            highlight["highlight_query"] = {
                "multi_match": {"query": terms, "fields": ["title", "body"]}
            }
        return highlight

    def _hits(self, top: list[Fused], request: SearchRequest, vec: np.ndarray | None) -> list[Hit]:
        """Request 2: the fields and snippet of each of the top k, and their vectors if
        ``vec`` is given (their exact dense scores are then computed against it)."""
        if not top:
            return []
        ids = [f.id for f in top]
        source = [*_DISPLAY, *(_VECTORS if vec is not None else ())]
        resp = self._call(
            "fetch results",
            lambda: self.client.search(
                index=self.alias,
                query={"ids": {"values": ids}},
                size=len(ids),
                source=source,
                highlight=self._highlight(request.text if request.highlight else ""),
            ),
        )
        found = {h["_id"]: h for h in resp["hits"]["hits"]}
        if vec is not None:
            sources = {d: h.get("_source") or {} for d, h in found.items()}
            exact = _Vectors(sources, self.dim, self.settings.title_vector_weight).scores(vec, ids)
            for f in top:
                f.dense_score = exact.get(f.id)
        hits = []
        for f in top:
            h = found.get(f.id)
            if h is None:  # deleted since the candidates were taken
                continue
            src = h.get("_source", {})
            fragment = (h.get("highlight", {}).get("body") or [""])[0]
            snippet, ranges = _unmark(fragment)
            created = src.get("created_at")
            when = datetime.fromisoformat(created) if created else None
            hits.append(to_hit(f, src, snippet, ranges, when))
        return hits

    # -- rebuild and lifecycle -----------------------------------------------------------
    def begin_rebuild(self) -> _Rebuild:
        self._ensure()
        name = self._new_index_name()
        self._create_index(name, bulk_load=True)
        return _Rebuild(self, name)

    def _swap_to(self, name: str) -> None:
        old = self._physical()
        self._call(
            "prepare index",
            lambda: self.client.indices.put_settings(
                index=name,
                settings={
                    "index": {"refresh_interval": None, "number_of_replicas": self.es.replicas}
                },
            ),
        )
        self._call("refresh", lambda: self.client.indices.refresh(index=name))
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.alias}} for i in old]
        actions.append({"add": {"index": name, "alias": self.alias}})
        self._call("swap alias", lambda: self.client.indices.update_aliases(actions=actions))
        for i in old:
            if i != name:
                self._call("drop old index", lambda i=i: self.client.indices.delete(index=i))
        # Half-built indices of rebuilds killed before they could abort: any of ours older
        # than this one that the alias does not point at (a later, running rebuild is newer).
        found = self._call(
            "list indices",
            lambda: self.client.indices.get(index=f"{self.alias}-v*", allow_no_indices=True),
        )
        for i in found.body if hasattr(found, "body") else found:
            if i < name and i not in old:
                self._call(
                    "drop orphan index",
                    lambda i=i: self.client.indices.delete(index=i, ignore_unavailable=True),
                )

    def drop(self) -> None:
        """Delete every physical index behind the alias (tests, temporary eval indices)."""
        for i in self._physical():
            self._call("drop index", lambda i=i: self.client.indices.delete(index=i))
        self._ready = False

    def maintain(self) -> None:
        """Elasticsearch keeps its HNSW graphs itself."""

    def describe(self) -> dict[str, Any]:
        info = self._call("cluster info", lambda: self.client.info())
        self._ensure()
        return {
            "backend": self.name,
            "cluster": info["cluster_name"],
            "version": info["version"]["number"],
            "alias": self.alias,
            "indices": self._physical(),
            "documents": self.count(),
            "fusion": self.es.fusion,
        }

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._ready = False


class _Vectors:
    """Exact dense scores and feedback similarities, computed here from the vectors a search
    returned in ``_source``: the formula of the embedded backend, with Elasticsearch's cosine
    (vectors normalised), so no request is needed to score the candidates."""

    def __init__(self, sources: dict[str, dict[str, Any]], dim: int, title_weight: float) -> None:
        self.sources = sources
        self.dim = dim
        self.title_weight = title_weight
        self._parsed: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}

    def _doc(self, doc_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(title vector, chunk vectors) of a document, unit length; None if not returned."""
        if doc_id not in self._parsed:
            src = self.sources.get(doc_id) or {}
            title = src.get("title_vector")
            chunks = src.get("chunks") or []
            if isinstance(chunks, dict):  # one nested object may come back unwrapped
                chunks = [chunks]
            if title is None:
                self._parsed[doc_id] = None
            else:
                t = _unit(np.asarray(title, dtype=np.float32).reshape(1, self.dim))
                rows = [c["vector"] for c in chunks if c.get("vector") is not None]
                c = _unit(np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)) if rows else t
                self._parsed[doc_id] = (t[0], c)
        return self._parsed[doc_id]

    def scores(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        q = _unit(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        known = [(d, v) for d in ids if (v := self._doc(d)) is not None]
        if not known:
            return {}
        title = np.stack([t for _, (t, _) in known])
        chunks = np.concatenate([c for _, (_, c) in known])
        counts = np.array([len(c) for _, (_, c) in known])
        s = dense_scores(q, title, chunks, counts, self.title_weight)
        return {d: float(v) for (d, _), v in zip(known, s, strict=True)}

    def similarity_to(self, doc_id: str, ids: Sequence[str]) -> dict[str, float]:
        """Cosine between a document's first chunk and those of others (pseudo-feedback)."""
        ref = self._doc(doc_id)
        if ref is None:
            return {}
        known = [(d, v) for d in ids if (v := self._doc(d)) is not None]
        if not known:
            return {}
        sims = np.stack([c[0] for _, (_, c) in known]) @ ref[1][0]
        return {d: float(s) for (d, _), s in zip(known, sims, strict=True)}


def _rrf_fused(
    ranked: list[tuple[str, float]],
    lexical: list[tuple[str, float]],
    dense: list[tuple[str, float]],
) -> list[Fused]:
    """The rrf retriever's ranking, with each hit's rank and score in either ranker (the why)."""
    lex = {d: (i, sc) for i, (d, sc) in enumerate(lexical, start=1)}
    den = {d: (i, sc) for i, (d, sc) in enumerate(dense, start=1)}
    none = (None, None)
    return [
        Fused(
            d,
            sc,
            lex.get(d, none)[0],
            den.get(d, none)[0],
            lex.get(d, none)[1],
            den.get(d, none)[1],
        )
        for d, sc in ranked
    ]


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


class _Rebuild:
    def __init__(self, backend: ElasticsearchBackend, name: str) -> None:
        self.backend = backend
        self.name = name

    def upsert(self, docs: Sequence[IndexDoc]) -> list[IndexFailure]:
        actions = [
            {"_op_type": "index", "_id": d.id, "_source": self.backend._source(d)} for d in docs
        ]
        return self.backend._bulk(self.name, actions, refresh=False)

    def commit(self) -> None:
        self.backend._swap_to(self.name)

    def abort(self) -> None:
        b = self.backend
        b._call(
            "drop new index",
            lambda: b.client.indices.delete(index=self.name, ignore_unavailable=True),
        )


def _reason(e: Exception) -> str:
    info = getattr(e, "info", None) or getattr(e, "body", None)
    if isinstance(info, dict):
        err = info.get("error", info)
        if isinstance(err, dict):
            root = (err.get("root_cause") or [err])[0]
            return str(root.get("reason") or root.get("type") or err)
        return str(err)
    return str(e)


def _unmark(fragment: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove highlight markers; return the plain text and the highlighted ranges."""
    out: list[str] = []
    ranges: list[tuple[int, int]] = []
    pos, start = 0, None
    for ch in fragment:
        if ch == HL_PRE:
            start = pos
        elif ch == HL_POST:
            if start is not None:
                ranges.append((start, pos))
            start = None
        else:
            out.append(ch)
            pos += 1
    return "".join(out), ranges
