"""Connections and their sync state, in the record.

A connection is a named system (``rt``, ``imap``, ``webhook``) with its settings (``config``),
its secret (a token or password, never returned or printed), and where its last sync stopped
(``watermark``).  A run holds a lease, so two processes never sync one connection at once and a
killed run's lease simply expires.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.time import aware, iso, utcnow
from kb.db import Database
from kb.models import Connection, ExternalLink, WebhookDelivery

KINDS = ("rt", "imap", "webhook")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # fullmatch on a short, bounded name


def _here() -> str:
    """This machine and its process-id namespace (containers sharing a host name have their
    own, so a process id is only compared where it means the same process)."""
    try:
        space = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        space = "-"
    return f"{socket.gethostname()[:40]}/{space}"


def _owner() -> str:
    """Who holds a lease: this machine and namespace, this process, and a random part."""
    return f"{_here()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """Whether a lease's holder was a process of this machine that has ended."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != _here() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _uid() -> str:
    """A connection's own id: it marks what this connection wrote to a remote system, so
    two firstline installs (or two connections) on one RT never mistake each other's notes."""
    return uuid.uuid4().hex[:12]


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"connection name {name[:80]!r} is not valid: use 1-63 lower-case letters, digits,"
            " '-' or '_'"
            if isinstance(name, str)
            else "a connection needs a name"
        )
    return name


def public(c: Connection) -> dict[str, Any]:
    """What anyone may see of a connection: everything but the secret."""
    return {
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "config": dict(c.config or {}),
        "has_secret": bool(c.secret),
        "paused": bool(c.paused),
        "running": c.lease_until is not None and aware(c.lease_until) > utcnow(),
        "last_started_at": iso(c.last_started_at),
        "last_finished_at": iso(c.last_finished_at),
        "last_status": c.last_status,
        "last_error": c.last_error,
        "last_counts": dict(c.last_counts or {}),
        "totals": dict(c.totals or {}),
        "watermark": dict(c.watermark or {}),
        "created_at": iso(c.created_at),
    }


class Connections:
    """The store of connections.  Constructing it does no I/O."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- records -------------------------------------------------------------------------
    def record(self, s: Session, name: str) -> Connection:
        c = s.scalar(select(Connection).where(Connection.name == name))
        if c is None:
            raise NotFoundError(f"no connection named {name!r} (see `firstline connections`)")
        return c

    def create(
        self,
        name: str,
        kind: str,
        config: dict[str, Any],
        secret: str | None,
        replace: bool = False,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """Store a connection; ``replace`` updates an existing one of the same kind (its sync
        state is kept, so a changed token does not re-import everything)."""
        check_name(name)
        if kind not in KINDS:
            raise InvalidInputError(f"unknown connection kind {kind!r}: one of {', '.join(KINDS)}")
        with self.db.session(within) as s:
            c = s.scalar(select(Connection).where(Connection.name == name))
            if c is not None:
                if not replace:
                    raise ConflictError(f"a connection named {name!r} exists (use --replace)")
                if c.kind != kind:
                    raise ConflictError(f"connection {name!r} is of kind {c.kind}, not {kind}")
                c.config = {**dict(config), "uid": (c.config or {}).get("uid") or _uid()}
                if secret is not None:
                    c.secret = secret
            else:
                c = Connection(
                    name=name,
                    kind=kind,
                    config={**dict(config), "uid": _uid()},
                    secret=secret,
                    paused=False,
                    watermark={},
                    last_status="never",
                    last_counts={},
                    totals={},
                )
                s.add(c)
            s.flush()
            return public(c)

    def get(self, name: str) -> dict[str, Any]:
        with self.db.session() as s:
            return public(self.record(s, name))

    def secret(self, name: str) -> str | None:
        with self.db.session() as s:
            return self.record(s, name).secret

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(Connection).order_by(Connection.name)
            if kind:
                q = q.where(Connection.kind == kind)
            return [public(c) for c in s.scalars(q)]

    def set_paused(self, name: str, paused: bool, within: Session | None = None) -> dict:
        with self.db.session(within) as s:
            c = self.record(s, name)
            c.paused = paused
            s.flush()
            return public(c)

    def delete(self, name: str, within: Session | None = None) -> dict[str, Any]:
        """Forget a connection and its links (what it imported stays in the record)."""
        with self.db.session(within) as s:
            c = self.record(s, name)
            out = public(c)
            s.query(ExternalLink).filter(ExternalLink.connection_id == c.id).delete()
            s.query(WebhookDelivery).filter(WebhookDelivery.connection_id == c.id).delete()
            s.delete(c)
            return out

    # -- runs ----------------------------------------------------------------------------
    def acquire(self, name: str, lease_seconds: float, owner: str | None = None) -> str:
        """Take the run lease (one atomic UPDATE, so two processes cannot both win).  Returns
        the owner token; a lease held by a live run is a conflict.  A lease whose holder was
        a process on this machine that no longer exists (killed) is taken over at once
        instead of waiting for it to expire."""
        owner = owner or _owner()
        now = utcnow()
        with self.db.session() as s:
            c = self.record(s, name)
            free = or_(Connection.lease_until.is_(None), Connection.lease_until < now)
            if c.lease_owner and _dead_here(c.lease_owner):
                free = or_(free, Connection.lease_owner == c.lease_owner)
            taken = s.execute(
                update(Connection)
                .where(Connection.id == c.id)
                .where(free)
                .values(
                    lease_until=now + timedelta(seconds=lease_seconds),
                    lease_owner=owner,
                    last_started_at=now,
                    last_status="running",
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        if not taken:
            raise ConflictError(f"connection {name!r} is being synced by another process")
        return owner

    def renew(self, s: Session, conn_id: int, owner: str, lease_seconds: float) -> None:
        """Extend the lease inside a batch's own transaction; a lost lease stops the run."""
        kept = s.execute(
            update(Connection)
            .where(Connection.id == conn_id, Connection.lease_owner == owner)
            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        ).rowcount
        if not kept:
            raise ConflictError("the sync lost its lease to another process; it stops here")

    def finish(
        self, name: str, owner: str, status: str, counts: dict[str, int], error: str | None
    ) -> dict[str, Any]:
        with self.db.session() as s:
            c = self.record(s, name)
            if c.lease_owner == owner:
                c.lease_until = None
                c.lease_owner = None
            c.last_finished_at = utcnow()
            c.last_status = status
            c.last_error = error
            c.last_counts = dict(counts)
            totals = dict(c.totals or {})
            for k, v in counts.items():
                totals[k] = int(totals.get(k, 0)) + int(v)
            c.totals = totals
            s.flush()
            return public(c)


def health(connections: list[dict[str, Any]]) -> dict[str, Any]:
    """The connections part of ``/health``: "degraded" when a connection that is not paused
    failed its last sync (the desk is not receiving what it sends)."""
    failing = [c["name"] for c in connections if not c["paused"] and c["last_status"] == "error"]
    part: dict[str, Any] = {
        "status": "degraded" if failing else "ok",
        "connections": [
            {
                k: c[k]
                for k in (
                    "name",
                    "kind",
                    "paused",
                    "running",
                    "last_finished_at",
                    "last_status",
                    "last_error",
                    "last_counts",
                )
            }
            for c in connections
        ],
    }
    if failing:
        part["error"] = "last sync failed: " + ", ".join(failing)
    return part
