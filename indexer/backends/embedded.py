"""The embedded default backend: no server, everything in a folder next to the SQLite file.

Lexical: tantivy (BM25, English stemming, snippets).  Dense: exact numpy, or FAISS HNSW above
``ann_threshold`` vectors -- a graph the writing process keeps current and persists in the
version folder, loaded by every process in the background (:mod:`indexer.backends.ann`).
Fusion: :mod:`indexer.fusion`.

Layout of ``index_dir``: ``CURRENT`` names the active version folder (``v<timestamp>``), which
holds ``text/`` (tantivy), ``vectors.sqlite`` and the HNSW graph (``ann.json``, ``ann-<n>.*``).
A rebuild fills a new version folder and swaps ``CURRENT`` atomically, so searches keep
working throughout.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.errors import InvalidInputError
from core.settings import SearchSettings
from indexer.backends.text import TextIndex, doc_key
from indexer.backends.vectors import VectorStore
from indexer.fusion import hybrid, single, to_hit
from indexer.types import Filters, Hit, IndexDoc, IndexFailure, SearchRequest

SCHEMA_VERSION = 1


class _Version:
    """One physical index: a tantivy index and a vector store."""

    def __init__(self, path: Path, dim: int, settings: SearchSettings) -> None:
        self.path = path
        meta_path = path / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("dim") != dim:
                raise InvalidInputError(
                    f"the index at {path} holds {meta.get('dim')}-dim vectors but the encoder "
                    f"makes {dim}: run `firstline reindex` after changing the model"
                )
        else:
            path.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(
                json.dumps(
                    {
                        "schema_version": SCHEMA_VERSION,
                        "dim": dim,
                        "created": datetime.now(UTC).isoformat(),
                    }
                )
            )
        self.text = TextIndex(path / "text", settings.title_boost, settings.snippet_chars)
        self.vectors = VectorStore(
            path / "vectors.sqlite", dim, settings.ann_threshold, settings.title_vector_weight
        )

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        # Vectors first, then text: a crash in between leaves the SQL record marking the
        # batch as not indexed, and the retry overwrites both idempotently.
        for d in docs:
            doc_key(d.id)  # refuse a malformed id before anything is written
        self.vectors.upsert(docs)
        self.text.upsert(docs)

    def close(self) -> None:
        self.vectors.close()


class EmbeddedBackend:
    """Searches run in parallel and never wait for a writer: each takes the active version
    and an immutable snapshot of its vectors and tantivy searcher, and works on those.
    Writers (upsert, delete, the swap after a rebuild) serialise on ``_write_lock``."""

    name = "embedded"

    def __init__(self, index_dir: Path, dim: int, settings: SearchSettings) -> None:
        self.index_dir = Path(index_dir)
        self.dim = dim
        self.settings = settings
        self._version: _Version | None = None
        self._current_name: str | None = None
        self._write_lock = threading.RLock()

    # -- versions ------------------------------------------------------------------------
    def _read_current(self) -> str | None:
        try:
            return (self.index_dir / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _write_current(self, name: str) -> None:
        tmp = self.index_dir / f"CURRENT.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.index_dir / "CURRENT")

    def _new_version_name(self) -> str:
        return f"v{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 1_000_000_000:09d}"

    @property
    def version(self) -> _Version:
        """The active version, reopened if another process swapped it.  A search finding the
        version being switched by a writer of this process goes on with the one it knows."""
        v = self._version
        if v is not None and self._read_current() == self._current_name:
            return v
        if self._write_lock.acquire(blocking=v is None):
            try:
                self._open_current()
            finally:
                self._write_lock.release()
        assert self._version is not None
        return self._version

    def _open_current(self) -> None:
        with self._write_lock:
            name = self._read_current()
            if self._version is not None and name == self._current_name:
                return
            if name is None:
                self.index_dir.mkdir(parents=True, exist_ok=True)
                name = self._new_version_name()
                _Version(self.index_dir / name, self.dim, self.settings).close()
                self._write_current(name)
            # The version replaced is not closed here: a search in flight may still hold it;
            # its files and connections go with the last reference.
            self._version = _Version(self.index_dir / name, self.dim, self.settings)
            self._current_name = name

    # -- protocol ------------------------------------------------------------------------
    def upsert(self, docs: Sequence[IndexDoc]) -> list[IndexFailure]:
        if docs:
            with self._write_lock:
                self.version.upsert(docs)
        return []

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            with self._write_lock:
                v = self.version
                v.vectors.delete(ids)
                v.text.delete(ids)

    def maintain(self, wait: bool = False) -> None:
        """Bring the HNSW graph up to the store's latest commit (any process's): in a
        background thread, or before returning with ``wait``.  The sync worker calls it after
        each pass, so a server also builds the graph of an index written before it existed."""
        vectors = self.version.vectors
        if len(vectors.snapshot().pos) < vectors.ann_threshold:
            return
        if wait:
            vectors.maintainer.run()
        else:
            vectors.maintainer.poke()

    def count(self, filters: Filters | None = None) -> int:
        return int(self.version.vectors.snapshot().mask(filters).sum())

    def ids(self) -> set[str]:
        return self.version.vectors.snapshot().live_ids()

    def hashes(self) -> dict[str, str | None]:
        """(id -> content hash) of every document the live index holds."""
        return self.version.vectors.hashes()

    def search(self, request: SearchRequest) -> list[Hit]:
        s = self.settings
        v = self.version
        vectors = v.vectors.snapshot()
        v.text.reload()  # cheap when nothing changed; picks up another process's commit
        searcher = v.text.searcher()
        n_cand = max(s.candidates, request.k)
        query = v.text.build_query(request.text, request.filters)
        lexical: list[tuple[str, float]] = []
        dense: list[tuple[str, float]] = []
        if request.mode in ("hybrid", "lexical") and query is not None:
            lexical = v.text.search(query, n_cand, searcher)
        if request.mode in ("hybrid", "dense") and request.vector is not None:
            dense = vectors.search(request.vector, n_cand, request.filters)
        if request.mode == "lexical":
            fused = single(lexical, lexical=True)
        elif request.mode == "dense":
            fused = single(dense, lexical=False)
        else:
            union = list(dict.fromkeys([d for d, _ in dense] + [d for d, _ in lexical]))
            fused = hybrid(
                lexical,
                dense,
                vectors.scores(request.vector, union) if request.vector is not None else {},
                dense_weight=s.dense_weight if request.vector is not None else 0.0,
                feedback_weight=s.feedback_weight,
                feedback=vectors.similarity_to if request.vector is not None else None,
            )
        top = fused[: request.k]
        if request.mode == "lexical" and request.vector is not None:
            # Every hit carries its dense score, whatever ranked it (the relevance floor).
            exact = vectors.scores(request.vector, [f.id for f in top])
            for f in top:
                f.dense_score = exact.get(f.id)
        marks = v.text.highlight_query(request.text) if request.highlight else None
        docs = v.text.documents([f.id for f in top], marks, searcher)
        hits = []
        for f in top:
            stored = docs.get(f.id)
            if stored is None:  # vectors ahead of text (a write in flight), or deleted
                continue
            fields, snippet, ranges = stored
            hits.append(to_hit(f, fields, snippet, ranges, fields.get("created")))
        return hits

    def begin_rebuild(self) -> _Rebuild:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        return _Rebuild(self, self._new_version_name())

    def _swap_to(self, name: str) -> None:
        with self._write_lock:
            previous = self._read_current()
            self._write_current(name)
            self._open_current()
            # Keep the version just replaced: another process (the API while the CLI
            # rebuilds) may still be searching it; anything older goes.
            for old in self.index_dir.glob("v*"):
                if old.is_dir() and old.name not in (name, previous):
                    shutil.rmtree(old, ignore_errors=True)

    def close(self) -> None:
        with self._write_lock:
            if self._version is not None:
                self._version.close()
                self._version = None
                self._current_name = None

    def describe(self) -> dict:
        v = self.version
        live = v.vectors.snapshot().pos
        return {
            "backend": self.name,
            "path": str(self.index_dir / (self._current_name or "")),
            "documents": len(live),
            "dense_search": "faiss-hnsw" if len(live) >= self.settings.ann_threshold else "exact",
            "ann": v.vectors.ann_state(),
        }


class _Rebuild:
    def __init__(self, backend: EmbeddedBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self.version = _Version(backend.index_dir / name, backend.dim, backend.settings)

    def upsert(self, docs: Sequence[IndexDoc]) -> list[IndexFailure]:
        self.version.upsert(docs)
        return []

    def commit(self) -> None:
        self.version.close()
        self.backend._swap_to(self.name)

    def abort(self) -> None:
        """Remove the half-built version; the live one is untouched."""
        self.version.close()
        if self.backend._read_current() != self.name:
            shutil.rmtree(self.version.path, ignore_errors=True)
