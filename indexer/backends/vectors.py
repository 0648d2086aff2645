"""Dense-vector store of the embedded backend: SQLite on disk, numpy (and FAISS HNSW) in memory.

Each document has a title vector and one or more chunk vectors (title + a window of the body);
its dense score for a query q is ``w·cos(q, title) + (1-w)·max_chunks cos(q, chunk)``.
Rows are appended in insertion order; an updated document gets new rows and its old rows are
dropped.  Exact search is a matrix product; above ``ann_threshold`` documents an HNSW graph over
the chunk vectors proposes candidates, which are then scored exactly; rows the graph does not
hold (written after it) are searched exactly beside it.  The graph is never built or loaded by
a search: the process that writes extends and persists it (:mod:`indexer.backends.ann`), and
every process loads a new one in a background thread, answering from the one it has meanwhile.

Readers never wait for writers: every write publishes an immutable :class:`VectorSnapshot`
(views of the append-only arrays up to the rows it knows, and its own copy of the liveness
mask and the id → row map), and a search works on the snapshot it picked up.  Writers
serialise on a lock of their own.  Another process's writes are noticed through a generation
number in the SQLite file, checked per search, and read incrementally from a change log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.backends import ann as ann_files
from indexer.backends.text import doc_key
from indexer.types import Filters, IndexDoc

log = logging.getLogger("firstline.ann")

_KINDS = {"ticket": 0, "article": 1}
# Transactions kept in the change log; a reader further behind reloads the whole store.
_CHANGE_LOG_KEEP = 2000
_SQL_VARS = 500


class _Vocab:
    """Small string <-> int code table for filterable metadata (codes are only ever added)."""

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
    """A growable 1-D or 2-D numpy array.  Growing allocates a new array, so a view taken
    earlier keeps its data; rows are only ever written past the published length."""

    def __init__(self, dtype: type | np.dtype, width: int | None = None) -> None:
        self.dtype, self.width = dtype, width
        self.a = np.zeros((0, width) if width else 0, dtype=dtype)

    def ensure(self, n: int) -> None:
        if n <= len(self.a):
            return
        # An eighth to spare even on a process's first load: the first commit another process
        # makes then appends in place instead of copying every vector inside a search.
        cap = max(n + n // 8, int(len(self.a) * 1.5) + 1024)
        new = np.zeros((cap, self.width) if self.width else cap, dtype=self.dtype)
        new[: len(self.a)] = self.a
        self.a = new


@dataclass(frozen=True)
class VectorSnapshot:
    """What one search sees: never changed after it is published."""

    store: VectorStore
    epoch: int
    generation: int
    n: int
    m: int
    ids: list[str]  # append-only list shared with later snapshots; rows < n are fixed
    pos: dict[str, int]
    title: np.ndarray
    chunks: np.ndarray
    cstart: np.ndarray
    ccount: np.ndarray
    alive: np.ndarray
    kind: np.ndarray
    category: np.ndarray
    status: np.ndarray
    created: np.ndarray
    answered: np.ndarray  # 1 holds an answer, 0 does not, -1 unknown (indexed before it was kept)
    key: np.ndarray  # doc_key of each row (the graph's document numbers)
    gen: np.ndarray  # the store generation that wrote each row
    categories: _Vocab
    statuses: _Vocab
    dead_chunks: int

    def live_ids(self) -> set[str]:
        return set(self.pos)

    def mask(self, filters: Filters | None) -> np.ndarray:
        """Boolean mask over document rows: alive and matching the filters."""
        m = self.alive.copy()
        if filters is None:
            return m
        if filters.kinds:
            m &= np.isin(self.kind, [_KINDS.get(k, 2) for k in filters.kinds])
        if filters.categories:
            m &= np.isin(self.category, self.categories.lookup(filters.categories))
        if filters.statuses:
            m &= np.isin(self.status, self.statuses.lookup(filters.statuses))
        if filters.date_from:
            m &= self.created >= filters.date_from.timestamp()
        if filters.date_to:
            m &= self.created <= filters.date_to.timestamp()
        if filters.answered:
            m &= self.answered != 0
        for doc_id in filters.exclude_ids or ():
            p = self.pos.get(doc_id)
            if p is not None:
                m[p] = False
        return m

    def _score_rows(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact dense scores of the given document rows."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        starts, counts = self.cstart[rows], self.ccount[rows]
        if np.all(counts == 1):
            chunks = self.chunks[starts]
        else:
            idx = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts, strict=True)])
            chunks = self.chunks[idx]
        return dense_scores(q, self.title[rows], chunks, counts, self.store.title_weight)

    def _score_all(self, q: np.ndarray) -> np.ndarray:
        chunk_max = np.maximum.reduceat(self.chunks @ q, self.cstart)
        w = self.store.title_weight
        return w * (self.title @ q) + (1 - w) * chunk_max

    def scores(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Exact dense scores of the given documents (unknown ids are left out)."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        known = [(d, self.pos[d]) for d in ids if d in self.pos]
        if not known:
            return {}
        s = self._score_rows(q, np.array([p for _, p in known]))
        return {d: float(v) for (d, _), v in zip(known, s, strict=True)}

    def similarity_to(self, doc_id: str, ids: Sequence[str]) -> dict[str, float]:
        """Cosine between a document's first chunk and those of others (pseudo-feedback)."""
        p = self.pos.get(doc_id)
        if p is None:
            return {}
        ref = self.chunks[self.cstart[p]]
        known = [(d, self.pos[d]) for d in ids if d in self.pos]
        rows = self.cstart[[q for _, q in known]]
        sims = self.chunks[rows] @ ref
        return {d: float(s) for (d, _), s in zip(known, sims, strict=True)}

    def search(
        self, vector: np.ndarray, k: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        n = self.n
        if n == 0 or k <= 0:
            return []
        filtered = filters is not None and not filters.is_empty()
        mask = self.mask(filters) if filtered else self.alive
        live = int(mask.sum())
        if live == 0:
            return []
        ann = None
        if len(self.pos) >= self.store.ann_threshold and (not filtered or live > 0.3 * n):
            ann = self.store.ann_for(self)
        if ann is not None:
            rows = self._ann_candidates(ann, q, k, mask)
            scores = self._score_rows(q, rows)
        elif live < 0.5 * n:
            rows = np.flatnonzero(mask)
            scores = self._score_rows(q, rows)
        else:
            scores = np.where(mask, self._score_all(q), -np.inf)
            rows = None
        top = _top(scores, k)
        if rows is None:
            return [(self.ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
        return [(self.ids[rows[i]], float(scores[i])) for i in top]

    def _ann_candidates(
        self, ann: ann_files.Mapped, q: np.ndarray, k: int, mask: np.ndarray
    ) -> np.ndarray:
        """Document rows worth scoring exactly: HNSW neighbours plus the rows the graph lacks."""
        live_share = max(float(mask.mean()), 1e-3)
        fetch = min(ann.graph.size, int((2 * k / live_share + 32) / max(ann.valid_share, 0.5)))
        _, hits = ann.graph.index.search(q.reshape(1, -1), fetch)
        rows = ann.rows[hits[0][hits[0] >= 0]]
        newer = np.arange(min(ann.mapped, self.n), self.n)
        cand = np.unique(np.concatenate([rows[rows >= 0], ann.uncovered, newer]))
        cand = cand[cand < self.n]  # mapped on a later snapshot of this epoch
        return cand[mask[cand]]


class VectorStore:
    def __init__(self, path: Path, dim: int, ann_threshold: int, title_weight: float = 0.3) -> None:
        self.path = path
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.title_weight = title_weight
        self._conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self.generation = -1
        self._epoch = 0
        self._lock = threading.RLock()  # writers and reloads; readers never take it blocking
        self._read_lock = threading.Lock()  # the generation probe's connection, microseconds
        self.graphs = ann_files.GraphLoader(path.parent, dim, self.snapshot)
        self.maintainer = ann_files.Maintainer(
            path, dim, lambda: self.ann_threshold, self.graphs.adopt
        )
        self._snap: VectorSnapshot | None = None
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
        self._answered = _Grow(np.int8)
        self._key = _Grow(np.int64)
        self._gen = _Grow(np.int64)
        self.categories = _Vocab()
        self.statuses = _Vocab()
        self.n = 0  # document rows (alive or not)
        self.m = 0  # chunk rows
        self._dead_chunks = 0
        self._epoch += 1  # row numbers of an older epoch mean nothing any more

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (id TEXT PRIMARY KEY, kind TEXT, "
            "category TEXT, status TEXT, created REAL, title BLOB NOT NULL, "
            "chunks BLOB NOT NULL)"
        )
        cols = {r[1] for r in conn.execute("PRAGMA table_info(vectors)")}
        if "hash" not in cols:  # stores made before `verify` existed
            conn.execute("ALTER TABLE vectors ADD COLUMN hash TEXT")
        if "answered" not in cols:  # stores made before it was kept: NULL, unknown
            conn.execute("ALTER TABLE vectors ADD COLUMN answered INTEGER")
        if "gen" not in cols:  # the generation that wrote the row; NULL (0) before it was kept
            conn.execute("ALTER TABLE vectors ADD COLUMN gen INTEGER")
        conn.execute("CREATE INDEX IF NOT EXISTS vectors_gen ON vectors (gen, id)")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', 0)")
        # Which documents each write transaction (generation) touched, so another process
        # catches up by reading only those rows.
        conn.execute("CREATE TABLE IF NOT EXISTS changes (generation INTEGER, id TEXT)")
        conn.execute("CREATE INDEX IF NOT EXISTS changes_generation ON changes (generation)")
        conn.commit()
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def stored_generation(self) -> int:
        """The generation on disk, read on a connection of its own so that a probe never
        waits for a writer's transaction (WAL readers see the last commit)."""
        with self._read_lock:
            if self._read_conn is None:
                self._read_conn = self._connect()
            row = self._read_conn.execute(
                "SELECT value FROM meta WHERE key='generation'"
            ).fetchone()
        return int(row[0])

    def snapshot(self) -> VectorSnapshot:
        """The current snapshot, first catching up with another process's commits unless a
        writer of this process is busy (then the snapshot before its write is good enough)."""
        snap = self._snap
        if snap is not None and self.stored_generation() == snap.generation:
            return snap
        if self._lock.acquire(blocking=snap is None):
            try:
                self.refresh()
            finally:
                self._lock.release()
        assert self._snap is not None
        return self._snap

    def refresh(self) -> None:
        """Catch up with the store on disk (another process's commits, or a fresh open)."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN")  # one read transaction: generation, log and rows agree
            try:
                gen = int(
                    conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]
                )
                if gen != self.generation:
                    if not self._catch_up(conn, gen):
                        self._reset_memory()
                        rows = conn.execute(
                            "SELECT id, kind, category, status, created, title, chunks, answered, "
                            "gen FROM vectors ORDER BY rowid"
                        ).fetchall()
                        self._append_rows(rows)
                    self.generation = gen
            finally:
                conn.rollback()
            if self._snap is None or self._snap.generation != self.generation:
                self._publish()

    def _catch_up(self, conn: sqlite3.Connection, gen: int) -> bool:
        """Apply the transactions after ours from the change log; False when it does not
        reach back that far (trimmed, or a store written before the log existed)."""
        if self.generation < 0 or gen < self.generation:
            return False
        first = conn.execute(
            "SELECT MIN(generation) FROM changes WHERE generation > ?", (self.generation,)
        ).fetchone()[0]
        if first != self.generation + 1:
            return False
        changed = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT id FROM changes WHERE generation > ?", (self.generation,)
            )
        ]
        rows: list[tuple] = []
        for i in range(0, len(changed), _SQL_VARS):
            part = changed[i : i + _SQL_VARS]
            rows += conn.execute(
                "SELECT id, kind, category, status, created, title, chunks, answered, gen "
                f"FROM vectors WHERE id IN ({','.join('?' * len(part))}) ORDER BY rowid",
                part,
            ).fetchall()
        present = {r[0] for r in rows}
        for doc_id in changed:
            if doc_id not in present:
                p = self.pos.pop(doc_id, None)
                if p is not None:
                    self._kill(p)
        self._append_rows(rows)
        return True

    def _publish(self) -> None:
        n, m = self.n, self.m
        self._snap = VectorSnapshot(
            store=self,
            epoch=self._epoch,
            generation=self.generation,
            n=n,
            m=m,
            ids=self.ids,
            pos=dict(self.pos),
            title=self._title.a[:n],
            chunks=self._chunks.a[:m],
            cstart=self._cstart.a[:n],
            ccount=self._ccount.a[:n],
            alive=self._alive.a[:n].copy(),
            kind=self._kind.a[:n],
            category=self._category.a[:n],
            status=self._status.a[:n],
            created=self._created.a[:n],
            answered=self._answered.a[:n],
            key=self._key.a[:n],
            gen=self._gen.a[:n],
            categories=self.categories,
            statuses=self.statuses,
            dead_chunks=self._dead_chunks,
        )

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
            self._answered,
            self._key,
            self._gen,
        ):
            g.ensure(self.n + len(rows))
        self._chunks.ensure(self.m + chunk_total)
        for doc_id, kind, category, status, created, title, chunks, answered, gen in rows:
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
            self._answered.a[i] = -1 if answered is None else int(bool(answered))
            self._key.a[i] = doc_key(doc_id)
            self._gen.a[i] = gen or 0
            self.ids.append(doc_id)
            self.pos[doc_id] = i
            self.n += 1
            self.m += len(c)

    def _kill(self, p: int) -> None:
        self._alive.a[p] = False
        self._dead_chunks += int(self._ccount.a[p])

    def _next_generation(self) -> int:
        """Bump the generation, inside the caller's transaction."""
        conn = self.conn
        conn.execute("UPDATE meta SET value = value + 1 WHERE key='generation'")
        return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    def _log_change(self, gen: int, ids: Sequence[str]) -> None:
        """Log the ids a transaction touched, inside it."""
        conn = self.conn
        conn.executemany("INSERT INTO changes VALUES (?, ?)", [(gen, i) for i in ids])
        conn.execute("DELETE FROM changes WHERE generation <= ?", (gen - _CHANGE_LOG_KEEP,))

    def _after_write(self, gen: int) -> None:
        # Another process committed between our refresh and our write: its rows are not in
        # memory, so the next probe reloads (generation -1 never matches the disk).
        self.generation = gen if gen == self.generation + 1 else -1
        self._publish()
        if len(self.pos) >= self.ann_threshold:
            self.maintainer.poke()

    def upsert(self, docs: Sequence[IndexDoc]) -> None:
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
                    int(d.answered),
                )
            )
        with self._lock:
            self.refresh()
            with self.conn:
                gen = self._next_generation()
                self.conn.executemany(
                    "INSERT OR REPLACE INTO vectors "
                    "(id, kind, category, status, created, title, chunks, answered, gen, hash) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(*r, gen, h) for r, h in zip(rows, hashes, strict=True)],
                )
                self._log_change(gen, [r[0] for r in rows])
            self._append_rows([(*r, gen) for r in rows])
            self._after_write(gen)

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            self.refresh()
            with self.conn:
                gen = self._next_generation()
                self.conn.executemany("DELETE FROM vectors WHERE id = ?", [(i,) for i in ids])
                self._log_change(gen, ids)
            for doc_id in ids:
                p = self.pos.pop(doc_id, None)
                if p is not None:
                    self._kill(p)
            self._after_write(gen)

    def close(self) -> None:
        """Close the connections, first bringing the persisted graph up to date when this
        process wrote since (a CLI import leaves its graph current)."""
        self.maintainer.stop()
        if self.maintainer.dirty:
            try:
                self.maintainer.run()
            except Exception as e:  # noqa: BLE001 - the next writer extends it
                log.warning("the ANN graph of %s was not updated: %s", self.path.parent, e)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            with self._read_lock:
                if self._read_conn is not None:
                    self._read_conn.close()
                    self._read_conn = None

    # -- HNSW graph ----------------------------------------------------------------------
    def ann_for(self, snap: VectorSnapshot) -> ann_files.Mapped | None:
        """The graph mapped onto ``snap``'s rows, or None (the search is exact); never builds
        or loads one in the caller's thread (:meth:`ann_files.GraphLoader.for_snapshot`)."""
        return self.graphs.for_snapshot(snap)

    def ann_state(self) -> dict[str, Any]:
        """What dense search runs on here (describe())."""
        state = self.graphs.state(self._snap.n if self._snap is not None else 0)
        if self.maintainer.last_error:
            state["last_error"] = self.maintainer.last_error
        return state

    # -- reads on the current snapshot (kept for callers that ask the store directly) ----
    def live_ids(self) -> set[str]:
        return self.snapshot().live_ids()

    def hashes(self) -> dict[str, str | None]:
        """Every stored document's id and the content hash it was indexed from."""
        with self._lock:
            return dict(self.conn.execute("SELECT id, hash FROM vectors").fetchall())

    def mask(self, filters: Filters | None) -> np.ndarray:
        return self.snapshot().mask(filters)

    def scores(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        return self.snapshot().scores(vector, ids)

    def similarity_to(self, doc_id: str, ids: Sequence[str]) -> dict[str, float]:
        return self.snapshot().similarity_to(doc_id, ids)

    def search(
        self, vector: np.ndarray, k: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        return self.snapshot().search(vector, k, filters)


def dense_scores(
    q: np.ndarray, title: np.ndarray, chunks: np.ndarray, counts: np.ndarray, title_weight: float
) -> np.ndarray:
    """The dense score of each document: w·cos(q, title) + (1 - w)·max over its chunks of
    cos(q, chunk), vectors unit length.  ``title`` holds one row per document, ``chunks`` each
    document's ``counts[i]`` chunk rows one after another (every count at least 1)."""
    if np.all(counts == 1):
        chunk_max = chunks @ q
    else:
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        chunk_max = np.maximum.reduceat(chunks @ q, offsets)
    return title_weight * (title @ q) + (1 - title_weight) * chunk_max


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]
