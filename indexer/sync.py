"""The index sync worker: the search index is derived state, brought up to date off the
request path.

A write commits the SQL record and calls :meth:`IndexSync.wake`; one background thread (in
``firstline serve``) drains the pending rows -- rows whose ``indexed_hash`` differs from their
``content_hash`` -- in batches, retrying with exponential backoff while the search engine is
unreachable.  It drains once at start-up (after a kill -9 nothing waits for a later write)
and at least every ``sync.interval_seconds``.  The CLI runs the same :meth:`IndexSync.drain`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from core.errors import FirstlineError
from core.settings import SyncSettings
from core.time import iso, utcnow
from indexer.ingest import Ingestor, SyncResult

log = logging.getLogger("firstline.sync")


class IndexSync:
    """Drains pending rows; as a thread when started, or one pass at a time (``drain``)."""

    def __init__(self, ingestor: Callable[[], Ingestor], settings: SyncSettings) -> None:
        self._ingestor = ingestor
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._asked = 0  # passes asked for (wake calls)
        self._done = 0  # the last asked-for pass a finished pass covered
        self._thread: threading.Thread | None = None
        self._drain_lock = threading.Lock()
        self.failures = 0  # consecutive failed passes
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self.last_success_at: str | None = None
        self.refused: dict[str, str] = {}  # id -> reason, from the last pass

    # -- one pass --------------------------------------------------------------------------
    def drain(self) -> SyncResult:
        """Index every pending row once (the CLI's `reindex --pending` and the worker's pass)."""
        with self._drain_lock:
            try:
                ingestor = self._ingestor()
                result = ingestor.sync_pending()
                # The ANN graph follows the index off the request path too (returns at once).
                ingestor.backend.maintain()
            except FirstlineError as e:
                self.failures += 1
                self.last_error, self.last_error_at = str(e), iso(utcnow())
                raise
            self.failures = 0
            self.refused = {f.id: f.reason for f in result.failures}
            self.last_success_at = iso(utcnow())
            if result.failures:
                self.last_error = f"{len(result.failures)} documents refused by the index"
                self.last_error_at = self.last_success_at
            return result

    # -- the thread ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.wake()  # drain at start-up
        self._thread = threading.Thread(target=self._run, name="firstline-index-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """The record changed: index it soon (returns at once)."""
        with self._cond:
            self._asked += 1
        self._wake.set()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until a pass that started after every wake so far has finished (whether it
        succeeded or not): tests use it to read after their writes."""
        with self._cond:
            target = self._asked
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            self._wake.wait(delay or self.settings.interval_seconds)
            if self._stop.is_set():
                break
            with self._cond:
                self._wake.clear()
                covers = self._asked
            try:
                self.drain()
                delay = 0.0
            except FirstlineError as e:
                delay = min(self.settings.backoff_max_seconds, max(0.5, (delay or 0.25) * 2))
                log.warning("index sync failed (retry in %.1f s): %s", delay, e)
            except Exception:  # a bug must not kill the worker silently  # noqa: BLE001
                self.failures += 1
                self.last_error, self.last_error_at = "internal error", iso(utcnow())
                log.exception("index sync pass crashed")
                delay = self.settings.backoff_max_seconds
            with self._cond:
                self._done = max(self._done, covers)
                self._cond.notify_all()

    # -- status ----------------------------------------------------------------------------
    def status(self, pending: dict[str, Any]) -> dict[str, Any]:
        """The worker's state beside ``pending`` (``Ingestor.pending_status``)."""
        age = pending.get("oldest_pending_seconds")
        stuck = self.failures >= self.settings.stuck_failures or (
            age is not None and age > self.settings.stuck_after_seconds
        )
        return {
            **pending,
            "worker": "running" if self.running else "stopped",
            "consecutive_failures": self.failures,
            "last_success": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "refused": [{"id": i, "reason": r} for i, r in list(self.refused.items())[:20]],
            "stuck": stuck,
        }
