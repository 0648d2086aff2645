"""Request and response bodies of the HTTP API (validated, size-limited).

Every value a client sends is validated here, once, into what the domain expects: text without
control characters (the same on SQLite and PostgreSQL), dates in UTC within the supported range
(a naive date takes the server's zone), ids within 1..2^63-1, numbers and flags strictly typed
(``true`` is not ``1``).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from core.dates import to_utc
from core.errors import InvalidInputError
from core.text import clean_text

MAX_ID = 2**63 - 1  # the largest primary key either database stores
# The server's zone for naive dates, set per request by the app (``Settings.timezone``).
TIMEZONE: ContextVar[str] = ContextVar("firstline_timezone", default="UTC")


def _utc(value: datetime) -> datetime:
    try:
        return to_utc(value, TIMEZONE.get())
    except InvalidInputError as e:
        raise ValueError(str(e)) from e  # pydantic reports it as a 422 on this field


def _clean(value: object) -> object:
    return clean_text(value) if isinstance(value, str) else value


NOT_BLANK = r"\S"  # at least one character that is not white space (a linear search)

# Cleaned before the length checks, so "\x00" is an empty title (refused), not a valid one.
Str = Annotated[str, BeforeValidator(_clean)]
"""Text from a client: control characters (NUL included) removed, tab and line breaks kept."""
Date = Annotated[datetime, AfterValidator(_utc)]
"""A date from a client, in UTC; naive values are read in the server's zone."""
RecordDate = datetime
"""A date of an imported ticket or article: read as the file readers read it (a naive value in
the server's zone); one outside 1900-2200 is stored empty and listed in the answer's warnings,
like a file's, instead of refusing the whole batch."""
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
"""A record id in a body."""
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="A record id (1 .. 2^63-1).")]
"""A record id in a path."""

Text = Field(default=None, max_length=100_000)
Short = Field(default=None, max_length=500)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one(a: str, b: str) -> dict[str, Any]:
    """The OpenAPI form of "give ``a`` or ``b``, not both" (checked by a model validator)."""
    return {
        "oneOf": [
            {"required": [a], "not": {"required": [b]}},
            {"required": [b], "not": {"required": [a]}},
        ]
    }


class TicketIn(_In):
    id: Str | None = Field(default=None, max_length=200, description="Your ticket number.")
    title: Str | None = Field(default=None, max_length=2000)
    description: Str | None = Text
    resolution: Str | None = Text
    category: Str | None = Short
    assignment_group: Str | None = Short
    type: Str | None = Short
    impact: Str | None = Short
    urgency: Str | None = Short
    priority: Str | None = Short
    status: Str | None = Short
    tags: list[Str] = Field(default_factory=list, max_length=100)
    caller: Str | None = Short
    opened_at: RecordDate | None = None
    resolved_at: RecordDate | None = None


class ArticleIn(_In):
    id: Str | None = Field(default=None, max_length=200, description="Your article number.")
    title: Str | None = Field(default=None, max_length=2000)
    body: Str | None = Text
    category: Str | None = Short
    tags: list[Str] = Field(default_factory=list, max_length=100)
    status: Str | None = Short
    created_at: RecordDate | None = None
    updated_at: RecordDate | None = None


class TicketBatch(_In):
    source: Str = Field(default="api", min_length=1, max_length=100)
    items: list[TicketIn] = Field(min_length=1)


class ArticleBatch(_In):
    source: Str = Field(default="api", min_length=1, max_length=100)
    items: list[ArticleIn] = Field(min_length=1)


class RowProblem(BaseModel):
    row: int
    reason: str


class RowWarning(BaseModel):
    row: int
    column: str
    value: str
    reason: str


class IngestResult(BaseModel):
    kind: str
    source: str
    rows: int
    added: int
    updated: int
    unchanged: int
    curated: int = Field(
        default=0, description="Articles edited in firstline since their import: kept as they are."
    )
    indexed: int
    skipped: list[RowProblem]
    warnings: list[RowWarning] = Field(
        default_factory=list,
        description="Values that could not be used (e.g. a date that cannot be read or is out "
        "of range): the row is stored with that field empty.",
    )
    index: Literal["indexed", "pending"] = Field(
        default="indexed",
        description="'pending' when some stored rows are not searchable yet (the search engine "
        "is unreachable, or refused them): the sync worker indexes them when it can.",
    )
    pending: int = Field(default=0, description="Stored rows not indexed yet.")


