"""Dense-vector store of the embedded backend: SQLite on disk, numpy (and FAISS HNSW) in memory.

Rows are appended in insertion order; an updated document gets a new row and its old row is
dropped.  Exact search is a matrix product; above ``ann_threshold`` live vectors an HNSW graph
is built once and reused, and rows added after the build are searched exactly beside it.
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


def _locked(fn):  # noqa: ANN001, ANN202
    def wrapper(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        with self._lock:
            return fn(self, *args, **kwargs)

    wrapper.__doc__ = fn.__doc__
    return wrapper


class VectorStore:
    def __init__(self, path: Path, dim: int, ann_threshold: int) -> None:
        self.path = path
        self.dim = dim
        self.ann_threshold = ann_threshold
        self._conn: sqlite3.Connection | None = None
        self.generation = -1
        self._lock = threading.RLock()
        self._reset_memory()

    # -- persistence ---------------------------------------------------------------------
    def _reset_memory(self) -> None:
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.mat = np.zeros((0, self.dim), dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.kind = np.zeros(0, dtype=np.int8)
        self.category = np.zeros(0, dtype=np.int32)
        self.status = np.zeros(0, dtype=np.int32)
        self.created = np.zeros(0, dtype=np.float64)
        self.categories = _Vocab()
        self.statuses = _Vocab()
        self.n = 0
        self._ann = None
        self._ann_rows = 0
        self._ann_dead = 0

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (id TEXT PRIMARY KEY, kind TEXT, "
                "category TEXT, status TEXT, created REAL, vector BLOB NOT NULL)"
            )
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
            "SELECT id, kind, category, status, created, vector FROM vectors ORDER BY rowid"
        ).fetchall()
        self._grow(len(rows))
        for doc_id, kind, category, status, created, blob in rows:
            self._append(doc_id, kind, category, status, created, np.frombuffer(blob, np.float32))
        self.generation = gen

    def _grow(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self.alive):
            return
        cap = max(need, int(len(self.alive) * 1.5) + 1024)
        mat = np.zeros((cap, self.dim), dtype=np.float32)
        mat[: self.n] = self.mat[: self.n]
        self.mat = mat
        for name, dtype in (
            ("alive", bool),
            ("kind", np.int8),
            ("category", np.int32),
            ("status", np.int32),
            ("created", np.float64),
        ):
            arr = np.zeros(cap, dtype=dtype)
            arr[: self.n] = getattr(self, name)[: self.n]
            setattr(self, name, arr)

    def _append(
        self,
        doc_id: str,
        kind: str,
        category: str | None,
        status: str | None,
        created: float | None,
        vector: np.ndarray,
    ) -> None:
        old = self.pos.get(doc_id)
        if old is not None:
            self.alive[old] = False
            if old < self._ann_rows:
                self._ann_dead += 1
        i = self.n
        self.mat[i] = vector
        self.alive[i] = True
        self.kind[i] = _KINDS.get(kind, 2)
        self.category[i] = self.categories.code(category)
        self.status[i] = self.statuses.code(status)
        self.created[i] = np.nan if created is None else created
        self.ids.append(doc_id)
        self.pos[doc_id] = i
        self.n += 1

    @_locked
    def upsert(self, docs: Sequence[IndexDoc]) -> None:
        self.refresh()
        rows = []
        for d in docs:
            vec = np.asarray(d.vector, dtype=np.float32).reshape(-1)
            if vec.shape[0] != self.dim:
                raise ValueError(f"vector of {d.id} has {vec.shape[0]} dims, index has {self.dim}")
            created = d.created_at.timestamp() if isinstance(d.created_at, datetime) else None
            rows.append((d.id, d.kind, d.category, d.status, created, vec.tobytes()))
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?,?,?,?,?,?)", rows)
            self.conn.execute("UPDATE meta SET value = value + 1 WHERE key='generation'")
        self._grow(len(rows))
        for doc_id, kind, category, status, created, blob in rows:
            self._append(doc_id, kind, category, status, created, np.frombuffer(blob, np.float32))
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
                self.alive[p] = False
                if p < self._ann_rows:
                    self._ann_dead += 1
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
    def mask(self, filters: Filters | None) -> np.ndarray:
        """Boolean mask over rows: alive and matching the filters."""
        self.refresh()
        m = self.alive[: self.n].copy()
        if filters is None:
            return m
        if filters.kinds:
            m &= np.isin(self.kind[: self.n], [_KINDS.get(k, 2) for k in filters.kinds])
        if filters.categories:
            m &= np.isin(self.category[: self.n], self.categories.lookup(filters.categories))
        if filters.statuses:
            m &= np.isin(self.status[: self.n], self.statuses.lookup(filters.statuses))
        created = self.created[: self.n]
        if filters.date_from:
            m &= created >= filters.date_from.timestamp()
        if filters.date_to:
            m &= created <= filters.date_to.timestamp()
        for doc_id in filters.exclude_ids or ():
            p = self.pos.get(doc_id)
            if p is not None:
                m[p] = False
        return m

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
        mask = self.mask(filters) if filtered else self.alive[:n]
        live = int(mask.sum()) if filtered else len(self.pos)
        if live == 0:
            return []
        use_ann = len(self.pos) >= self.ann_threshold and (not filtered or live > 0.3 * n)
        if use_ann:
            return self._search_ann(q, k, mask)
        if live < n:
            rows = np.flatnonzero(mask)
            scores = self.mat[rows] @ q
        else:
            rows = None
            scores = self.mat[:n] @ q
        top = _top(scores, k)
        if rows is not None:
            return [(self.ids[rows[i]], float(scores[i])) for i in top]
        return [(self.ids[i], float(scores[i])) for i in top]

    def _ensure_ann(self) -> None:
        stale = self.n - self._ann_rows + self._ann_dead
        if self._ann is not None and stale <= 0.2 * max(self._ann_rows, 1):
            return
        import faiss

        index = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
        index.add(np.ascontiguousarray(self.mat[: self.n]))
        self._ann, self._ann_rows, self._ann_dead = index, self.n, int((~self.alive[: self.n]).sum())

    def _search_ann(self, q: np.ndarray, k: int, mask: np.ndarray) -> list[tuple[str, float]]:
        self._ensure_ann()
        assert self._ann is not None
        built = self._ann_rows
        live_share = max(float(mask[:built].mean()) if built else 1.0, 1e-3)
        fetch = min(built, int(k / live_share * 1.5) + 16)
        scores, rows = self._ann.search(q.reshape(1, -1), fetch)
        found = [
            (int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0 and mask[r]
        ]
        if self.n > built:  # rows added since the graph was built: exact
            tail = np.flatnonzero(mask[built : self.n]) + built
            if len(tail):
                ts = self.mat[tail] @ q
                found += [(int(r), float(s)) for r, s in zip(tail, ts, strict=True)]
        found.sort(key=lambda rs: -rs[1])
        return [(self.ids[r], s) for r, s in found[:k]]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]
