"""The HNSW graph of the embedded vector store: built and extended by the process that writes,
persisted beside the store, loaded by readers in the background -- never in a search.

A graph covers every store row present at one store ``generation``; for each of its vectors it
keeps the document (as its packed ``doc_key``) and the generation that wrote the row, so a reader
maps vectors to its own in-memory rows and recognises the vectors of documents replaced or
deleted since (FAISS HNSW can add vectors but not remove them: those stay in the graph, skipped).
The writer rebuilds the graph in one piece once such stale vectors and the vectors added since
its last full build pass ``REBUILD_SHARE`` of it: a graph grown by many separate additions finds
fewer true neighbours (measured in bench/README.md), so a bulk import is rebuilt, geometrically
often, and a trickle of commits is added.

Files, in the store's version folder::

    ann.json              the manifest: seq, generation, file names, sizes (renamed into place)
    ann-<seq>.faiss       the FAISS index
    ann-<seq>.npz         keys and generations of its vectors
    ann.lock              held (flock) by the one process extending the graph

Each file is written under a temporary name, fsynced and renamed, the manifest last; the
previous graph's files stay until the next one replaces them, so a reader loading it is not cut
short.  Writer side: :class:`Maintainer`; reader side: :class:`GraphLoader`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.backends.text import doc_key

log = logging.getLogger("firstline.ann")

MANIFEST = "ann.json"
FORMAT = 1
# Stale vectors (document since replaced or deleted) plus vectors added since the last full
# build, as a share of that build, above which the writer rebuilds instead of extending.
REBUILD_SHARE = 0.2
HNSW_M, EF_CONSTRUCTION, EF_SEARCH = 32, 80, 128
_READ_BATCH = 10_000  # rows read at a time

# What this process did with graphs, for describe() and the tests: builds and extensions happen
# only in a writer's maintenance, loads only in a reader's background thread.
STATS = {"builds": 0, "extends": 0, "loads": 0}
_stats_lock = threading.Lock()


def count(event: str) -> None:
    with _stats_lock:
        STATS[event] += 1


@dataclass(frozen=True)
class Graph:
    """An HNSW graph over chunk vectors; vector i came from document ``keys[i]`` as written at
    generation ``gens[i]``.  Never changed once published (extending makes a new one)."""

    index: Any
    seq: int
    generation: int
    keys: np.ndarray  # int64
    gens: np.ndarray  # int64
    built: int  # vectors at its last full build (the rest were added since)

    @property
    def size(self) -> int:
        return len(self.keys)


def stored_rows_matching(
    cur_keys: np.ndarray, cur_gens: np.ndarray, keys: np.ndarray, gens: np.ndarray
) -> np.ndarray:
    """For each (key, gen), the index into ``cur_*`` of the row with that key written at that
    generation, or -1 (the document was replaced or deleted since, or is not known yet).
    ``cur_keys`` holds each key once."""
    out = np.full(len(keys), -1, dtype=np.int64)
    if len(cur_keys) == 0 or len(keys) == 0:
        return out
    order = np.argsort(cur_keys, kind="stable")
    sorted_keys = cur_keys[order]
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    row = order[at]
    ok = (sorted_keys[at] == keys) & (cur_gens[row] == gens)
    out[ok] = row[ok]
    return out


@dataclass(frozen=True)
class Mapped:
    """A graph mapped onto the document rows of one in-memory epoch of a reader.  Rows at or
    past ``mapped`` and the ``uncovered`` rows before it are not in the graph: searched exactly."""

    graph: Graph
    epoch: int
    rows: np.ndarray  # graph vector -> document row, -1 for a replaced or deleted document
    mapped: int
    uncovered: np.ndarray
    valid_share: float

    def exact_rows(self, n: int) -> int:
        return len(self.uncovered) + max(0, n - self.mapped)


class GraphLoader:
    """The reader side, one per vector store: which graph this process searches.

    ``for_snapshot`` runs in every search and does no more than a ``stat`` of the manifest: a
    new graph on disk, or a snapshot of a new epoch (the store was reloaded), hands the work to
    a background thread, and the search goes on with the graph it has, or exactly.
    ``snapshot`` gives the store's current snapshot (rows ``alive``, ``key``, ``gen``)."""

    def __init__(self, folder: Path, dim: int, snapshot: Callable[[], Any]) -> None:
        self.folder = folder
        self.dim = dim
        self._snapshot = snapshot
        self.current: Mapped | None = None
        self._lock = threading.Lock()
        self.loading = False
        self._again = False
        self._seen: tuple[int, int, int] | None = None
        self._failed: tuple[int, int, int] | None = None

    def for_snapshot(self, snap: Any) -> Mapped | None:
        sig = manifest_signature(self.folder)
        if sig != self._seen and sig is not None and sig != self._failed:
            self._seen = sig
            self._in_background()
        mapped = self.current
        if mapped is None:
            return None
        if mapped.epoch != snap.epoch:
            if mapped.epoch < snap.epoch:
                self._in_background()
            return None
        return mapped

    def adopt(self, graph: Graph) -> None:
        """This process's maintainer made ``graph``: search it without reading it back."""
        self._seen = manifest_signature(self.folder)
        self._map(graph)

    def state(self, n: int) -> dict[str, Any]:
        mapped = self.current
        out: dict[str, Any] = {"graph": None, **STATS}
        if mapped is not None:
            out["graph"] = {
                "seq": mapped.graph.seq,
                "generation": mapped.graph.generation,
                "vectors": mapped.graph.size,
                "rows_searched_exactly": mapped.exact_rows(n),
            }
        disk = read_manifest(self.folder)
        out["on_disk"] = None if disk is None else {k: disk[k] for k in ("seq", "generation")}
        out["loading"] = self.loading
        return out

    def _in_background(self) -> None:
        with self._lock:
            if self.loading:
                self._again = True
                return
            self.loading, self._again = True, False
        threading.Thread(target=self._loop, name="firstline-ann-load", daemon=True).start()

    def _loop(self) -> None:
        while True:
            sig = manifest_signature(self.folder)
            try:
                self._load()
            except Exception as e:  # noqa: BLE001 - searches stay exact; a new manifest retries
                self._failed = sig
                log.warning("the ANN graph of %s was not loaded: %s", self.folder, e)
            with self._lock:
                if not self._again:
                    self.loading = False
                    return
                self._again = False

    def _load(self) -> None:
        manifest = read_manifest(self.folder)
        if manifest is None or manifest.get("dim") != self.dim:
            return
        have = self.current
        if have is not None and have.graph.seq >= int(manifest["seq"]):
            graph = have.graph  # the same graph, mapped onto a new epoch
        else:
            graph = load(self.folder, manifest)
            count("loads")
        self._map(graph)

    def _map(self, graph: Graph) -> None:
        snap = self._snapshot()
        alive = np.flatnonzero(snap.alive)
        found = stored_rows_matching(snap.key[alive], snap.gen[alive], graph.keys, graph.gens)
        rows = np.where(found >= 0, alive[found], -1)
        covered = np.zeros(snap.n, dtype=bool)
        covered[rows[rows >= 0]] = True
        mapped = Mapped(
            graph=graph,
            epoch=snap.epoch,
            rows=rows,
            mapped=snap.n,
            uncovered=np.flatnonzero(snap.alive & ~covered),
            valid_share=float((rows >= 0).mean()) if len(rows) else 1.0,
        )
        with self._lock:
            old = self.current
            if old is None or (old.graph.seq, old.epoch) <= (graph.seq, snap.epoch):
                self.current = mapped


