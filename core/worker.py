"""A background worker thread: one pass at start-up, then at least every ``interval`` and soon
after :meth:`BackgroundWorker.wake`; failed passes back off exponentially; tests wait until
idle.  The index sync and the webhook worker are both one of these."""

from __future__ import annotations

import logging
import threading

from core.errors import FirstlineError

log = logging.getLogger("firstline.worker")


class BackgroundWorker:
    """Subclasses implement :meth:`run_pass` and may count failures in :meth:`crashed`.
    Constructing one does no I/O and starts no thread."""

    label = "background pass"
    thread_name = "firstline-worker"

    def __init__(self, interval: float, backoff_min: float, backoff_max: float) -> None:
        self._interval = interval
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._asked = 0  # passes asked for (wake calls)
        self._done = 0  # the last asked-for pass a finished pass covered
        self._thread: threading.Thread | None = None

    def run_pass(self) -> object:
        raise NotImplementedError

    def crashed(self) -> None:
        """A pass raised something that is not a FirstlineError (a bug): counted by the
        subclass; the worker goes on after the longest backoff."""

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.wake()  # a pass at start-up: what a stopped process left waits no longer
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Something changed: make a pass soon (returns at once)."""
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
            self._wake.wait(delay or self._interval)
            if self._stop.is_set():
                break
            with self._cond:
                self._wake.clear()
                covers = self._asked
            try:
                self.run_pass()
                delay = 0.0
            except FirstlineError as e:  # a backend is down: try again, less often
                delay = min(
                    self._backoff_max,
                    max(self._backoff_min, (delay or self._backoff_min / 2) * 2),
                )
                log.warning("%s failed (retry in %.1f s): %s", self.label, delay, e)
            except Exception:  # a bug must not kill the worker silently  # noqa: BLE001
                self.crashed()
                log.exception("%s crashed", self.label)
                delay = self._backoff_max
            with self._cond:
                self._done = max(self._done, covers)
                self._cond.notify_all()
