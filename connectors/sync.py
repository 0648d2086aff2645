"""Running a connection's sync: the lease, the context a connector works in, the report.

A connector (Request Tracker, a mailbox) pulls what changed since its watermark in batches.
Each batch is one unit of work: what it stored in firstline (tickets, desk tickets, links) and
the watermark that says it is done commit together, so a sync killed at any point and run
again neither loses nor repeats anything.  Writes to the remote system (firstline's decisions
pushed back) happen after the batch commits and are themselves made idempotent by the
connector (a marker checked before commenting), so a crash between the two is repaired by the
next run instead of writing twice.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.state import Connections
from core.errors import ConflictError, FirstlineError, InvalidInputError
from core.settings import Settings
from core.time import utcnow
from kb.auth import Principal
from kb.models import Connection, ExternalLink
from services.after_commit import index_changed
from services.desk import DeskWorkflow

log = logging.getLogger("firstline.connectors")

Progress = Callable[[int, int | None], None]  # (done, total if known)

# Connectors by kind, imported when first used.
CONNECTORS = {"rt": "connectors.rt_sync:RTConnector", "imap": "connectors.mail_sync:MailConnector"}


class Connector(Protocol):
    """What a kind of connection does.  Constructing one does no I/O."""

    def check(self) -> dict[str, Any]:
        """Reach the system and prove the credentials work (raises a clear error if not)."""

    def sync(self, ctx: SyncContext) -> None:
        """Pull what changed since ``ctx.watermark``, store it batch by batch, push back."""


def connector_for(kind: str, config: dict[str, Any], secret: str | None, settings: Settings):  # noqa: ANN201
    try:
        module, name = CONNECTORS[kind].split(":")
    except KeyError as e:
        raise InvalidInputError(f"connections of kind {kind!r} are not synced") from e
    return getattr(import_module(module), name)(config, secret, settings)


@dataclass
class SyncContext:
    """What a connector works with during one run."""

    name: str
    conn_id: int
    config: dict[str, Any]
    watermark: dict[str, Any]
    dry_run: bool
    desk: DeskWorkflow
    who: Principal
    counts: Counter = field(default_factory=Counter)
    planned: list[dict[str, Any]] = field(default_factory=list)  # a dry run's writes
    errors: list[str] = field(default_factory=list)
    progress: Progress | None = None
    lease_lost: threading.Event = field(default_factory=threading.Event)

    @property
    def db(self):  # noqa: ANN201
        return self.desk.db

    @contextmanager
    def batch(self) -> Iterator[Session]:
        """One unit of work.  A run that lost its lease (another process took the connection
        over) stops before it writes anything more."""
        if self.lease_lost.is_set():
            raise ConflictError("the sync lost its lease to another process; it stops here")
        with self.db.session() as s:
            yield s

    def save_watermark(self, s: Session, watermark: dict[str, Any]) -> None:
        """Where the next run starts, committed with the batch it follows."""
        self.watermark = dict(watermark)
        if not self.dry_run:
            s.execute(
                update(Connection)
                .where(Connection.id == self.conn_id)
                .values(watermark=self.watermark)
                .execution_options(synchronize_session=False)
            )

    def link(self, s: Session, external_id: str, lock: bool = False) -> ExternalLink | None:
        q = select(ExternalLink).where(
            ExternalLink.connection_id == self.conn_id, ExternalLink.external_id == external_id
        )
        return s.scalar(q.with_for_update() if lock else q)

    def add_link(self, s: Session, external_id: str, **values: Any) -> ExternalLink:
        link = ExternalLink(connection_id=self.conn_id, external_id=external_id, pushed={})
        for k, v in values.items():
            setattr(link, k, v)
        s.add(link)
        s.flush()
        return link

    def mark_pushed(self, external_id: str, pushed: dict[str, Any]) -> None:
        with self.db.session() as s:
            link = self.link(s, external_id, lock=True)
            if link is not None:
                link.pushed_at = utcnow()
                link.pushed = pushed

    def fail(self, what: str, error: Exception | str) -> None:
        """An item that could not be done: counted, reported, retried by the next run."""
        message = f"{what}: {error}"
        log.warning("sync %s: %s", self.name, message)
        self.counts["errors"] += 1
        if len(self.errors) < 20:
            self.errors.append(message)

    def advance(self, n: int = 1, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(n, total)


@dataclass
class SyncReport:
    name: str
    kind: str
    status: str  # ok, partial (some items failed: they are retried), error, dry-run
    counts: dict[str, int]
    errors: list[str]
    planned: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "counts": self.counts,
            "errors": self.errors,
            "planned": self.planned,
        }


class SyncService:
    """Runs syncs.  Constructing it does no I/O."""

    def __init__(self, settings: Settings, desk: DeskWorkflow) -> None:
        self.settings = settings
        self.desk = desk
        self.connections = Connections(desk.db)

    # -- administration (each one unit of work with its audit entry) ----------------------
    def connect(
        self,
        who: Principal,
        name: str,
        kind: str,
        config: dict[str, Any],
        secret: str | None,
        replace: bool = False,
    ) -> dict[str, Any]:
        with self.desk.db.session() as s:
            out = self.connections.create(name, kind, config, secret, replace, within=s)
            self.desk.audit.write(
                who, "connector.connect", f"connection:{name}", None, out, within=s
            )
        return out

    def set_paused(self, who: Principal, name: str, paused: bool) -> dict[str, Any]:
        with self.desk.db.session() as s:
            out = self.connections.set_paused(name, paused, within=s)
            action = "connector.pause" if paused else "connector.resume"
            self.desk.audit.write(who, action, f"connection:{name}", None, out, within=s)
        return out

    def remove(self, who: Principal, name: str) -> dict[str, Any]:
        with self.desk.db.session() as s:
            out = self.connections.delete(name, within=s)
            self.desk.audit.write(
                who, "connector.remove", f"connection:{name}", out, None, within=s
            )
        return out

    def check(self, name: str) -> dict[str, Any]:
        conn = self.connections.get(name)
        return self._connector(conn).check()

    def _connector(self, conn: dict[str, Any]) -> Connector:
        secret = self.connections.secret(conn["name"])
        return connector_for(conn["kind"], conn["config"], secret, self.settings)

    def run(self, name: str, dry_run: bool = False, progress: Progress | None = None) -> SyncReport:
        """One sync of one connection.  A dry run reads the remote system and shows what
        would be written, and stores nothing anywhere."""
        conn = self.connections.get(name)
        if conn["kind"] not in CONNECTORS:
            raise InvalidInputError(
                f"connection {name!r} is a {conn['kind']}: it is not synced (webhooks are "
                "delivered by the server's webhook worker)"
            )
        connector = self._connector(conn)
        lease = self.settings.connectors.lease_seconds
        owner = None if dry_run else self.connections.acquire(name, lease)
        ctx = SyncContext(
            name=name,
            conn_id=conn["id"],
            config=conn["config"],
            watermark=dict(conn["watermark"]),
            dry_run=dry_run,
            desk=self.desk,
            who=Principal(name=f"connector:{name}", role="agent"),
            progress=progress,
        )
        heartbeat = None
        if owner is not None:
            heartbeat = _Heartbeat(self.connections, conn["id"], owner, lease, ctx.lease_lost)
            heartbeat.start()
        status, error = "ok", None
        try:
            connector.sync(ctx)
            if ctx.errors:
                status, error = "partial", ctx.errors[0]
        except FirstlineError as e:
            status, error = "error", str(e)
        except Exception as e:  # noqa: BLE001 - recorded on the connection, never a traceback
            log.exception("sync %s failed", name)
            # Only the kind of error: its text may hold data (SQL parameters, mail bodies)
            # and the state is shown by /health; the log has the details.
            status, error = "error", f"unexpected error ({type(e).__name__}); see the server log"
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            if owner is not None:
                self.connections.finish(name, owner, status, dict(ctx.counts), error)
            index_changed(self.desk.service)
        if error and error not in ctx.errors:
            ctx.errors.insert(0, error)
        return SyncReport(
            name=name,
            kind=conn["kind"],
            status="dry-run" if dry_run and status == "ok" else status,
            counts=dict(ctx.counts),
            errors=ctx.errors,
            planned=ctx.planned,
        )

    def run_due(self, every_seconds: float) -> list[SyncReport]:
        """Every connection that is not paused and whose last run started long enough ago."""
        reports = []
        now = utcnow()
        for conn in self.connections.list():
            if conn["kind"] not in CONNECTORS or conn["paused"] or conn["running"]:
                continue
            started = conn["last_started_at"]
            if started is not None:
                if (now - datetime.fromisoformat(started)).total_seconds() < every_seconds:
                    continue
            try:
                reports.append(self.run(conn["name"]))
            except ConflictError:  # another process took it first
                continue
            except FirstlineError as e:
                log.warning("scheduled sync of %s not run: %s", conn["name"], e)
        return reports


class _Heartbeat(threading.Thread):
    """Renews a run's lease every third of its length while the run works (a long listing
    or a slow remote system never lets it lapse); a lease taken by another process is
    flagged, and the run stops at its next batch."""

    def __init__(
        self, store: Connections, conn_id: int, owner: str, lease: float, lost: threading.Event
    ) -> None:
        super().__init__(name="sync-lease", daemon=True)
        self.store, self.conn_id, self.owner, self.lease, self.lost = (
            store,
            conn_id,
            owner,
            lease,
            lost,
        )
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.lease / 3):
            try:
                with self.store.db.session() as s:
                    self.store.renew(s, self.conn_id, self.owner, self.lease)
            except ConflictError:
                self.lost.set()
                return
            except FirstlineError as e:  # the database is briefly away: try again next beat
                log.warning("could not renew the sync lease: %s", e)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


class SyncScheduler:
    """Inside `firstline serve`: syncs connections every ``interval`` seconds, off the request
    path (a background thread; the lease keeps several API workers from syncing one
    connection at once)."""

    def __init__(self, service: SyncService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="connector-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        # A first pass soon after start, then every interval.
        tick = min(self.interval, 5.0)
        while not self._stop.wait(tick):
            try:
                self.service.run_due(self.interval)
            except Exception:  # noqa: BLE001 - a scheduler must outlive one bad pass
                log.exception("connector scheduler pass failed")
            tick = min(self.interval, 30.0)


def sync_service(settings: Settings, service: Any) -> SyncService:
    """A sync service over an open :class:`indexer.service.Firstline` (the CLI's wiring; the
    API builds its own from the objects it already holds)."""
    from kb.auth import Audit
    from kb.curation import Knowledge
    from kb.desk import Desk
    from triage.service import Triager

    knowledge = Knowledge(service.db, settings.kb.review_days)
    desk = DeskWorkflow(
        service, Triager(settings, service), Desk(service.db, knowledge), Audit(service.db)
    )
    return SyncService(settings, desk)