class SearchIn(_In):
    query: Str = Field(min_length=1, max_length=10_000, pattern=NOT_BLANK)
    k: StrictInt = Field(default=10, ge=1, le=100)
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
    kinds: list[Literal["ticket", "article"]] | None = None
    categories: list[Str] | None = Field(default=None, max_length=100)
    statuses: list[Str] | None = Field(default=None, max_length=20)
    date_from: Date | None = None
    date_to: Date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> SearchIn:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        return self


class Why(BaseModel):
    lexical_rank: int | None
    dense_rank: int | None
    lexical_score: float | None
    dense_score: float | None


class SearchHit(BaseModel):
    id: str
    kind: str
    external_id: str
    source: str
    title: str
    category: str | None
    status: str | None
    score: float
    match: Literal["strong", "weak"] = Field(
        description='"strong": the dense similarity to the query reaches the relevance floor '
        '(FIRSTLINE_SEARCH__RELEVANCE_FLOOR); "weak": it does not, so the hit is no answer'
    )
    snippet: str
    highlights: list[list[int]] = Field(description="[start, end) character ranges in snippet")
    why: Why
    resolution: str | None = None
    assignment_group: str | None = None
    opened_at: str | None = None


class SearchOut(BaseModel):
    query: str
    took_ms: float
    hits: list[SearchHit]


class SimilarIn(_In):
    model_config = ConfigDict(json_schema_extra=_exactly_one("ticket_id", "text"))

    ticket_id: Str | None = Field(default=None, max_length=200)
    text: Str | None = Field(default=None, max_length=10_000)
    source: Str | None = Field(default=None, max_length=100)
    k: StrictInt = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _one_of(self) -> SimilarIn:
        if bool(self.ticket_id) == bool(self.text):
            raise ValueError("give either ticket_id or text, not both")
        return self


class ErrorBody(BaseModel):
    type: str
    message: str
    details: list[dict[str, Any]] | None = None
    current: dict[str, Any] | None = Field(
        default=None, description="On a conflict: the record as it is now."
    )
    request_id: str | None = Field(
        default=None, description="The request's id (X-Request-ID), as the server log names it."
    )


class ErrorOut(BaseModel):
    error: ErrorBody


class TriageRequestIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["title"]}, {"required": ["description"]}]}
    )

    title: Str | None = Field(default=None, max_length=2000)
    description: Str | None = Field(default=None, max_length=100_000)
    caller: Str | None = Short
    vip: StrictBool = False
    users_affected: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    service: Str | None = Short
    channel: Str | None = Short

    @model_validator(mode="after")
    def _has_text(self) -> TriageRequestIn:
        if not ((self.title or "").strip() or (self.description or "").strip()):
            raise ValueError("a request needs a title or a description")
        return self


class TriageIn(_In):
    model_config = ConfigDict(json_schema_extra=_exactly_one("request", "items"))

    request: TriageRequestIn | None = None
    items: list[TriageRequestIn] | None = Field(default=None, min_length=1, max_length=100)
    suggestions: StrictInt = Field(default=3, ge=0, le=20)
    record: StrictBool = Field(
        default=True, description="Store the request for audit and corrections."
    )

    @model_validator(mode="after")
    def _one_of(self) -> TriageIn:
        if (self.request is None) == (self.items is None):
            raise ValueError("give either 'request' or 'items'")
        return self


class CorrectionIn(_In):
    field: Str = Field(min_length=1, max_length=40)
    value: Str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    author: Str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Ignored: a correction is recorded as the caller's (the API key's name).",
    )


# -- the desk ------------------------------------------------------------------------------
class DeskTicketIn(TriageRequestIn):
    """A new request as an agent takes it (the same fields triage reads)."""


class ResolveIn(_In):
    model_config = ConfigDict(json_schema_extra=_exactly_one("article_id", "resolution"))

    article_id: Id | None = Field(
        default=None, description="Resolved with this published article (KCS reuse)."
    )
    resolution: Str | None = Field(
        default=None, max_length=100_000, description="A new answer (KCS create)."
    )
    capture: StrictBool = Field(default=True, description="Capture the new answer as a KB draft.")

    @model_validator(mode="after")
    def _one_of(self) -> ResolveIn:
        if (self.article_id is None) == (not (self.resolution or "").strip()):
            raise ValueError("give either article_id (reuse) or resolution (new answer)")
        return self


class EscalateIn(_In):
    group: Str | None = Short
    note: Str | None = Field(default=None, max_length=10_000)
    rejected: list[Id] | None = Field(
        default=None, description="Suggested articles that did not help (default: all shown)."
    )