# -- files -----------------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return m if m.get("format") == FORMAT else None


def manifest_signature(folder: Path) -> tuple[int, int, int] | None:
    """Cheap to read per search: changes whenever a new manifest is renamed into place."""
    try:
        st = os.stat(folder / MANIFEST)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def load(folder: Path, manifest: dict[str, Any]) -> Graph:
    import faiss

    index: Any = faiss.read_index(str(folder / manifest["index"]))
    index.hnsw.efSearch = EF_SEARCH
    with np.load(folder / manifest["owners"]) as owners:
        keys, gens = owners["keys"], owners["gens"]
    if len(keys) != index.ntotal:
        raise ValueError(f"graph {manifest['index']} does not match its owners file")
    seq, generation = int(manifest["seq"]), int(manifest["generation"])
    return Graph(index, seq, generation, keys, gens, int(manifest.get("built", len(keys))))


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(folder: Path, graph: Graph, dim: int) -> None:
    """Persist ``graph`` and publish it through the manifest (the readers' switch)."""
    import faiss

    stem = f"ann-{graph.seq:08d}"

    def owners(p: Path) -> None:
        with p.open("wb") as f:
            np.savez(f, keys=graph.keys, gens=graph.gens)

    _write_atomic(folder / f"{stem}.faiss", lambda p: faiss.write_index(graph.index, str(p)))
    _write_atomic(folder / f"{stem}.npz", owners)
    manifest = {
        "format": FORMAT,
        "seq": graph.seq,
        "generation": graph.generation,
        "index": f"{stem}.faiss",
        "owners": f"{stem}.npz",
        "vectors": graph.size,
        "built": graph.built,
        "dim": dim,
        "written": datetime.now(UTC).isoformat(),
    }

    def publish(p: Path) -> None:
        p.write_text(json.dumps(manifest))

    _write_atomic(folder / MANIFEST, publish)
    _fsync_dir(folder)
    for old in folder.glob("ann-*"):
        seq = old.name[4:12]
        if seq.isdigit() and int(seq) < graph.seq - 1:  # the previous one may be loading
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- building --------------------------------------------------------------------------------
def _new_index(dim: int) -> Any:
    import faiss

    index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.hnsw.efSearch = EF_SEARCH
    return index


