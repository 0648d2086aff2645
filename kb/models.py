"""SQLAlchemy models of the system of record: resolved tickets, knowledge-base articles with
their versions, the desk's live tickets and events, API keys and the audit log.

The SQL record is the source of truth.  The search index is derived from it and can always be
rebuilt (``firstline reindex``); ``indexed_hash`` tells which rows the index has caught up with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.time import utcnow


class Base(DeclarativeBase):
    pass


class _Searchable:
    """Columns every searchable record has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100), default="default")
    external_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(200), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(40))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # Derived state: the embedding of the normalised text and what the index holds.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    indexed_hash: Mapped[str | None] = mapped_column(String(64))
    # When the row last stopped matching the index (set by the listeners below): /health
    # reports the oldest pending row's age from it.
    pending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _track_pending(cls: type) -> None:
    """Stamp ``pending_since`` when a row that was in step with the index leaves it."""

    @event.listens_for(cls.content_hash, "set")
    def content_changed(target: Any, value: Any, old: Any, _init: Any) -> None:
        if value != target.indexed_hash and (
            target.pending_since is None or old == target.indexed_hash
        ):
            target.pending_since = utcnow()

    @event.listens_for(cls.indexed_hash, "set")
    def index_changed(target: Any, value: Any, old: Any, _init: Any) -> None:
        if value != target.content_hash and (
            target.pending_since is None or old == target.content_hash
        ):
            target.pending_since = utcnow()


class Ticket(_Searchable, Base):
    """A resolved (or closed) ticket: the problem as the user wrote it and what fixed it."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_tickets_source_external_id"),
        Index("ix_tickets_pending", "indexed_hash"),
    )
    kind = "ticket"

    description: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(40))
    assignment_group: Mapped[str | None] = mapped_column(String(200), index=True)
    impact: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str | None] = mapped_column(String(40))
    caller: Mapped[str | None] = mapped_column(String(200))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Derived state: the vector of the text triage reads (``indexer.documents.request_text``),
    # stored at ingestion so that training does not encode the history again, and the name of
    # the encoder that made it (a vector of another model is recomputed, never reused).
    request_embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    request_embedding_model: Mapped[str | None] = mapped_column(String(200))

    @property
    def body(self) -> str:
        return self.description


class Article(_Searchable, Base):
    """A knowledge-base article."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_articles_source_external_id"),
        Index("ix_articles_pending", "indexed_hash"),
    )
    kind = "article"

    body: Mapped[str] = mapped_column(Text, default="")
    # Curation (kb.curation): the lifecycle lives in ``status`` (draft, review, published,
    # retired); ``version`` is the optimistic lock and the number of the newest ArticleVersion.
    version: Mapped[int] = mapped_column(Integer, default=1)
    author: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redirect_to: Mapped[int | None] = mapped_column(Integer)  # merged into this article
    from_ticket: Mapped[int | None] = mapped_column(Integer)  # captured from this desk ticket


_track_pending(Ticket)
_track_pending(Article)


class TriageRequest(Base):
    """A request as intake saw it, with what triage predicted (for audit and retraining)."""

    __tablename__ = "triage_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # caller, vip, ...
    prediction: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_version: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Correction(Base):
    """An agent's correction of one triage field: who, when, old, new."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(Integer, index=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArticleVersion(Base):
    """One saved state of an article: every edit and every lifecycle step is a new version."""

    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_article_versions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(40))
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeskTicket(Base):
    """A live request on the desk: new → in progress → resolved / escalated → closed."""

    __tablename__ = "desk_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    caller: Mapped[str | None] = mapped_column(String(200))
    vip: Mapped[bool] = mapped_column(default=False)
    users_affected: Mapped[int | None] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="new", index=True)
    # Triage fields as the desk holds them now (triage's values, then agents' corrections).
    type: Mapped[str | None] = mapped_column(String(40))
    impact: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str | None] = mapped_column(String(40), index=True)
    quadrant: Mapped[str | None] = mapped_column(String(80))
    category: Mapped[str | None] = mapped_column(String(200))
    assignment_group: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(40))
    triage_request_id: Mapped[int | None] = mapped_column(Integer)
    triage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the full triage card
    suggested: Mapped[list[int]] = mapped_column(JSON, default=list)  # article ids shown
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    respond_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))  # reuse, create, escalated
    resolution: Mapped[str | None] = mapped_column(Text)
    article_id: Mapped[int | None] = mapped_column(Integer, index=True)  # linked article
    escalated_to: Mapped[str | None] = mapped_column(String(200))
    # Optimistic concurrency: an UPDATE from a stale read matches no row and is refused, so
    # two agents moving one ticket at once cannot overwrite each other (on SQLite too).
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}


class Event(Base):
    """Something that happened on the desk or in the KB; every figure is computed from these.

    Kinds: created, responded, reuse, create, escalated, closed, view, feedback, merged.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    article_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SearchLog(Base):
    """Searches agents ran, with how many results and the best score (zero-result gaps)."""

    __tablename__ = "search_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    hits: Mapped[int] = mapped_column(Integer)
    top_score: Mapped[float | None] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Every write through the API: who, what, when, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class Connection(Base):
    """A system the desk already runs (a ticketing system, a mailbox, a webhook receiver) and
    its sync state: where the last pull stopped (``watermark``), when, with what result.

    ``secret`` (a token or password) is never returned by the API or printed by the CLI."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # rt, imap, webhook
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    paused: Mapped[bool] = mapped_column(default=False)
    watermark: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A run holds a lease so two processes (two API workers, a CLI sync) never run one
    # connection at once; a killed run's lease simply expires.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str] = mapped_column(String(20), default="never")  # ok, error, ...
    last_error: Mapped[str | None] = mapped_column(Text)
    last_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ExternalLink(Base):
    """An item of a connected system (an RT ticket, a mail's Message-ID) and the desk ticket
    it became; ``pushed_at`` says firstline's decision was written back to it."""

    __tablename__ = "external_links"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(Integer, index=True)
    external_id: Mapped[str] = mapped_column(String(500))
    desk_ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    remote_updated: Mapped[str | None] = mapped_column(String(40))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pushed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class WebhookDelivery(Base):
    """One event on its way to one webhook: pending → delivered, or dead after its retries
    (the dead-letter list an admin can replay)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("connection_id", "event_key"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection_id: Mapped[int] = mapped_column(Integer, index=True)
    event_key: Mapped[str] = mapped_column(String(100))  # where the event came from, once
    event: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


RECORD_TYPES: dict[str, type[Ticket] | type[Article]] = {"ticket": Ticket, "article": Article}


class ModelArtifact(Base):
    """One trained model version (a triage bundle): its bytes, their SHA-256 and its metadata
    (metrics, label sets, data fingerprint, parameters).  Every API process and replica loads
    the active one from here, so none depends on another's files."""

    __tablename__ = "model_artifacts"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelActivation(Base):
    """The active-model pointer as an append-only log: the newest row of a name is the active
    version (one indexed lookup, checked on every triage request), the earlier ones are what
    a rollback returns to."""

    __tablename__ = "model_activations"
    __table_args__ = (Index("ix_model_activations_name_id", "name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
