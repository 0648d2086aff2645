"""Request and response bodies of the HTTP API (validated, size-limited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Field(default=None, max_length=100_000)
Short = Field(default=None, max_length=500)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketIn(_In):
    id: str | None = Field(default=None, max_length=200, description="Your ticket number.")
    title: str | None = Field(default=None, max_length=2000)
    description: str | None = Text
    resolution: str | None = Text
    category: str | None = Short
    assignment_group: str | None = Short
    type: str | None = Short
    impact: str | None = Short
    urgency: str | None = Short
    priority: str | None = Short
    status: str | None = Short
    tags: list[str] = Field(default_factory=list, max_length=100)
    caller: str | None = Short
    opened_at: datetime | None = None
    resolved_at: datetime | None = None


class ArticleIn(_In):
    id: str | None = Field(default=None, max_length=200, description="Your article number.")
    title: str | None = Field(default=None, max_length=2000)
    body: str | None = Text
    category: str | None = Short
    tags: list[str] = Field(default_factory=list, max_length=100)
    status: str | None = Short
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TicketBatch(_In):
    source: str = Field(default="api", min_length=1, max_length=100)
    items: list[TicketIn] = Field(min_length=1)


class ArticleBatch(_In):
    source: str = Field(default="api", min_length=1, max_length=100)
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
    query: str = Field(min_length=1, max_length=10_000)
    k: int = Field(default=10, ge=1, le=100)
    mode: Literal["hybrid", "lexical", "dense"] = "hybrid"
    kinds: list[Literal["ticket", "article"]] | None = None
    categories: list[str] | None = Field(default=None, max_length=100)
    statuses: list[str] | None = Field(default=None, max_length=20)
    date_from: datetime | None = None
    date_to: datetime | None = None


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
    ticket_id: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=10_000)
    source: str | None = Field(default=None, max_length=100)
    k: int = Field(default=5, ge=1, le=100)


class ErrorBody(BaseModel):
    type: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


class TriageRequestIn(_In):
    title: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=100_000)
    caller: str | None = Short
    vip: bool = False
    users_affected: int | None = Field(default=None, ge=0, le=10_000_000)
    service: str | None = Short
    channel: str | None = Short


class TriageIn(_In):
    request: TriageRequestIn | None = None
    items: list[TriageRequestIn] | None = Field(default=None, min_length=1, max_length=100)
    suggestions: int = Field(default=3, ge=0, le=20)
    record: bool = Field(default=True, description="Store the request for audit and corrections.")


class CorrectionIn(_In):
    field: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=200)
    author: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Ignored: a correction is recorded as the caller's (the API key's name).",
    )


# -- the desk ------------------------------------------------------------------------------
class DeskTicketIn(TriageRequestIn):
    """A new request as an agent takes it (the same fields triage reads)."""


class ResolveIn(_In):
    article_id: int | None = Field(
        default=None, description="Resolved with this published article (KCS reuse)."
    )
    resolution: str | None = Field(
        default=None, max_length=100_000, description="A new answer (KCS create)."
    )
    capture: bool = Field(default=True, description="Capture the new answer as a KB draft.")


class EscalateIn(_In):
    group: str | None = Short
    note: str | None = Field(default=None, max_length=10_000)
    rejected: list[int] | None = Field(
        default=None, description="Suggested articles that did not help (default: all shown)."
    )


class DeskCorrectionIn(_In):
    field: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=200)


class FeedbackIn(_In):
    helpful: bool
    ticket_id: int | None = None


# -- knowledge -----------------------------------------------------------------------------
class ArticleDraftIn(_In):
    title: str = Field(min_length=1, max_length=2000)
    body: str = Field(min_length=1, max_length=100_000)
    category: str | None = Short
    tags: list[str] = Field(default_factory=list, max_length=50)


class ArticleEditIn(_In):
    version: int = Field(ge=1, description="The version you edited (optimistic lock).")
    title: str | None = Field(default=None, min_length=1, max_length=2000)
    body: str | None = Field(default=None, min_length=1, max_length=100_000)
    category: str | None = Short
    tags: list[str] | None = Field(default=None, max_length=50)
    note: str | None = Field(default=None, max_length=2000)


class TransitionIn(_In):
    to: Literal["draft", "review", "published", "retired"]
    version: int = Field(ge=1)
    note: str | None = Field(default=None, max_length=2000)


class MergeIn(_In):
    into: int
    version: int | None = Field(
        default=None, ge=1, description="The merged article's version you saw (optimistic lock)."
    )


class GapDraftIn(_In):
    ticket_ids: list[int] = Field(min_length=1, max_length=500)
    title: str | None = Field(default=None, max_length=2000)


# -- administration ------------------------------------------------------------------------
class KeyIn(_In):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["agent", "editor", "admin"]


class TrainIn(_In):
    force: bool = False
