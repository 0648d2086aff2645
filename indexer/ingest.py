"""Ingestion: read, validate, normalise, store in the SQL record, embed, index.

Idempotent: a row is identified by (source, external id) — the export's own id, or a content
hash when the export has none — and only new or changed rows are written.  Each batch is
committed to SQL before it is indexed, and marked indexed after; a killed run restarted on the
same file finishes with exactly the right set of documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, undefer

from core.errors import BackendUnavailableError, InvalidInputError
from core.time import aware, utcnow
from indexer.backends.base import SearchBackend
from indexer.documents import doc_id, embedding_inputs, request_text, to_index_doc
from indexer.mapping import (
    DateReading,
    Mapping_,
    Record,
    build_record,
    parse_mapping_options,
    resolve_mapping,
)
from indexer.presets import get_preset
from indexer.readers import RowError, read_rows
from indexer.types import IndexDoc, IndexFailure
from kb.db import Database
from kb.models import RECORD_TYPES, Article, Ticket
from kb.records import Upserted, upsert
from models.encoder import Encoder

Progress = Callable[[int], None]
T = TypeVar("T")
# Called inside each committed batch's transaction with what the batch stored (its audit).
OnBatch = Callable[[Session, Upserted], None]


@dataclass(slots=True)
class RowWarning:
    row: int
    column: str
    value: str
    reason: str


@dataclass
class IngestReport:
    kind: str
    source: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    curated: int = 0  # articles edited in firstline since their import: kept as they are
    indexed: int = 0
    skipped: list[RowError] = field(default_factory=list)
    index_errors: list[IndexFailure] = field(default_factory=list)
    mapping: str = ""
    # Values that could not be used (a date that cannot be read or is out of range): the row
    # is stored with that field empty.
    warnings: list[RowWarning] = field(default_factory=list)
    pending: int = 0  # stored, not indexed yet (the search engine was unreachable)
    index_unavailable: str | None = None

    @property
    def complete(self) -> bool:
        """Every row went in as it was: nothing skipped, nothing emptied."""
        return not self.skipped and not self.warnings

    @property
    def index(self) -> str:
        """ "indexed" when the index holds every row this run stored, else "pending"."""
        return "pending" if self.pending or self.index_errors else "indexed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "curated": self.curated,
            "indexed": self.indexed,
            "skipped": [{"row": e.row, "reason": e.reason} for e in self.skipped],
            "index_errors": [{"id": e.id, "reason": e.reason} for e in self.index_errors],
            "mapping": self.mapping,
            "warnings": [
                {"row": w.row, "column": w.column, "value": w.value, "reason": w.reason}
                for w in self.warnings
            ],
            "index": self.index,
            "pending": self.pending + len(self.index_errors),
        }


def check_mapping(
    path: Path,
    kind: str = "ticket",
    mapping: list[str] | dict[str, str] | None = None,
    encoding: str = "utf-8",
    preset: str | None = None,
) -> Mapping_ | None:
    """The column mapping an import of ``path`` will use, resolved from its first readable row
    as the import does, without the encoder or the index: an unknown preset, a bad ``--map``
    (no ``FIELD=COLUMN``, an unknown field, a column the file lacks), an unknown kind or a file
    without a text column fails here, in a moment, before a long import starts.  ``None`` when
    no row is readable (the import reports why)."""
    path = Path(path)
    chosen = get_preset(preset) if preset else None
    explicit = mapping if isinstance(mapping, dict) else parse_mapping_options(mapping)
    readable = (row for _row_no, row in read_rows(path, encoding) if isinstance(row, dict))
    first = next(readable, None)
    readable.close()  # the file too
    if first is None:
        return None
    try:
        return resolve_mapping(kind, list(first.keys()), explicit, chosen)
    except InvalidInputError as e:
        raise InvalidInputError(f"{path.name}: {e}") from e


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(it)
    while batch := list(islice(it, n)):
        yield batch


class Ingestor:
    def __init__(
        self,
        db: Database,
        backend: SearchBackend,
        encoder: Encoder,
        batch_size: int = 256,
        chunk_words: int = 128,
        chunk_stride: int = 96,
    ) -> None:
        self.db = db
        self.backend = backend
        self.encoder = encoder
        self.batch_size = batch_size
        self.chunk_words = chunk_words
        self.chunk_stride = chunk_stride
        # Stored embeddings are reused only if made by the same model with the same chunking.
        self.embedding_version = f"{encoder.name}|w{chunk_words}s{chunk_stride}"

    # -- files ---------------------------------------------------------------------------
    def count_rows(self, path: Path, encoding: str = "utf-8") -> int:
        return sum(1 for _ in read_rows(path, encoding))

    def ingest_file(
        self,
        path: Path,
        kind: str = "ticket",
        mapping: list[str] | dict[str, str] | None = None,
        source: str = "default",
        encoding: str = "utf-8",
        progress: Progress | None = None,
        dates: DateReading | None = None,
        preset: str | None = None,
    ) -> IngestReport:
        path = Path(path)
        dates = dates or DateReading()
        chosen = get_preset(preset) if preset else None
        explicit = mapping if isinstance(mapping, dict) else parse_mapping_options(mapping)
        rows = read_rows(path, encoding)
        report = IngestReport(kind=kind, source=source)
        resolved = None

        def records() -> Iterator[tuple[int, Record | RowError]]:
            nonlocal resolved
            seen: dict[str, int] = {}
            for row_no, row in rows:
                report.rows += 1
                if isinstance(row, RowError):
                    yield row_no, row
                    continue
                if resolved is None:
                    resolved = resolve_mapping(kind, list(row.keys()), explicit, chosen)
                    report.mapping = resolved.describe()
                try:
                    rec = build_record(resolved, row, dates)
                except ValueError as e:
                    yield row_no, RowError(row_no, str(e))
                    continue
                report.warnings += [
                    RowWarning(row_no, w.column, w.value, w.reason) for w in rec.warnings
                ]
                if not rec.external_id:
                    # No id in the export: the content is the identity; identical rows are
                    # told apart by their order of appearance.
                    base = "h:" + rec.content_hash[:20]
                    n = seen.get(base, 0) + 1
                    seen[base] = n
                    rec.external_id = base if n == 1 else f"{base}#{n}"
                yield row_no, rec

        self._ingest(records(), kind, source, report, progress)
        if report.rows == 0:
            raise InvalidInputError(f"{path.name}: no rows")
        return report

    # -- records (API batches and files) ---------------------------------------------------
    def ingest_values(
        self,
        kind: str,
        items: Sequence[dict[str, Any]],
        source: str = "api",
        dates: DateReading | None = None,
        index: bool = True,
        on_batch: OnBatch | None = None,
    ) -> IngestReport:
        """Ingest already-structured documents (API JSON, our field names).

        ``index=False`` only stores them (pending): the sync worker indexes them.  ``on_batch``
        runs in each batch's transaction (the caller's audit entry for that batch).
        """
        dates = dates or DateReading()
        from indexer.mapping import FIELDS

        report = IngestReport(kind=kind, source=source, mapping="field names")
        columns = {f: f for f in FIELDS[kind]}

        def records() -> Iterator[tuple[int, Record | RowError]]:
            from indexer.mapping import Mapping_

            m = Mapping_(kind, columns)
            for i, item in enumerate(items, start=1):
                report.rows += 1
                try:
                    rec = build_record(m, item, dates)
                except ValueError as e:
                    yield i, RowError(i, str(e))
                    continue
                report.warnings += [
                    RowWarning(i, w.column, w.value, w.reason) for w in rec.warnings
                ]
                if not rec.external_id:
                    rec.external_id = "h:" + rec.content_hash[:20]
                yield i, rec

        self._ingest(records(), kind, source, report, None, index, on_batch)
        return report

    def _ingest(
        self,
        records: Iterable[tuple[int, Record | RowError]],
        kind: str,
        source: str,
        report: IngestReport,
        progress: Progress | None,
        index: bool = True,
        on_batch: OnBatch | None = None,
    ) -> None:
        model = RECORD_TYPES[kind]

        def stored() -> Iterator[tuple[list[int], int]]:
            """Each batch stored; the ids of its rows to index, and its size in rows."""
            for batch in _batched(records, self.batch_size):
                good: dict[str, Record] = {}
                for _row_no, rec in batch:
                    if isinstance(rec, RowError):
                        report.skipped.append(rec)
                    else:
                        good[rec.external_id] = rec  # a later duplicate id in one batch wins
                ids = (
                    self._store(model, source, list(good.values()), report, on_batch)
                    if good
                    else []
                )
                if index and report.index_unavailable is None:
                    yield ids, len(batch)
                else:
                    report.pending += len(ids)
                    if progress:
                        progress(len(batch))

        # While one batch is indexed, the next is stored and encoded on a worker thread.
        for ids, size, ready in self._encoded_ahead(model, stored()):
            if ids and report.index_unavailable is None:
                try:
                    indexed, failures = self._index(model, ids, ready)
                except BackendUnavailableError as e:
                    # Stored; the sync worker (or `reindex --pending`) indexes it later.
                    report.index_unavailable = str(e)
                    report.pending += len(ids)
                else:
                    report.indexed += indexed
                    report.index_errors += failures
            else:
                report.pending += len(ids)
            if progress:
                progress(size)

    def _store(
        self,
        model: type[Ticket] | type[Article],
        source: str,
        records: list[Record],
        report: IngestReport,
        on_batch: OnBatch | None = None,
    ) -> list[int]:
        """Write new and changed rows (through the record's one writer); return the ids of
        rows that need (re)indexing.  ``on_batch`` writes what belongs with the batch (its
        audit entry) in the batch's own unit of work."""
        with self.db.session() as s:
            done = upsert(s, records[0].kind, source, records)
            if on_batch is not None:
                on_batch(s, done)
        report.added += done.added
        report.updated += done.updated
        report.unchanged += done.unchanged
        report.curated += done.curated
        return done.pending

    def _index(
        self, model: type[Ticket] | type[Article], ids: list[int], ready: Encoded | None = None
    ) -> tuple[int, list[IndexFailure]]:
        """Embed (where needed) and index the given rows, then mark them indexed.

        A row is marked with the hash of what the live index now holds (the backends' writes
        are live when they return).  Rows the backend refuses, or whose document cannot be
        built, stay pending and are reported; if the backend is unreachable the error
        propagates and the whole batch stays pending (the SQL record already holds it).
        ``ready``: vectors already encoded for these rows (see ``_encoded_ahead``).
        """
        if not ids:
            return 0, []
        with self.db.session() as s:
            rows = _load(s, model, ids)
            vectors = self._ensure_embeddings(rows, ready)
            docs, failures = _documents(rows, vectors)
            s.commit()  # embeddings are kept even if the index write fails
            hidden = [d.id for r, d in docs if not searchable(r)]
            if hidden:
                self.backend.delete(hidden)
            failures += self.backend.upsert([d for r, d in docs if searchable(r)])
            refused = {f.id for f in failures}
            done = 0
            for r, d in docs:
                if d.id not in refused:
                    r.indexed_hash = d.content_hash
                    done += 1
        return done, failures

    def _plan(self, rows: Sequence[Ticket | Article]) -> EncodePlan:
        """The texts ``rows`` lack vectors for: the search texts (title, chunks) of a row not
        embedded by this model and chunking, and a ticket's request text (what triage reads)
        when its stored vector is missing or another model's.  Each distinct text once."""
        plan = EncodePlan()
        at: dict[str, int] = {}
        for r in rows:
            chunks = request = None
            if r.embedding is None or r.embedding_model != self.embedding_version:
                texts = embedding_inputs(r, self.chunk_words, self.chunk_stride)
                chunks = [at.setdefault(t, len(at)) for t in texts]
            if isinstance(r, Ticket) and (
                r.request_embedding is None or r.request_embedding_model != self.encoder.name
            ):
                request = at.setdefault(request_text(r.title, r.description), len(at))
            if chunks is not None or request is not None:
                plan.rows[r.id] = (r.content_hash, chunks, request)
        plan.texts = list(at)
        return plan

    def _encode(self, plan: EncodePlan) -> Encoded:
        if not plan.texts:
            return plan, np.zeros((0, 0), dtype=np.float32)
        return plan, self.encoder.encode(plan.texts)

    def _apply(self, rows: Sequence[Ticket | Article], encoded: Encoded) -> None:
        """Store encoded vectors on the rows they were made for, if their content is still
        what was encoded (a row changed since keeps what it had and is planned again)."""
        plan, vectors = encoded
        for r in rows:
            entry = plan.rows.get(r.id)
            if entry is None or entry[0] != r.content_hash:
                continue
            _hash, chunks, request = entry
            if chunks is not None:
                r.embedding = vectors[chunks].astype(np.float32).tobytes()
                r.embedding_model = self.embedding_version
            if request is not None and isinstance(r, Ticket):
                r.request_embedding = vectors[request].astype(np.float32).tobytes()
                r.request_embedding_model = self.encoder.name

    def _ensure_embeddings(
        self, rows: Sequence[Ticket | Article], ready: Encoded | None = None
    ) -> list[np.ndarray]:
        """Each row's search vectors (title, then chunks), encoding only what is not stored
        or in ``ready`` (a ticket's request vector is stored on the way)."""
        if ready is not None:
            self._apply(rows, ready)
        plan = self._plan(rows)
        if plan.rows:
            self._apply(rows, self._encode(plan))
        dim = self.encoder.dim
        return [np.frombuffer(r.embedding, np.float32).reshape(-1, dim) for r in rows]

    def _encoded_ahead(
        self, model: type[Ticket] | type[Article], batches: Iterable[tuple[list[int], T]]
    ) -> Iterator[tuple[list[int], T, Encoded | None]]:
        """Each batch of row ids (with what came with it) and its rows' missing vectors,
        encoded one batch ahead on a worker thread: while the caller stores and indexes a batch,
        the encoder (which releases the GIL) works on the next one."""
        with ThreadPoolExecutor(1, thread_name_prefix="firstline-encode") as pool:
            ahead: tuple[list[int], T, Future[Encoded] | None] | None = None
            for ids, extra in batches:
                job = None
                if ids:
                    with self.db.session() as s:
                        plan = self._plan(_load(s, model, ids))
                    job = pool.submit(self._encode, plan) if plan.rows else None
                if ahead is not None:
                    yield ahead[0], ahead[1], ahead[2].result() if ahead[2] else None
                ahead = (ids, extra, job)
            if ahead is not None:
                yield ahead[0], ahead[1], ahead[2].result() if ahead[2] else None

    # -- catching up and rebuilding ------------------------------------------------------
    def pending_count(self) -> int:
        return self.pending_status()["pending"]

    def pending_status(self) -> dict[str, Any]:
        """How far the index is behind: pending rows and the oldest one's age in seconds."""
        count, oldest = 0, None
        with self.db.session() as s:
            for m in RECORD_TYPES.values():
                n, since = s.execute(
                    select(func.count(m.id), func.min(m.pending_since)).where(_not_indexed(m))
                ).one()
                count += int(n or 0)
                since = aware(since)
                if since is not None and (oldest is None or since < oldest):
                    oldest = since
        age = None if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        return {"pending": count, "oldest_pending_seconds": None if age is None else round(age, 1)}

    def sync_pending(self, progress: Progress | None = None) -> SyncResult:
        """Index every stored row the index has not caught up with (one pass over them).

        Raises ``BackendUnavailableError`` when the engine cannot be reached; what was done
        before stays done.
        """
        result = SyncResult()
        for model in RECORD_TYPES.values():
            with self.db.session() as s:
                ids = list(
                    s.scalars(select(model.id).where(_not_indexed(model)).order_by(model.id))
                )
            batches = ((batch, None) for batch in _batched(ids, self.batch_size))
            for batch, _, ready in self._encoded_ahead(model, batches):
                done, failures = self._index(model, batch, ready)
                result.indexed += done
                result.failures += failures
                if progress:
                    progress(len(batch))
        return result

    def total_count(self) -> int:
        with self.db.session() as s:
            return sum(int(s.scalar(select(func.count(m.id))) or 0) for m in RECORD_TYPES.values())

    def reindex(self, progress: Progress | None = None) -> SyncResult:
        """Rebuild the search index from the SQL record and swap it in atomically.

        Rows are marked indexed only once the new index is live (after the swap), each with
        the hash of what the new index holds.  If the rebuild fails, the half-built index is
        removed and every row stays as it was.  Rows the index refuses are reported and left
        pending; they do not stop the others.
        """
        target = self.backend.begin_rebuild()
        result = SyncResult()
        held: dict[str, dict[int, str]] = {kind: {} for kind in RECORD_TYPES}
        last_id: dict[str, int] = {}
        seen: dict[str, list[int]] = {}
        try:
            for kind, model in RECORD_TYPES.items():
                with self.db.session() as s:
                    ids = list(s.scalars(select(model.id).order_by(model.id)))
                last_id[kind] = ids[-1] if ids else 0
                seen[kind] = ids
                batches = ((batch, None) for batch in _batched(ids, self.batch_size))
                for batch, _, ready in self._encoded_ahead(model, batches):
                    with self.db.session() as s:
                        rows = _load(s, model, batch)
                        vectors = self._ensure_embeddings(rows, ready)
                        docs, failures = _documents(rows, vectors)
                        s.commit()  # the embeddings are worth keeping either way
                        failures += target.upsert([d for r, d in docs if searchable(r)])
                        refused = {f.id for f in failures}
                        for r, d in docs:
                            if d.id not in refused:
                                held[kind][r.id] = r.content_hash
                        result.failures += failures
                    if progress:
                        progress(len(batch))
            target.commit()
        except BaseException:
            target.abort()
            raise
        # The new index is live: the record now says what it holds, and nothing else.
        with self.db.session() as s:
            for kind, model in RECORD_TYPES.items():
                marks = [{"id": i, "indexed_hash": h} for i, h in held[kind].items()]
                for chunk in _batched(marks, 1000):
                    s.execute(update(model), chunk)
                # Refused rows are not in the new index: pending, with their reason reported.
                refused = [i for i in seen[kind] if i not in held[kind]]
                for chunk in _batched(refused, 1000):
                    s.execute(
                        update(model)
                        .where(model.id.in_(chunk))
                        .values(
                            indexed_hash=None,
                            pending_since=func.coalesce(
                                model.pending_since, func.current_timestamp()
                            ),
                        )
                    )
                # Rows added while the rebuild ran were written to the old index only.
                s.execute(
                    update(model)
                    .where(model.id > last_id.get(kind, 0))
                    .values(
                        indexed_hash=None,
                        pending_since=func.coalesce(model.pending_since, func.current_timestamp()),
                    )
                )
        result.indexed = sum(len(h) for h in held.values())
        return result


@dataclass
class SyncResult:
    """What one pass of indexing did: rows now in step with the index, rows refused."""

    indexed: int = 0
    failures: list[IndexFailure] = field(default_factory=list)


@dataclass
class EncodePlan:
    """The distinct texts a batch of rows needs encoded, and per row id: its content hash
    when planned, the positions of its search texts (title, chunks) and of its request text."""

    texts: list[str] = field(default_factory=list)
    rows: dict[int, tuple[str, list[int] | None, int | None]] = field(default_factory=dict)


# A plan and its texts' vectors, row for row.
Encoded = tuple[EncodePlan, np.ndarray]


def _documents(
    rows: Sequence[Ticket | Article], vectors: Sequence[np.ndarray]
) -> tuple[list[tuple[Ticket | Article, IndexDoc]], list[IndexFailure]]:
    """Each row's index document; a row whose document cannot be built is reported, not fatal."""
    docs: list[tuple[Ticket | Article, IndexDoc]] = []
    failures: list[IndexFailure] = []
    for r, v in zip(rows, vectors, strict=True):
        try:
            docs.append((r, to_index_doc(r, v)))
        except (ValueError, TypeError, OverflowError) as e:
            failures.append(IndexFailure(doc_id(r.kind, r.id), f"cannot be indexed: {e}"))
    return docs, failures


def searchable(row: Ticket | Article) -> bool:
    """Agents search published articles only: drafts, articles in review and retired ones are
    kept out of the index (editors read them from the record)."""
    return not isinstance(row, Article) or row.status == "published"


def _load(s: Any, model: type[Ticket] | type[Article], ids: Sequence[int]) -> list[Any]:
    vectors = [undefer(model.embedding)]
    if model is Ticket:
        vectors.append(undefer(Ticket.request_embedding))
    return list(s.scalars(select(model).options(*vectors).where(model.id.in_(ids))))


def _not_indexed(model: type[Ticket] | type[Article]):  # noqa: ANN202
    return or_(model.indexed_hash.is_(None), model.indexed_hash != model.content_hash)
