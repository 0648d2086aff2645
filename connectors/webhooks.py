"""Outgoing webhooks: audited desk and KB actions POSTed as signed JSON to configured URLs.

A webhook is a :class:`~kb.models.Connection` with ``kind="webhook"``: ``config`` holds
``url``, ``events`` (names of :data:`EVENTS` or ``["*"]``) and optionally ``timeout`` and
``max_attempts``; ``secret`` is the HMAC key; ``watermark`` is the cursor ``{"audit_id": N}``.

Two steps, each safe to repeat and to run in two processes at once:

- :meth:`WebhookDispatcher.enqueue` reads the audit log after each hook's cursor and, in one
  transaction per batch, inserts a :class:`~kb.models.WebhookDelivery` per event (unique per
  hook and ``event_key`` = ``audit:<id>:<event>``) and moves the cursor.  A crash before the
  commit leaves neither; the unique key makes a repeated batch a no-op.
- :meth:`WebhookDispatcher.deliver_due` sends each hook's pending deliveries in order (a failed
  one holds back the later ones until it is delivered or dead), with retries and capped
  exponential backoff with jitter; after ``max_attempts`` a delivery is dead (the dead-letter
  list), and an admin can replay it.

Two processes never send one hook's deliveries at once: a pass holds the hook's lease
(``Connection.lease_owner`` / ``lease_until``, taken by one conditional UPDATE, atomic on SQLite
and PostgreSQL alike) and renews it after each delivery; no database lock is held while a
request is in flight, and a killed worker's lease simply expires.  Delivery is at least once: a
worker killed after the receiver answered but before the result was stored sends it again; the
``X-Firstline-Delivery`` header lets a receiver drop the repeat.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, or_, select, update

from connectors.webhook_events import EVENTS, events_of, sign, verify_signature, wanted
from core.settings import WebhookSettings
from core.time import aware, utcnow
from kb.db import Database
from kb.models import AuditEntry, Connection, WebhookDelivery

__all__ = ["EVENTS", "KIND", "WebhookDispatcher", "sign", "verify_signature"]

log = logging.getLogger("firstline.webhooks")

KIND = "webhook"
# On PostgreSQL an audit id is taken at insert and committed later, so a lower id can appear
# after a higher one was read.  The cursor stops before such a gap until it is this old; a gap
# older than that is a rolled-back insert (SQLite never leaves gaps).
GAP_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class Job:
    """One delivery, read from its row, ready to send without the database."""

    id: int
    hook_id: int
    url: str
    secret: str
    timeout: float
    max_attempts: int
    attempts: int
    event: str
    payload: dict[str, Any]


class WebhookDispatcher:
    """The outbox and the deliveries of every webhook.  Constructing it does no I/O."""

    def __init__(self, db: Database, settings: WebhookSettings, owner: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()  # one pass at a time in this process
        self._client_lock = threading.Lock()  # the worker and a test ping may both be first
        self._rng = random.Random()

    @property
    def client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    follow_redirects=False, headers={"User-Agent": "firstline-webhooks/1"}
                )
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the outbox --------------------------------------------------------------------------
    def enqueue(self, batch: int = 200) -> int:
        """Turn the audit entries after each hook's cursor into pending deliveries; the number
        of deliveries added."""
        with self._lock:
            with self.db.session() as s:
                newest = s.scalar(select(func.max(AuditEntry.id))) or 0
                hooks = s.execute(
                    select(Connection.id, Connection.watermark).where(Connection.kind == KIND)
                ).all()
            added = 0
            for hook_id, mark in hooks:
                if int((mark or {}).get("audit_id", 0)) >= newest:
                    continue  # nothing new: no write at all
                more = True
                while more:
                    n, more = self._enqueue_batch(hook_id, batch)
                    added += n
            return added

    def _enqueue_batch(self, hook_id: int, batch: int) -> tuple[int, bool]:
        """One batch of one hook in one transaction: deliveries and cursor together."""
        with self.db.session() as s:
            # Write to the hook's row first: a concurrent enqueuer of this hook waits here (a
            # row lock on PostgreSQL, the write lock on SQLite) and then reads our cursor.
            s.execute(
                update(Connection)
                .where(Connection.id == hook_id)
                .values(lease_owner=Connection.lease_owner)
                .execution_options(synchronize_session=False)
            )
            hook = s.get(Connection, hook_id)
            if hook is None:
                return 0, False
            cursor = int((hook.watermark or {}).get("audit_id", 0))
            entries = list(
                s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.id > cursor)
                    .order_by(AuditEntry.id)
                    .limit(batch)
                )
            )
            if not entries:
                return 0, False
            chosen = wanted(hook.config.get("events"))
            made = [
                (f"audit:{e.id}:{event}", event, payload)
                for e in entries
                for event, payload in events_of(e)
                if event in chosen
            ]
            have = set()
            if made:
                have = set(
                    s.scalars(
                        select(WebhookDelivery.event_key).where(
                            WebhookDelivery.connection_id == hook_id,
                            WebhookDelivery.event_key.in_([k for k, _, _ in made]),
                        )
                    )
                )
            now = utcnow()
            for key, event, payload in made:
                if key not in have:
                    s.add(
                        WebhookDelivery(
                            connection_id=hook_id,
                            event_key=key,
                            event=event,
                            payload=payload,
                            status="pending",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
            safe = _safe_cursor(cursor, entries, now)
            hook.watermark = {**(hook.watermark or {}), "audit_id": safe}
            full = len(entries) == batch
            return len(made) - len(have), full and safe == entries[-1].id

    # -- delivery ----------------------------------------------------------------------------
    def deliver_due(self, now: datetime | None = None) -> dict[str, int]:
        """Send every hook's due deliveries, in order; counts of what happened.  ``now``: the
        clock deliveries are due by and retries are scheduled from."""
        now = now or utcnow()
        counts: Counter[str] = Counter()
        with self._lock:
            with self.db.session() as s:
                hook_ids = list(
                    s.scalars(
                        select(Connection.id)
                        .where(Connection.kind == KIND, Connection.paused.is_(False))
                        .where(
                            select(WebhookDelivery.id)
                            .where(
                                WebhookDelivery.connection_id == Connection.id,
                                WebhookDelivery.status == "pending",
                                WebhookDelivery.next_attempt_at <= now,
                            )
                            .exists()
                        )
                        .order_by(Connection.id)
                    )
                )
            for hook_id in hook_ids:
                if not self._take_lease(hook_id):
                    counts["busy"] += 1  # another process is sending this hook's deliveries
                    continue
                try:
                    self._drain(hook_id, now, counts)
                finally:
                    self._release_lease(hook_id)
        return dict(counts)

    def _drain(self, hook_id: int, now: datetime, counts: Counter[str]) -> None:
        while True:
            with self.db.session() as s:
                hook = s.get(Connection, hook_id)
                if hook is None or hook.paused:
                    return
                head = s.scalars(
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.connection_id == hook_id,
                        WebhookDelivery.status == "pending",
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(1)
                ).first()
                if head is None or aware(head.next_attempt_at) > now:  # type: ignore[operator]
                    return  # nothing left, or the oldest waits for its retry: so do the rest
                job = self.job(hook, head)
            error = self.send(job)
            outcome = self._record(job, error, now)
            counts[outcome] += 1
            if not self._renew_lease(hook_id):
                log.warning("webhook %s: lease lost to another worker; stopping", hook_id)
                return
            if outcome == "retry":
                return

    def job(self, hook: Connection, d: WebhookDelivery) -> Job:
        """What sending ``d`` needs, read while its session is open."""
        config = hook.config or {}
        return Job(
            id=d.id,
            hook_id=hook.id,
            url=config["url"],
            secret=hook.secret or "",
            timeout=float(config.get("timeout") or self.settings.timeout_seconds),
            max_attempts=int(config.get("max_attempts") or self.settings.max_attempts),
            attempts=d.attempts,
            event=d.event,
            payload=d.payload,
        )

    def send(self, job: Job) -> str | None:
        """POST one delivery; None when the receiver answered 2xx, else what went wrong (a
        status or an error, never the secret or the payload)."""
        body = json.dumps(
            {"id": job.id, **job.payload}, separators=(",", ":"), ensure_ascii=False
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Firstline-Event": job.event,
            "X-Firstline-Delivery": str(job.id),
            "X-Firstline-Timestamp": timestamp,
            "X-Firstline-Signature": sign(job.secret, timestamp, body),
        }
        try:
            r = self.client.post(job.url, content=body, headers=headers, timeout=job.timeout)
        except httpx.TimeoutException:
            return f"timed out after {job.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            return f"{type(e).__name__}: {e}"[:500]
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code} {r.reason_phrase}".strip()

    def _record(self, job: Job, error: str | None, now: datetime) -> str:
        """Store a try's outcome: delivered, retry (scheduled) or dead."""
        with self.db.session() as s:
            d = s.get(WebhookDelivery, job.id)
            if d is None or d.status != "pending" or d.attempts != job.attempts:
                return "superseded"  # someone else recorded this try meanwhile
            d.attempts = job.attempts + 1
            d.last_error = error
            if error is None:
                d.status, d.delivered_at = "delivered", utcnow()
                return "delivered"
            if d.attempts >= job.max_attempts:
                d.status = "dead"
                log.warning("webhook delivery %s dead after %s tries: %s", d.id, d.attempts, error)
                return "dead"
            d.next_attempt_at = now + timedelta(seconds=self.backoff(d.attempts))
            return "retry"

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: doubling from the base,
        capped, with jitter (half to all of it) so that many hooks do not retry in step."""
        base, cap = self.settings.backoff_base_seconds, self.settings.backoff_max_seconds
        step = min(cap, base * 2 ** min(attempts - 1, 60))
        return step * (0.5 + self._rng.random() / 2)

    # -- the hook's lease (two processes never send one hook's deliveries at once) -------------
    def _lease_length(self) -> timedelta:
        return timedelta(seconds=4 * self.settings.timeout_seconds + 30)

    def _take_lease(self, hook_id: int) -> bool:
        wall = utcnow()
        with self.db.session() as s:
            taken = s.execute(
                update(Connection)
                .where(
                    Connection.id == hook_id,
                    or_(Connection.lease_until.is_(None), Connection.lease_until < wall),
                )
                .values(lease_owner=self.owner, lease_until=wall + self._lease_length())
                .execution_options(synchronize_session=False)
            )
            return taken.rowcount == 1  # type: ignore[attr-defined]

    def _renew_lease(self, hook_id: int) -> bool:
        with self.db.session() as s:
            kept = s.execute(
                update(Connection)
                .where(Connection.id == hook_id, Connection.lease_owner == self.owner)
                .values(lease_until=utcnow() + self._lease_length())
                .execution_options(synchronize_session=False)
            )
            return kept.rowcount == 1  # type: ignore[attr-defined]

    def _release_lease(self, hook_id: int) -> None:
        with self.db.session() as s:
            s.execute(
                update(Connection)
                .where(Connection.id == hook_id, Connection.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )


def _safe_cursor(cursor: int, entries: list[AuditEntry], now: datetime) -> int:
    """How far the cursor may move: past every entry read, except that it stops before a gap
    in the ids that is still young (a transaction that took that id may not have committed;
    its entry is read again next time and the entries after it are not queued twice)."""
    safe = cursor
    for e in entries:
        if e.id != safe + 1 and aware(e.created_at) > now - GAP_GRACE:  # type: ignore[operator]
            return safe
        safe = e.id
    return safe