class DeskCorrectionIn(_In):
    field: Str = Field(min_length=1, max_length=40)
    value: Str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)


class FeedbackIn(_In):
    helpful: StrictBool
    ticket_id: Id | None = None


# -- knowledge -----------------------------------------------------------------------------
class ArticleDraftIn(_In):
    title: Str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)
    body: Str = Field(min_length=1, max_length=100_000, pattern=NOT_BLANK)
    category: Str | None = Short
    tags: list[Str] = Field(default_factory=list, max_length=50)


class ArticleEditIn(_In):
    version: StrictInt = Field(
        ge=1, le=MAX_ID, description="The version you edited (optimistic lock)."
    )
    title: Str | None = Field(default=None, min_length=1, max_length=2000, pattern=NOT_BLANK)
    body: Str | None = Field(default=None, min_length=1, max_length=100_000, pattern=NOT_BLANK)
    category: Str | None = Short
    tags: list[Str] | None = Field(default=None, max_length=50)
    note: Str | None = Field(default=None, max_length=2000)


class TransitionIn(_In):
    to: Literal["draft", "review", "published", "retired"]
    version: StrictInt = Field(ge=1, le=MAX_ID)
    note: Str | None = Field(default=None, max_length=2000)


class MergeIn(_In):
    into: Id
    version: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The merged article's version you saw (optimistic lock).",
    )


class GapDraftIn(_In):
    ticket_ids: list[Id] = Field(min_length=1, max_length=500)
    title: Str | None = Field(default=None, max_length=2000)


# -- administration ------------------------------------------------------------------------
class KeyIn(_In):
    name: Str = Field(min_length=1, max_length=200)
    role: Literal["agent", "editor", "admin"]


class TrainIn(_In):
    force: StrictBool = False


# -- responses -----------------------------------------------------------------------------
# The documented shape of every answer.  The fields named here are always sent (``None`` where
# the record has no value); ``extra="allow"`` lets a later release add fields without breaking
# a client generated from this document.
class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class MeOut(_Out):
    name: str
    role: str


class KeyOut(_Out):
    id: int
    name: str
    role: str
    prefix: str | None = None
    created_at: str | None = None
    revoked_at: str | None = None


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself: shown in this answer only.")


class KeysOut(_Out):
    keys: list[KeyOut]


class AuditEntry(_Out):
    id: int
    actor: str | None = None
    role: str | None = None
    action: str
    target: str | None = None
    before: Any = None
    after: Any = None
    created_at: str | None = None


class AuditOut(_Out):
    entries: list[AuditEntry]


class SettingsOut(_Out):
    settings: dict[str, str | None]


class TrainOut(_Out):
    version: str | None = None
    activated: bool | None = None
    gate: str | None = None
    metrics: dict[str, Any] | None = None


class RecordOut(_Out):
    """A ticket or an article as stored (GET /tickets/{ref}, GET /articles/{ref})."""

    id: str = Field(description='"<kind>:<n>"')
    kind: str
    external_id: str | None = None
    source: str | None = None
    title: str | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    status: str | None = None
    indexed: bool | None = None


class Provisional(_Out):
    """While impact or urgency waits for a human: the priorities the top candidates span."""

    priorities: list[str]
    label: str = Field(description='e.g. "P2–P3, confirm urgency"')
    confirm: list[str] = Field(description="the fields a human should confirm")
    sla_priority: str = Field(description="the highest candidate: the SLA clock runs on it")


class TriageResult(_Out):
    fields: dict[str, Any] = Field(default_factory=dict)
    priority: str | None = None
    provisional: Provisional | None = None
    suggested_articles: list[dict[str, Any]] = Field(default_factory=list)
    similar_tickets: list[dict[str, Any]] = Field(default_factory=list)
    suggestions: Literal["ok", "no_match", "unavailable"] | None = Field(
        default=None,
        description='"no_match": no article clears the relevance floor (no good KB match: '
        'capture one when the request is solved); "unavailable": the search engine is down',
    )


class TriageOut(_Out):
    results: list[TriageResult]


class TriageCorrectionOut(_Out):
    id: int
    request_id: int
    field: str
    old: str | None = None
    new: str | None = None
    author: str | None = None
    created_at: str | None = None


