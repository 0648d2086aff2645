"""The library facade the API and the CLI both call: ingest, search, similar, get, health."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update

from core.errors import FirstlineError, InvalidInputError, NotFoundError
from core.settings import Settings
from core.text import clean_text, has_controls
from core.time import iso
from indexer.backends.base import SearchBackend, create_backend
from indexer.documents import doc_id, has_resolution, parse_doc_id, query_text
from indexer.ingest import (
    Ingestor,
    IngestReport,
    OnBatch,
    Progress,
    SyncResult,
    check_mapping,
)
from indexer.mapping import DateReading, Mapping_
from indexer.sync import IndexSync
from indexer.types import Filters, Hit, Mode, SearchRequest
from kb.db import Database
from kb.models import RECORD_TYPES, Article, Ticket
from models.encoder import Encoder, get_encoder


class Firstline:
    """One per process (the API keeps one; each CLI command makes one).  No I/O until used."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url, settings.database.echo)
        self._encoder: Encoder | None = None
        self._backend: SearchBackend | None = None
        self.sync = IndexSync(lambda: self.ingestor, settings.sync)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            m = self.settings.model
            self._encoder = get_encoder(
                m.kind, m.path, m.batch_size, m.device, m.max_seq_length, m.onnx
            )
        return self._encoder

    @property
    def backend(self) -> SearchBackend:
        if self._backend is None:
            self._backend = create_backend(self.settings, self.encoder.dim)
        return self._backend

    def warmup(self) -> None:
        """Connect, load the encoder and open the index (the API calls this at start-up)."""
        self.db.engine  # noqa: B018
        self.encoder.encode(["warm up"])
        self.backend.count()

    @property
    def ingestor(self) -> Ingestor:
        s = self.settings
        return Ingestor(
            self.db,
            self.backend,
            self.encoder,
            s.ingest.batch_size,
            s.search.chunk_words,
            s.search.chunk_stride,
        )

    # -- writing -------------------------------------------------------------------------
    def check_file(
        self,
        path: Path,
        kind: str = "ticket",
        mapping: list[str] | dict[str, str] | None = None,
        encoding: str = "utf-8",
        preset: str | None = None,
    ) -> Mapping_ | None:
        """The mapping ``ingest_file`` would use, checked without loading the model (see
        :func:`indexer.ingest.check_mapping`)."""
        return check_mapping(path, kind, mapping, encoding, preset)

    def ingest_file(
        self,
        path: Path,
        kind: str = "ticket",
        mapping: list[str] | dict[str, str] | None = None,
        source: str = "default",
        encoding: str = "utf-8",
        progress: Progress | None = None,
        date_format: str | None = None,
        timezone: str | None = None,
        preset: str | None = None,
    ) -> IngestReport:
        """Ingest one export; ``preset`` names the product it comes from (``indexer.presets``)."""
        dates = self.date_reading(date_format, timezone)
        return self.ingestor.ingest_file(
            path, kind, mapping, source, encoding, progress, dates, preset
        )

    def ingest_items(
        self,
        kind: str,
        items: Sequence[dict[str, Any]],
        source: str = "api",
        index: bool = True,
        on_batch: OnBatch | None = None,
    ) -> IngestReport:
        """Store (and, unless ``index=False``, index) structured documents; with
        ``index=False`` the sync worker is woken to index them off the caller's thread.
        ``on_batch`` runs inside each stored batch's transaction (its audit entry)."""
        report = self.ingestor.ingest_values(
            kind, items, source, self.date_reading(), index, on_batch
        )
        if report.pending:
            self.index_changed()
        return report

    def date_reading(self, fmt: str | None = None, timezone: str | None = None) -> DateReading:
        """How imported dates are read: the settings, unless a run overrides format or zone."""
        s = self.settings
        return DateReading(s.ingest.date_order, timezone or s.timezone, fmt)

    def reindex(self, progress: Progress | None = None) -> SyncResult:
        return self.ingestor.reindex(progress)

    def index_changed(self) -> None:
        """The SQL record changed (a desk move, a KB edit): the sync worker indexes it soon.

        Returns at once and never indexes in the caller's thread: the write is committed and
        the answer does not wait for (or fail with) the search engine.  Without a running
        worker (a CLI command) the rows stay pending for `firstline reindex --pending`.
        """
        self.sync.wake()

    def index_state(self, kind: str, pk: int) -> str:
        """ "indexed" when the index holds this row as stored, else "pending"."""
        model = RECORD_TYPES[kind]
        with self.db.session() as s:
            row = s.get(model, pk)
            return (
                "indexed" if row is not None and row.indexed_hash == row.content_hash else "pending"
            )

    def verify(self, repair: bool = False, sample: int = 20) -> dict[str, Any]:
        """Compare the SQL record and the index by id and content hash.

        Drift: ``missing`` (searchable in the record, not in the index), ``orphan`` (in the
        index, gone from the record or no longer searchable), ``stale`` (the index holds
        another version).  With ``repair`` the drifted rows are re-queued, orphans deleted,
        the pending rows indexed, and the comparison run again (``after``).
        """
        report = self._compare(sample)
        if not repair or report["drift"] == 0:
            return report
        ids = report.pop("_ids")
        by_kind: dict[str, list[int]] = {}
        for d in ids["missing"] + ids["stale"]:
            kind, pk = parse_doc_id(d)
            by_kind.setdefault(kind, []).append(pk)
        with self.db.session() as s:
            for kind, pks in by_kind.items():
                model = RECORD_TYPES[kind]
                for i in range(0, len(pks), 1000):
                    s.execute(
                        update(model)
                        .where(model.id.in_(pks[i : i + 1000]))
                        .values(indexed_hash=None)
                    )
        if ids["orphan"]:
            self.backend.delete(ids["orphan"])
        synced = self.sync.drain()
        after = self._compare(sample)
        after.pop("_ids")
        return {
            **report,
            "repaired": {
                "requeued": len(ids["missing"]) + len(ids["stale"]),
                "deleted": len(ids["orphan"]),
                "indexed": synced.indexed,
                "refused": [{"id": f.id, "reason": f.reason} for f in synced.failures[:sample]],
            },
            "after": after,
        }

    def _compare(self, sample: int) -> dict[str, Any]:
        held = self.backend.hashes()
        expected: dict[str, str] = {}
        with self.db.session() as s:
            for kind, model in RECORD_TYPES.items():
                q = select(model.id, model.content_hash)
                if model is Article:
                    q = q.where(Article.status == "published")
                for pk, h in s.execute(q):
                    expected[doc_id(kind, pk)] = h
        missing = sorted(d for d in expected if d not in held)
        orphan = sorted(d for d in held if d not in expected)
        stale = sorted(d for d, h in expected.items() if d in held and held[d] != h)
        out: dict[str, Any] = {
            "record": len(expected),
            "index": len(held),
            "drift": len(missing) + len(orphan) + len(stale),
        }
        for name, ids in (("missing", missing), ("orphan", orphan), ("stale", stale)):
            out[name] = {"count": len(ids), "sample": ids[:sample]}
        out["_ids"] = {"missing": missing, "orphan": orphan, "stale": stale}
        return out

    # -- reading -------------------------------------------------------------------------
    def search(
        self,
        text: str,
        k: int = 10,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        vector: np.ndarray | None = None,
        weak: bool = True,
    ) -> list[dict[str, Any]]:
        """Search; ``vector`` is the query's embedding when the caller already has it.

        Each hit's ``match`` is "strong" when its dense similarity to the query reaches
        ``search.relevance_floor``, else "weak" (whatever mode ranked it); ``weak=False`` leaves
        the weak ones out (what is offered as an answer)."""
        text = (text or "").strip()
        if not text:
            raise InvalidInputError("the query is empty")
        if k < 1:
            raise InvalidInputError("k must be at least 1")
        if vector is None:  # lexical mode too: the floor rests on the dense similarity
            vector = self.encoder.encode([text])[0]
        filters = filters or Filters()
        hits = self.backend.search(
            SearchRequest(text=text, vector=vector, k=k, filters=filters, mode=mode)
        )
        out = self._present(hits, filters)
        return out if weak else [h for h in out if h["match"] == "strong"]

    def similar(
        self,
        ticket: str | None = None,
        text: str | None = None,
        k: int = 5,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """Resolved tickets (those with a resolution) most like a stored ticket (external id or
        ``ticket:<pk>``) or a text."""
        if bool(ticket) == bool(text):
            raise InvalidInputError("give either a ticket id or a text, not both")
        exclude: list[str] = []
        if ticket:
            row = self.get_record("ticket", ticket, source)
            text = query_text(row)
            exclude = [doc_id("ticket", row.id)]
        assert text is not None
        return self.search(text, k, Filters(kinds=["ticket"], exclude_ids=exclude, answered=True))

    def get_record(self, kind: str, ref: str, source: str | None = None) -> Ticket | Article:
        model = RECORD_TYPES.get(kind)
        if model is None:
            raise InvalidInputError(f"unknown kind {kind!r}")
        if has_controls(ref) or (source is not None and has_controls(source)):
            raise NotFoundError(f"no {kind} {clean_text(ref)!r}")  # no stored id has them
        pk = _record_pk(ref, kind)
        with self.db.session() as s:
            if pk is not None:
                row = s.get(model, pk)
                rows = [row] if row is not None else []
            else:
                q = select(model).where(model.external_id == ref)
                if source:
                    q = q.where(model.source == source)
                rows = list(s.scalars(q))
        if not rows:
            raise NotFoundError(f"no {kind} {ref!r}")
        if len(rows) > 1:
            raise InvalidInputError(
                f"{kind} id {ref!r} exists in several sources "
                f"({', '.join(r.source for r in rows)}): say which with source="
            )
        return rows[0]

    def get(self, kind: str, ref: str, source: str | None = None) -> dict[str, Any]:
        return record_dict(self.get_record(kind, ref, source))

    def _present(self, hits: list[Hit], filters: Filters) -> list[dict[str, Any]]:
        by_kind: dict[str, list[int]] = {}
        for h in hits:
            kind, pk = parse_doc_id(h.id)
            by_kind.setdefault(kind, []).append(pk)
        rows: dict[str, Ticket | Article] = {}
        with self.db.session() as s:
            for kind, pks in by_kind.items():
                model = RECORD_TYPES[kind]
                for row in s.scalars(select(model).where(model.id.in_(pks))):
                    rows[doc_id(kind, row.id)] = row  # type: ignore[attr-defined,assignment]
        out = []
        for h in hits:
            r = rows.get(h.id)
            if r is None:  # in the index but no longer in the record: never show it
                continue
            if isinstance(r, Article) and r.status != "published":
                continue  # unpublished since the index last saw it: never suggest it
            if filters.answered and not has_resolution(r):
                continue  # no resolution (indexed before the index kept that, or since removed)
            item: dict[str, Any] = {
                "id": h.id,
                "kind": h.kind,
                "external_id": r.external_id,
                "source": r.source,
                "title": r.title,
                "category": r.category,
                "status": r.status,
                "score": round(h.score, 6),
                "match": match_label(h.dense_score, self.settings.search.relevance_floor),
                "snippet": h.snippet,
                "highlights": h.highlights,
                "why": {
                    "lexical_rank": h.lexical_rank,
                    "dense_rank": h.dense_rank,
                    "lexical_score": None if h.lexical_score is None else round(h.lexical_score, 4),
                    "dense_score": None if h.dense_score is None else round(h.dense_score, 4),
                },
            }
            if isinstance(r, Ticket):
                item["resolution"] = r.resolution
                item["assignment_group"] = r.assignment_group
                item["opened_at"] = iso(r.opened_at)
            out.append(item)
        return out

    def counts(self) -> dict[str, int]:
        with self.db.session() as s:
            return {
                f"{kind}s": int(s.scalar(select(func.count()).select_from(model)) or 0)
                for kind, model in RECORD_TYPES.items()
            }

    def health(self) -> dict[str, Any]:
        """Each part's status; ``status`` is "ok" only when every part is up."""
        parts: dict[str, dict[str, Any]] = {}

        def check(name: str, fn: Any) -> None:
            try:
                parts[name] = {"status": "ok", **fn()}
            except FirstlineError as e:
                parts[name] = {"status": "down", "error": str(e)}

        check("database", lambda: {"url": _redact(self.settings.database_url), **self.counts()})
        check(
            "model",
            lambda: {
                "kind": self.settings.model.kind,
                "name": self.encoder.name,
                "dim": self.encoder.dim,
            },
        )
        if parts["model"]["status"] == "ok":
            backend = self.backend
            describe = getattr(backend, "describe", None)
            check("index", lambda: describe() if describe else {"backend": backend.name})
        else:
            parts["index"] = {"status": "down", "error": "needs the model to open"}
        if parts["database"]["status"] == "ok" and parts["model"]["status"] == "ok":
            try:
                sync = self.sync.status(self.ingestor.pending_status())
            except FirstlineError as e:
                sync = {"error": str(e), "stuck": True}
            parts["index"]["sync"] = sync
            parts["index"]["pending"] = sync.get("pending")
            if sync["stuck"] and parts["index"]["status"] == "ok":
                parts["index"]["status"] = "degraded"
                parts["index"]["error"] = "the index is behind the record: " + (
                    sync.get("last_error") or "rows wait longer than sync.stuck_after_seconds"
                )
        ok = all(p["status"] == "ok" for p in parts.values())
        return {"status": "ok" if ok else "degraded", **parts}

    def close(self) -> None:
        self.sync.stop()
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        self.db.close()


def record_dict(r: Ticket | Article) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": doc_id(r.kind, r.id),
        "kind": r.kind,
        "external_id": r.external_id,
        "source": r.source,
        "title": r.title,
        "category": r.category,
        "tags": r.tags or [],
        "status": r.status,
        "extra": r.extra or {},
        "content_hash": r.content_hash,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "indexed": r.indexed_hash == r.content_hash,
    }
    if isinstance(r, Ticket):
        out.update(
            description=r.description,
            resolution=r.resolution,
            type=r.type,
            assignment_group=r.assignment_group,
            impact=r.impact,
            urgency=r.urgency,
            priority=r.priority,
            caller=r.caller,
            opened_at=iso(r.opened_at),
            resolved_at=iso(r.resolved_at),
        )
    else:
        out["body"] = r.body
    return out


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<unparseable url>"


def _record_pk(ref: str, kind: str) -> int | None:
    """The primary key in a ``<kind>:<n>`` ref: ASCII digits only, within what a database
    stores; anything else (``ticket:²``, ``ticket:٣``, a 30-digit number) is not a key."""
    prefix = f"{kind}:"
    digits = ref[len(prefix) :] if ref.startswith(prefix) else ""
    if not (0 < len(digits) <= 19 and digits.isascii() and digits.isdigit()):
        return None
    pk = int(digits)
    return pk if 1 <= pk <= 2**63 - 1 else None


def match_label(dense_score: float | None, floor: float) -> str:
    """ "strong" when the dense similarity reaches the relevance floor, else "weak"."""
    return "strong" if dense_score is not None and dense_score >= floor else "weak"


def match_score(hit: dict[str, Any]) -> float | None:
    """The score a presented hit's ``match`` came from: its dense similarity to the query."""
    return (hit.get("why") or {}).get("dense_score")
