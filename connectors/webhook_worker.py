"""The webhook worker: one background thread (in ``firstline serve``) that turns new audit
entries into deliveries and sends the due ones, at least every ``webhooks.interval_seconds``
and soon after :meth:`WebhookWorker.wake`.  A
:class:`core.worker.BackgroundWorker`, as the index sync is: start, stop, wake, wait until idle."""

from __future__ import annotations

from typing import Any

from connectors.webhooks import WebhookDispatcher
from core.errors import FirstlineError
from core.settings import WebhookSettings
from core.time import iso, utcnow
from core.worker import BackgroundWorker


class WebhookWorker(BackgroundWorker):
    """Runs :meth:`run_once` in a thread; constructing it does no I/O."""

    label = "webhook pass"
    thread_name = "firstline-webhooks"

    def __init__(self, dispatcher: WebhookDispatcher, settings: WebhookSettings) -> None:
        super().__init__(settings.interval_seconds, settings.interval_seconds, 60.0)
        self.dispatcher = dispatcher
        self.settings = settings
        self.failures = 0  # consecutive failed passes
        self.last_error: str | None = None
        self.last_pass: dict[str, Any] = {}

    def run_once(self) -> dict[str, Any]:
        """One pass: queue the new events, then send what is due."""
        queued = self.dispatcher.enqueue()
        sent = self.dispatcher.deliver_due(utcnow())
        self.last_pass = {"at": iso(utcnow()), "queued": queued, **sent}
        return self.last_pass

    def run_pass(self) -> dict[str, Any]:
        try:
            out = self.run_once()
        except FirstlineError as e:  # the database is down: the worker retries, less often
            self.failures += 1
            self.last_error = str(e)
            raise
        self.failures = 0
        return out

    def crashed(self) -> None:
        self.failures += 1
        self.last_error = "internal error"