class TriageAbstentionOut(_Out):
    """What one target's abstention threshold rests on."""

    threshold: float = Field(description="Below this confidence the target abstains (> 1: always).")
    method: str = Field(description="out-of-fold: chosen on the training rows' out-of-fold scores.")
    rows: int = Field(description="Rows the threshold was chosen on.")
    target_precision: float
    z: float = Field(description="Normal quantile of the Wilson lower bound that had to reach it.")
    accepted: int = Field(description="Of those rows, how many reach the threshold.")
    precision: float | None = Field(description="Precision expected at the threshold (observed).")
    precision_lower_bound: float | None = None
    coverage: float = Field(description="Share of requests expected to get an answer.")
    reason: str | None = Field(default=None, description="Why the target always abstains.")


class TriageModelVersionOut(_Out):
    version: str
    created: str | None = None
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fingerprint: str | None = None
    labels: dict[str, list[str]] = Field(
        default_factory=dict, description="Each field's label set (what a correction may say)."
    )
    abstention: dict[str, TriageAbstentionOut] = Field(
        default_factory=dict, description="Per target (empty for models trained before it)."
    )
    active: bool


class TriageModelsOut(_Out):
    active: str | None = None
    levels: dict[str, list[str]] = Field(
        default_factory=dict,
        description="The priority matrix's impact and urgency levels, lowest first.",
    )
    versions: list[TriageModelVersionOut]


class DeskTicketOut(_Out):
    """A desk ticket with its state, triage fields and SLA standing."""

    id: int
    ref: str
    title: str | None = None
    description: str | None = None
    state: str
    priority: str | None = None
    provisional: Provisional | None = None
    category: str | None = None
    assignment_group: str | None = None
    sla: dict[str, Any] | None = None


class DeskOpenOut(_Out):
    ticket: DeskTicketOut
    triage: dict[str, Any]


class DeskTicketsOut(_Out):
    tickets: list[DeskTicketOut]


class DeskCorrectionOut(_Out):
    ticket: DeskTicketOut
    correction: dict[str, Any] | None = None


class KbArticleOut(_Out):
    """A curated article: its state and version (send the version back to edit it)."""

    id: int
    ref: str
    title: str | None = None
    status: str
    version: int
    body: str | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)


class KbArticlesOut(_Out):
    articles: list[KbArticleOut]


class VersionsOut(_Out):
    article_id: int
    versions: list[dict[str, Any]]


class DiffOut(_Out):
    article_id: int
    old: int
    new: int
    diff: str


class MergeOut(_Out):
    merged: KbArticleOut
    into: KbArticleOut
    moved_tickets: int | None = None


class FeedbackOut(KbArticleOut):
    article_id: int
    helpful: bool


class PairsOut(_Out):
    pairs: list[dict[str, Any]]


class GapsOut(_Out):
    clusters: list[dict[str, Any]]
    searches: list[dict[str, Any]] = Field(default_factory=list)


class ProblemsOut(_Out):
    problems: list[dict[str, Any]]


class QueueOut(_Out):
    drafts: list[KbArticleOut]
    in_review: list[KbArticleOut]
    review_due: list[KbArticleOut]
    duplicates: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    problems: list[dict[str, Any]]


class DashboardOut(_Out):
    since: str | None = None
    tickets: int | None = None


class HealthOut(_Out):
    status: str = Field(description="ok, or degraded naming the part that is down")
    database: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    index: dict[str, Any] | None = None
    connectors: dict[str, Any] | None = Field(
        default=None, description="Connected systems: last sync, counts, errors."
    )


class DriftOut(_Out):
    count: int
    sample: list[str]


class VerifyOut(_Out):
    """SQL record against search index, by id and content hash."""

    record: int
    index: int
    drift: int
    missing: DriftOut
    orphan: DriftOut
    stale: DriftOut
    repaired: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class ConnectionOut(_Out):
    """A connection and its sync state (its secret is never shown)."""

    id: int
    name: str
    kind: str
    config: dict[str, Any]
    has_secret: bool
    paused: bool
    running: bool
    last_started_at: str | None = None
    last_finished_at: str | None = None
    last_status: str
    last_error: str | None = None
    last_counts: dict[str, Any] = Field(default_factory=dict)
    totals: dict[str, Any] = Field(default_factory=dict)
    watermark: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None


class ConnectionsOut(_Out):
    connections: list[ConnectionOut]


class SyncReportOut(_Out):
    name: str
    kind: str
    status: str = Field(
        description="ok, partial (some items failed: retried next time), error, dry-run, or "
        "started (running in the background: see /admin/connectors)"
    )
    counts: dict[str, int]
    errors: list[str]
    planned: list[dict[str, Any]] = Field(description="A dry run's writes.")
