"""The index sync worker: the search index is derived state, brought up to date off the
request path.

A write commits the SQL record and calls :meth:`IndexSync.wake`; one background thread (in
``firstline serve``) drains the pending rows -- rows whose ``indexed_hash`` differs from their
``content_hash`` -- in batches, retrying with exponential backoff while the search engine is
unreachable.  It drains once at start-up (after a kill -9 nothing waits for a later write)
and at least every ``sync.interval_seconds``.  The CLI runs the same :meth:`IndexSync.drain`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from core.errors import FirstlineError
from core.settings import SyncSettings
from core.time import iso, utcnow
from core.worker import BackgroundWorker
from indexer.ingest import Ingestor, SyncResult


class IndexSync(BackgroundWorker):
    """Drains pending rows; as a thread when started, or one pass at a time (``drain``)."""

    label = "index sync"
    thread_name = "firstline-index-sync"

    def __init__(self, ingestor: Callable[[], Ingestor], settings: SyncSettings) -> None:
        super().__init__(settings.interval_seconds, 0.5, settings.backoff_max_seconds)
        self._ingestor = ingestor
        self.settings = settings
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

    def run_pass(self) -> SyncResult:
        return self.drain()

    def crashed(self) -> None:
        self.failures += 1
        self.last_error, self.last_error_at = "internal error", iso(utcnow())

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