def _add_rows(
    index: Any, cursor: sqlite3.Cursor, dim: int, keys: list[np.ndarray], gens: list[np.ndarray]
) -> None:
    """Add the chunk vectors of the rows ``(id, gen, chunks)`` the cursor yields, in one call:
    FAISS HNSW fed in several batches makes a measurably worse graph."""
    vecs: list[np.ndarray] = []
    while batch := cursor.fetchmany(_READ_BATCH):
        rows = [np.frombuffer(chunks, np.float32).reshape(-1, dim) for _, _, chunks in batch]
        counts = [len(v) for v in rows]
        vecs += rows
        keys.append(np.repeat(np.array([doc_key(i) for i, _, _ in batch], np.int64), counts))
        gens.append(np.repeat(np.array([g for _, g, _ in batch], np.int64), counts))
    if vecs:
        index.add(np.ascontiguousarray(np.concatenate(vecs)))


class Maintainer:
    """Keeps the persisted graph of one vector store current, from the process that writes.

    ``poke`` after each commit: a background thread extends the graph once writes pause for
    ``debounce`` seconds (or have gone on for ``max_lag``).  Each pass rewrites the whole graph
    file, and readers search the rows it lacks exactly meanwhile (cheap for a few thousand), so
    a stream of small commits or a bulk import is folded into few passes rather than one per
    commit; ``run`` does it at once (``close`` and a rebuild's commit).  Across
    processes one extends at a time (``ann.lock``); another finding the graph current stops.
    """

    def __init__(
        self,
        db_path: Path,
        dim: int,
        threshold: Callable[[], int],
        adopt: Callable[[Graph], None],
        debounce: float = 5.0,
        max_lag: float = 60.0,
    ) -> None:
        self.db_path = db_path
        self.folder = db_path.parent
        self.dim = dim
        self._threshold = threshold
        self._adopt = adopt
        self.debounce, self.max_lag = debounce, max_lag
        self._cond = threading.Condition()
        self._dirty_since: float | None = None
        self._last_poke = 0.0
        self._thread: threading.Thread | None = None
        self._stop = False
        self._run_lock = threading.Lock()
        self.last_error: str | None = None

    def poke(self) -> None:
        """The store changed: bring the graph up to date soon (returns at once)."""
        with self._cond:
            now = time.monotonic()
            self._dirty_since = self._dirty_since or now
            self._last_poke = now
            if self._stop:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="firstline-ann-maintain", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    @property
    def dirty(self) -> bool:
        return self._dirty_since is not None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    if self._dirty_since is None:
                        return  # idle: the next poke starts a thread again
                    now = time.monotonic()
                    due = min(self._last_poke + self.debounce, self._dirty_since + self.max_lag)
                    if now >= due:
                        break
                    self._cond.wait(due - now)
                if self._stop:
                    return
            try:
                self.run()
            except Exception as e:  # noqa: BLE001 - readers search exactly meanwhile
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("the ANN graph of %s was not updated: %s", self.folder, e)
                with self._cond:
                    self._cond.wait(self.max_lag)

    def stop(self) -> None:
        """Stop the background thread (it finishes the pass it is in)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cond:
            self._stop = False  # a later write (the store reopens lazily) pokes again

    def run(self) -> Graph | None:
        """Build or extend the graph to the store's current generation, persist and publish
        it; None when there is nothing to do (current already, or below the threshold)."""
        with self._run_lock, _file_lock(self.folder / "ann.lock"):
            with self._cond:
                self._dirty_since = None  # a commit from here on asks for another pass
            conn = sqlite3.connect(self.db_path, timeout=30)
            try:
                graph, event = self._update(conn)
            finally:
                conn.close()
            if graph is None:
                return None
            save(self.folder, graph, self.dim)
            count(event)
            self.last_error = None
        self._adopt(graph)
        return graph

    def _update(self, conn: sqlite3.Connection) -> tuple[Graph | None, str]:
        conn.execute("BEGIN")  # one read transaction: generation and rows agree
        try:
            gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            live = int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            if live == 0 or live < self._threshold():
                return None, ""
            manifest = read_manifest(self.folder)
            if manifest and manifest.get("dim") != self.dim:
                manifest = None
            if manifest and int(manifest["generation"]) >= gen:
                return None, ""  # another process brought it up to date
            base = None
            if manifest:
                try:
                    base = load(self.folder, manifest)
                except Exception as e:  # noqa: BLE001 - a damaged file: build afresh
                    log.warning("rebuilding the ANN graph of %s: %s", self.folder, e)
            seq = int(manifest["seq"]) + 1 if manifest else 1
            if base is not None:
                held = conn.execute("SELECT id, COALESCE(gen, 0) FROM vectors").fetchall()
                cur_keys = np.array([doc_key(i) for i, _ in held], np.int64)
                cur_gens = np.array([g for _, g in held], np.int64)
                stale = int(
                    (stored_rows_matching(cur_keys, cur_gens, base.keys, base.gens) < 0).sum()
                )
                (new,) = conn.execute(
                    "SELECT COUNT(*) FROM vectors WHERE gen > ?", (base.generation,)
                ).fetchone()
                grown = base.size - base.built + int(new)  # documents; a lower bound on vectors
                if stale + grown <= REBUILD_SHARE * base.built:
                    keys, gens = [base.keys], [base.gens]
                    cursor = conn.execute(
                        "SELECT id, gen, chunks FROM vectors WHERE gen > ? ORDER BY rowid",
                        (base.generation,),
                    )
                    _add_rows(base.index, cursor, self.dim, keys, gens)
                    k, g = np.concatenate(keys), np.concatenate(gens)
                    return Graph(base.index, seq, gen, k, g, base.built), "extends"
            index = _new_index(self.dim)
            keys, gens = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
            cursor = conn.execute("SELECT id, COALESCE(gen, 0), chunks FROM vectors ORDER BY rowid")
            _add_rows(index, cursor, self.dim, keys, gens)
            k, g = np.concatenate(keys), np.concatenate(gens)
            return Graph(index, seq, gen, k, g, len(k)), "builds"
        finally:
            conn.rollback()
