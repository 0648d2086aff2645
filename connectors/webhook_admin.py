"""Setting up webhooks and handling their dead letters: admin actions, each one unit of work
with its audit entry (create, replay, test); reads (the list with counts, the dead letters)
are not audited.

A hook's ``secret`` is stored for signing and never returned.  Connection rows are read and
written here directly, through small private helpers, until connectors/state.py's store takes
them over.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.webhook_events import ALL, EVENTS, PING
from connectors.webhooks import KIND, WebhookDispatcher
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.time import iso, utcnow
from kb.auth import Audit, Principal
from kb.models import AuditEntry, Connection, WebhookDelivery

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MIN_SECRET = 16
COUNTED = ("pending", "delivered", "dead")
FAILED_PING = "failed"  # a test ping that failed: shown, never retried nor replayed


class WebhookAdmin:
    """Webhooks as an admin sees them.  Constructing it does no I/O."""

    def __init__(self, dispatcher: WebhookDispatcher, audit: Audit) -> None:
        self.dispatcher = dispatcher
        self.audit = audit
        self.db = dispatcher.db

    def create(
        self,
        who: Principal,
        name: str,
        url: str,
        events: Sequence[str],
        secret: str,
        timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> dict[str, Any]:
        """A new webhook.  It starts after the newest audit entry: it is told about what
        happens from now on, not about the history."""
        name = (name or "").strip()
        if not NAME.match(name):
            raise InvalidInputError(
                "a webhook name is 1-100 letters, digits, '.', '_' or '-' (it is part of URLs)"
            )
        config: dict[str, Any] = {"url": check_url(url), "events": check_events(events)}
        if len(secret or "") < MIN_SECRET:
            raise InvalidInputError(f"the secret must have at least {MIN_SECRET} characters")
        if timeout is not None:
            config["timeout"] = float(timeout)
        if max_attempts is not None:
            config["max_attempts"] = int(max_attempts)
        with self.db.session() as s:
            if s.scalar(select(Connection.id).where(Connection.name == name)) is not None:
                raise ConflictError(f"a connection named {name!r} exists already")
            newest = s.scalar(select(func.max(AuditEntry.id))) or 0
            hook = Connection(
                name=name,
                kind=KIND,
                config=config,
                secret=secret,
                paused=False,
                watermark={"audit_id": newest},
            )
            s.add(hook)
            s.flush()
            out = _hook_dict(hook, {})
            self.audit.write(who, "admin.webhook_create", f"webhook:{name}", None, out, within=s)
        return out

    def hooks(self) -> list[dict[str, Any]]:
        """Every webhook with its deliveries counted by status (the secret is never shown)."""
        with self.db.session() as s:
            counts: dict[int, dict[str, int]] = {}
            rows = s.execute(
                select(
                    WebhookDelivery.connection_id, WebhookDelivery.status, func.count()
                ).group_by(WebhookDelivery.connection_id, WebhookDelivery.status)
            )
            for hook_id, status, n in rows:
                counts.setdefault(hook_id, {})[status] = n
            hooks = s.scalars(
                select(Connection).where(Connection.kind == KIND).order_by(Connection.id)
            )
            return [_hook_dict(h, counts.get(h.id, {})) for h in hooks]

    def dead_letters(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The hook's dead deliveries, oldest first."""
        with self.db.session() as s:
            hook = _hook(s, name)
            rows = s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.connection_id == hook.id, WebhookDelivery.status == "dead")
                .order_by(WebhookDelivery.id)
                .limit(limit)
            )
            return [_delivery_dict(d) for d in rows]

    def replay(self, who: Principal, name: str, ids: Sequence[int] | None = None) -> dict[str, Any]:
        """Dead deliveries back to pending with their attempts at 0: the ones named, or all
        the hook's dead ones.  They go out again in their original order."""
        with self.db.session() as s:
            hook = _hook(s, name)
            q = select(WebhookDelivery).where(WebhookDelivery.connection_id == hook.id)
            if ids is None:
                rows = list(s.scalars(q.where(WebhookDelivery.status == "dead")))
            else:
                wanted_ids = sorted(set(ids))
                rows = list(s.scalars(q.where(WebhookDelivery.id.in_(wanted_ids))))
                missing = sorted(set(wanted_ids) - {d.id for d in rows})
                if missing:
                    raise NotFoundError(f"webhook {name!r} has no deliveries {missing}")
                alive = [f"{d.id} ({d.status})" for d in rows if d.status != "dead"]
                if alive:
                    raise InvalidInputError(f"only dead deliveries are replayed, not {alive}")
            now = utcnow()
            for d in rows:
                d.status, d.attempts, d.next_attempt_at = "pending", 0, now
            done = sorted(d.id for d in rows)
            after = {"replayed": done, "all_dead": ids is None}
            self.audit.write(who, "admin.webhook_replay", f"webhook:{name}", None, after, within=s)
        return {"webhook": name, "replayed": done}

    def ping(self, who: Principal, name: str) -> dict[str, Any]:
        """Send a ``ping`` event to the hook now, once, outside its queue (also when it is
        paused), and say how it went."""
        with self.db.session() as s:
            hook = _hook(s, name)
            now = utcnow()
            payload = {
                "event": PING,
                "created_at": iso(now),
                "data": {"webhook": name, "actor": who.name},
            }
            row = WebhookDelivery(
                connection_id=hook.id,
                event_key=f"ping:{uuid.uuid4().hex}",
                event=PING,
                payload=payload,
                status=FAILED_PING,  # until it is delivered: the worker never picks it up
                attempts=1,
                next_attempt_at=now,
                created_at=now,
            )
            s.add(row)
            s.flush()
            job = self.dispatcher.job(hook, row)
            self.audit.write(who, "admin.webhook_test", f"webhook:{name}", None, None, within=s)
        error = self.dispatcher.send(job)
        with self.db.session() as s:
            d = s.get(WebhookDelivery, job.id)
            assert d is not None
            if error is None:
                d.status, d.delivered_at = "delivered", utcnow()
            d.last_error = error
        return {"webhook": name, "delivery_id": job.id, "delivered": error is None, "error": error}


def _hook(s: Session, name: str) -> Connection:
    hook = s.scalar(select(Connection).where(Connection.name == name, Connection.kind == KIND))
    if hook is None:
        raise NotFoundError(f"no webhook {name!r}")
    return hook


def _hook_dict(h: Connection, counts: dict[str, int]) -> dict[str, Any]:
    config = h.config or {}
    return {
        "id": h.id,
        "name": h.name,
        "url": config.get("url"),
        "events": config.get("events", []),
        "timeout": config.get("timeout"),
        "max_attempts": config.get("max_attempts"),
        "paused": h.paused,
        "cursor": (h.watermark or {}).get("audit_id"),
        "created_at": iso(h.created_at),
        "counts": {status: counts.get(status, 0) for status in COUNTED},
    }


def _delivery_dict(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event": d.event,
        "event_key": d.event_key,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created_at": iso(d.created_at),
        "next_attempt_at": iso(d.next_attempt_at),
        "delivered_at": iso(d.delivered_at),
        "payload": d.payload,
    }


def check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"a webhook URL is http:// or https:// with a host, not {url!r}")
    return url


def check_events(events: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(e.strip() for e in events or []))
    if not chosen:
        raise InvalidInputError(f"name the events to send: any of {', '.join(EVENTS)}, or '*'")
    unknown = [e for e in chosen if e != ALL and e not in EVENTS]
    if unknown:
        raise InvalidInputError(
            f"unknown events {unknown}; known: {', '.join(EVENTS)}, or '*' for all"
        )
    return chosen
