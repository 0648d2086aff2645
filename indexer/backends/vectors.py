"""Dense-vector store of the embedded backend: SQLite on disk, numpy (and FAISS HNSW) in memory.

Each document has a title vector and one or more chunk vectors (title + a window of the body);
its dense score for a query q is ``w·cos(q, title) + (1-w)·max_chunks cos(q, chunk)``.
Rows are appended in insertion order; an updated document gets new rows and its old rows are
dropped.  Exact search is a matrix product; above ``ann_threshold`` documents an HNSW graph over
the chunk vectors proposes candidates, which are then scored exactly; rows added after the graph
was built are searched exactly beside it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from indexer.types import Filters, IndexDoc

_KINDS = {"ticket": 0, "article": 1}


def _locked(fn):  # noqa: ANN001, ANN202
    def wrapper(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        with self._lock:
            return fn(self, *args, **kwargs)

    wrapper.__doc__ = fn.__doc__
    return wrapper


class _Vocab:
    """Small string <-> int code table for filterable metadata."""

    def __init__(self) -> None:
        self.codes: dict[str | None, int] = {None: 0}

    def code(self, value: str | None) -> int:
        c = self.codes.get(value)
        if c is None:
            c = self.codes[value] = len(self.codes)
        return c

    def lookup(self, values: Sequence[str]) -> list[int]:
        return [self.codes[v] for v in values if v in self.codes]


class _Grow:
    """A growable 1-D or 2-D numpy array."""

    def __init__(self, dtype: type | np.dtype, width: int | None = None) -> None:
        self.dtype, self.width = dtype, width
        self.a = np.zeros((0, width) if width else 0, dtype=dtype)

    def ensure(self, n: int) -> None:
        if n <= len(self.a):
            return
        cap = max(n, int(len(self.a) * 1.5) + 1024)
        new = np.zeros((cap, self.width) if self.width else cap, dtype=self.dtype)
        new[: len(self.a)] = self.a
        self.a = new


class VectorStore:
    def __init__(self, path: Path, dim: int, ann_threshold: int, title_weight: float = 0.3) -> None:
        self.path = path
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.title_weight = title_weight
        self._conn: sqlite3.Connection | None = None
        self.generation = -1
        self._lock = threading.RLock()
        self._reset_memory()

    # -- persistence ---------------------------------------------------------------------
    def _reset_memory(self) -> None:
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self._title = _Grow(np.float32, self.dim)
        self._chunks = _Grow(np.float32, self.dim)
        self._cstart = _Grow(np.int64)
        self._ccount = _Grow(np.int32)
        self._alive = _Grow(bool)
        self._kind = _Grow(np.int8)
        self._category = _Grow(np.int32)
        self._status = _Grow(np.int32)
        self._created = _Grow(np.float64)
        self.categories = _Vocab()
        self.statuses = _Vocab()
        self.n = 0  # document rows (alive or not)
        self.m = 0  # chunk rows
        self._ann = None
        self._ann_chunks = 0
        self._ann_dead = 0
        self._owner = np.zeros(0, dtype=np.int64)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (id TEXT PRIMARY KEY, kind TEXT, "
                "category TEXT, status TEXT, created REAL, title BLOB NOT NULL, "
                "chunks BLOB NOT NULL)"
            )
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(vectors)")}
            if "hash" not in cols:  # stores made before `verify` existed
                self._conn.execute("ALTER TABLE vectors ADD COLUMN hash TEXT")
            self._conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', 0)")
            self._conn.commit()
        return self._conn

    def stored_generation(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0])

    @_locked
    def refresh(self) -> None:
        """Load from disk if another process (or a fresh open) changed the store."""
        gen = self.stored_generation()
        if gen == self.generation:
            return
        self._reset_memory()
        rows = self.conn.execute(
            "SELECT id, kind, category, status, created, title, chunks FROM vectors ORDER BY rowid"
        ).fetchall()
        self._append_rows(rows)
        self.generation = gen

    def _append_rows(self, rows: list[tuple]) -> None:
        chunk_total = sum(len(r[6]) // (4 * self.dim) for r in rows)
        for g in (
            self._title,
            self._cstart,
            self._ccount,
            self._alive,
            self._kind,
            self._category,
            self._status,
            self._created,
        ):
            g.ensure(self.n + len(rows))
        self._chunks.ensure(self.m + chunk_total)
        for doc_id, kind, category, status, created, title, chunks in rows:
            old = self.pos.get(doc_id)
            if old is not None:
                self._kill(old)
            c = np.frombuffer(chunks, np.float32).reshape(-1, self.dim)
            i, j = self.n, self.m
            self._title.a[i] = np.frombuffer(title, np.float32)
            self._chunks.a[j : j + len(c)] = c
            self._cstart.a[i], self._ccount.a[i] = j, len(c)
            self._alive.a[i] = True
            self._kind.a[i] = _KINDS.get(kind, 2)
            self._category.a[i] = self.categories.code(category)
            self._status.a[i] = self.statuses.code(status)
            self._created.a[i] = np.nan if created is None else created
            self.ids.append(doc_id)
            self.pos[doc_id] = i
            self.n += 1
            self.m += len(c)

    def _kill(self, p: int) -> None:
        self._alive.a[p] = False
        if self._cstart.a[p] < self._ann_chunks:
            self._ann_dead += int(self._ccount.a[p])

    @_locked
    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        self.refresh()
        rows = []
        hashes = []
        for d in docs:
            title = np.asarray(d.title_vector, dtype=np.float32).reshape(-1)
            chunks = np.asarray(d.chunk_vectors, dtype=np.float32).reshape(-1, title.shape[0])
            if title.shape[0] != self.dim:
                raise ValueError(
                    f"vector of {d.id} has {title.shape[0]} dims, index has {self.dim}"
                )
            if len(chunks) == 0:
                chunks = title.reshape(1, -1)
            created = d.created_at.timestamp() if isinstance(d.created_at, datetime) else None
            hashes.append(d.content_hash)
            rows.append(
                (
                    d.id,
                    d.kind,
                    d.category,
                    d.status,
                    created,
                    title.tobytes(),
                    np.ascontiguousarray(chunks).tobytes(),
                )
            )
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO vectors "
                "(id, kind, category, status, created, title, chunks, hash) "
                "VALUES (?,?,?,?,?,?,?,?)",
                [(*r, h) for r, h in zip(rows, hashes, strict=True)],
            )
            self.conn.execute("UPDATE meta SET value = value + 1 WHERE key='generation'")
        self._append_rows(rows)
        self.generation += 1

    @_locked
    def delete(self, ids: Sequence[str]) -> None:
        self.refresh()
        with self.conn:
            self.conn.executemany("DELETE FROM vectors WHERE id = ?", [(i,) for i in ids])
            self.conn.execute("UPDATE meta SET value = value + 1 WHERE key='generation'")
        for doc_id in ids:
            p = self.pos.pop(doc_id, None)
            if p is not None:
                self._kill(p)
        self.generation += 1

    @_locked
    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- queries -------------------------------------------------------------------------
    @_locked
    def live_ids(self) -> set[str]:
        self.refresh()
        return set(self.pos)

    @_locked
    def hashes(self) -> dict[str, str | None]:
        """Every stored document's id and the content hash it was indexed from."""
        return dict(self.conn.execute("SELECT id, hash FROM vectors").fetchall())

    @_locked
    def mask(self, filters: Filters | None) -> np.ndarray:
        """Boolean mask over document rows: alive and matching the filters."""
        self.refresh()
        n = self.n
        m = self._alive.a[:n].copy()
        if filters is None:
            return m
        if filters.kinds:
            m &= np.isin(self._kind.a[:n], [_KINDS.get(k, 2) for k in filters.kinds])
        if filters.categories:
            m &= np.isin(self._category.a[:n], self.categories.lookup(filters.categories))
        if filters.statuses:
            m &= np.isin(self._status.a[:n], self.statuses.lookup(filters.statuses))
        created = self._created.a[:n]
        if filters.date_from:
            m &= created >= filters.date_from.timestamp()
        if filters.date_to:
            m &= created <= filters.date_to.timestamp()
        for doc_id in filters.exclude_ids or ():
            p = self.pos.get(doc_id)
            if p is not None:
                m[p] = False
        return m

    def _score_rows(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact dense scores of the given document rows."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        starts, counts = self._cstart.a[rows], self._ccount.a[rows]
        if np.all(counts == 1):
            chunk_max = self._chunks.a[starts] @ q
        else:
            idx = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts, strict=True)])
            offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
            chunk_max = np.maximum.reduceat(self._chunks.a[idx] @ q, offsets)
        w = self.title_weight
        return w * (self._title.a[rows] @ q) + (1 - w) * chunk_max

    def _score_all(self, q: np.ndarray) -> np.ndarray:
        n, m = self.n, self.m
        chunk_sims = self._chunks.a[:m] @ q
        chunk_max = np.maximum.reduceat(chunk_sims, self._cstart.a[:n])
        w = self.title_weight
        return w * (self._title.a[:n] @ q) + (1 - w) * chunk_max

    @_locked
    def scores(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Exact dense scores of the given documents (unknown ids are left out)."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        known = [(d, self.pos[d]) for d in ids if d in self.pos]
        if not known:
            return {}
        s = self._score_rows(q, np.array([p for _, p in known]))
        return {d: float(v) for (d, _), v in zip(known, s, strict=True)}

    @_locked
    def similarity_to(self, doc_id: str, ids: Sequence[str]) -> dict[str, float]:
        """Cosine between a document's first chunk and those of others (pseudo-feedback)."""
        p = self.pos.get(doc_id)
        if p is None:
            return {}
        ref = self._chunks.a[self._cstart.a[p]]
        known = [(d, self.pos[d]) for d in ids if d in self.pos]
        rows = self._cstart.a[[q for _, q in known]]
        sims = self._chunks.a[rows] @ ref
        return {d: float(s) for (d, _), s in zip(known, sims, strict=True)}

    @_locked
    def search(
        self, vector: np.ndarray, k: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        self.refresh()
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        n = self.n
        if n == 0 or k <= 0:
            return []
        filtered = filters is not None and not filters.is_empty()
        mask = self.mask(filters) if filtered else self._alive.a[:n]
        live = int(mask.sum())
        if live == 0:
            return []
        if len(self.pos) >= self.ann_threshold and (not filtered or live > 0.3 * n):
            rows = self._ann_candidates(q, k, mask)
            scores = self._score_rows(q, rows)
        elif live < 0.5 * n:
            rows = np.flatnonzero(mask)
            scores = self._score_rows(q, rows)
        else:
            scores = self._score_all(q)
            scores = np.where(mask, scores, -np.inf)
            rows = None
        top = _top(scores, k)
        if rows is None:
            return [(self.ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
        return [(self.ids[rows[i]], float(scores[i])) for i in top]

    def _ensure_ann(self) -> None:
        stale = self.m - self._ann_chunks + self._ann_dead
        if self._ann is not None and stale <= 0.2 * max(self._ann_chunks, 1):
            return
        import faiss

        index = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
        index.add(np.ascontiguousarray(self._chunks.a[: self.m]))
        dead = ~self._alive.a[: self.n]
        self._ann, self._ann_chunks = index, self.m
        self._ann_dead = int(self._ccount.a[: self.n][dead].sum())
        self._owner = np.repeat(np.arange(self.n), self._ccount.a[: self.n])

    def _ann_candidates(self, q: np.ndarray, k: int, mask: np.ndarray) -> np.ndarray:
        """Document rows worth scoring exactly: HNSW neighbours plus rows newer than the graph."""
        self._ensure_ann()
        assert self._ann is not None
        built = self._ann_chunks
        live_share = max(float(mask.mean()), 1e-3)
        fetch = min(built, int(2 * k / live_share) + 32)
        _, hits = self._ann.search(q.reshape(1, -1), fetch)
        rows = self._owner[hits[0][hits[0] >= 0]]
        newer = np.flatnonzero(self._cstart.a[: self.n] >= built)
        cand = np.unique(np.concatenate([rows, newer]))
        return cand[mask[cand]]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]
