"""The webhook worker: one background thread (in ``firstline serve``) that turns new audit
entries into deliveries and sends the due ones, at least every ``webhooks.interval_seconds``
and soon after :meth:`WebhookWorker.wake`.  The pattern is the index sync's
(:class:`indexer.sync.IndexSync`): start, stop, wake, wait until idle."""

from __future__ import annotations

import logging
import threading
from typing import Any

from connectors.webhooks import WebhookDispatcher
from core.errors import FirstlineError
from core.settings import WebhookSettings
from core.time import iso, utcnow

log = logging.getLogger("firstline.webhooks")


class WebhookWorker:
    """Runs :meth:`run_once` in a thread; constructing it does no I/O."""

    def __init__(self, dispatcher: WebhookDispatcher, settings: WebhookSettings) -> None:
        self.dispatcher = dispatcher
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._asked = 0  # passes asked for (wake calls)
        self._done = 0  # the last asked-for pass a finished pass covered
        self._thread: threading.Thread | None = None
        self.failures = 0  # consecutive failed passes
        self.last_error: str | None = None
        self.last_pass: dict[str, Any] = {}

    def run_once(self) -> dict[str, Any]:
        """One pass: queue the new events, then send what is due."""
        queued = self.dispatcher.enqueue()
        sent = self.dispatcher.deliver_due(utcnow())
        self.last_pass = {"at": iso(utcnow()), "queued": queued, **sent}
        return self.last_pass

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.wake()  # a pass at start-up: what a stopped process left waits no longer
        self._thread = threading.Thread(target=self._run, name="firstline-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Something happened: look soon (returns at once)."""
        with self._cond:
            self._asked += 1
        self._wake.set()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until a pass that started after every wake so far has finished."""
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
                self.run_once()
                self.failures, delay = 0, 0.0
            except FirstlineError as e:  # the database is down: try again, less often
                self.failures += 1
                self.last_error = str(e)
                delay = min(60.0, max(self.settings.interval_seconds, (delay or 0.5) * 2))
                log.warning("webhook pass failed (retry in %.1f s): %s", delay, e)
            except Exception:  # a bug must not kill the worker silently  # noqa: BLE001
                self.failures += 1
                self.last_error = "internal error"
                log.exception("webhook pass crashed")
                delay = 60.0
            with self._cond:
                self._done = max(self._done, covers)
                self._cond.notify_all()
