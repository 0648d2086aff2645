"""Knowledge curation (editors) and what agents read of it; the dashboard.

Agents see published articles only; editors see every state, edit, review, publish, retire and
merge.  Every write names the version it edits: a stale version gets 409 with the current one.
Thin adapters over the knowledge workflow (``services.knowledge``): each write is one audited
unit of work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import (
    Agent,
    Editor,
    InsightsService,
    KnowledgeFlow,
    KnowledgeService,
    Service,
)
from api.schemas import (
    MAX_ID,
    ArticleDraftIn,
    ArticleEditIn,
    DashboardOut,
    DiffOut,
    FeedbackIn,
    FeedbackOut,
    GapDraftIn,
    GapsOut,
    KbArticleOut,
    KbArticlesOut,
    MergeIn,
    MergeOut,
    PairsOut,
    ProblemsOut,
    QueueOut,
    RecordId,
    Str,
    TransitionIn,
    VersionsOut,
)

router = APIRouter(prefix="/kb", tags=["knowledge"])
Status = Literal["draft", "review", "published", "retired"]


@router.get("/articles", response_model=KbArticlesOut)
def list_articles(
    who: Agent,
    kb: KnowledgeService,
    status: Annotated[list[Status] | None, Query()] = None,
    q: Annotated[Str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Articles with quality signals (views, reuse, helpful ratio, review age); agents get
    the published ones only."""
    statuses = list(status) if status else None
    if not who.can("editor"):
        statuses = ["published"]
    return {"articles": kb.list(statuses, limit, q)}


@router.post("/articles", response_model=KbArticleOut)
def create_article(body: ArticleDraftIn, who: Editor, flow: KnowledgeFlow) -> dict[str, Any]:
    """A new draft (version 1)."""
    return flow.create(who, body.title, body.body, body.category, body.tags)


@router.get("/articles/{article_id}", response_model=KbArticleOut)
def get_article(article_id: RecordId, who: Agent, flow: KnowledgeFlow) -> dict[str, Any]:
    """An article; reading it counts as a view.  Agents: a merged article redirects to the one
    it was merged into (``redirected_from``), a draft or retired one is not found."""
    return flow.read(article_id, who)


@router.put("/articles/{article_id}", response_model=KbArticleOut)
def edit_article(
    article_id: RecordId, body: ArticleEditIn, who: Editor, flow: KnowledgeFlow
) -> dict[str, Any]:
    """Save an edit as a new version (409 with the current article if it moved on)."""
    changes = body.model_dump(exclude={"version"}, exclude_none=True)
    return flow.edit(article_id, who, body.version, **changes)


@router.post("/articles/{article_id}/status", response_model=KbArticleOut)
def transition(
    article_id: RecordId, body: TransitionIn, who: Editor, flow: KnowledgeFlow
) -> dict[str, Any]:
    """Lifecycle: draft → review → published → retired (and back to draft for a revision)."""
    return flow.transition(article_id, who, body.to, body.version, body.note)


@router.get("/articles/{article_id}/versions", response_model=VersionsOut)
def versions(article_id: RecordId, _who: Editor, kb: KnowledgeService) -> dict[str, Any]:
    return {"article_id": article_id, "versions": kb.versions(article_id)}


@router.get("/articles/{article_id}/diff", response_model=DiffOut)
def diff(
    article_id: RecordId,
    _who: Editor,
    kb: KnowledgeService,
    old: Annotated[int, Query(ge=1, le=MAX_ID)],
    new: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> dict[str, Any]:
    """A unified diff between two versions."""
    return kb.diff(article_id, old, new)


@router.post("/articles/{article_id}/merge", response_model=MergeOut)
def merge(article_id: RecordId, body: MergeIn, who: Editor, flow: KnowledgeFlow) -> dict[str, Any]:
    """Retire a duplicate into another article; links move, reading it redirects."""
    return flow.merge(article_id, who, body.into, body.version)


@router.post("/articles/{article_id}/feedback", response_model=FeedbackOut)
def feedback(
    article_id: RecordId, body: FeedbackIn, who: Agent, flow: KnowledgeFlow
) -> dict[str, Any]:
    """Helped / did not help, on a suggestion or a search result (published articles)."""
    return flow.feedback(article_id, who, body.helpful, body.ticket_id)


@router.get("/duplicates", response_model=PairsOut)
def duplicates(
    _who: Editor,
    insights: InsightsService,
    service: Service,
    threshold: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> dict[str, Any]:
    """Near-duplicate article pairs by embedding similarity, most similar first."""
    return {"pairs": insights.duplicates(service.encoder.dim, threshold)}


@router.get("/gaps", response_model=GapsOut)
def gaps(
    _who: Editor,
    insights: InsightsService,
    days: Annotated[int | None, Query(ge=1, le=3650)] = None,
) -> dict[str, Any]:
    """Clusters of recent tickets with no good article, biggest first; weak searches."""
    return insights.gaps(days)


@router.post("/gaps/draft", response_model=KbArticleOut)
def draft_from_gap(body: GapDraftIn, who: Editor, flow: KnowledgeFlow) -> dict[str, Any]:
    """Draft an article from a gap's tickets."""
    return flow.draft_from_gap(who, body.ticket_ids, body.title)


@router.get("/problems", response_model=ProblemsOut)
def problems(
    _who: Agent,
    insights: InsightsService,
    window_minutes: Annotated[int | None, Query(ge=1, le=10_080)] = None,
    min_incidents: Annotated[int | None, Query(ge=2, le=1000)] = None,
    days: Annotated[int, Query(ge=1, le=365)] = 7,
) -> dict[str, Any]:
    """Problem candidates: bursts of similar incidents in a short window."""
    return {"problems": insights.problems(window_minutes, min_incidents, days)}


@router.get("/queue", response_model=QueueOut)
def queue(
    _who: Editor, kb: KnowledgeService, insights: InsightsService, service: Service
) -> dict[str, Any]:
    """The editor's queue: drafts, reviews, articles due for review, duplicates, gaps and
    problem candidates."""
    published = kb.list(["published"], 1000)
    return {
        "drafts": kb.list(["draft"]),
        "in_review": kb.list(["review"]),
        "review_due": [a for a in published if a["quality"]["review_due"]],
        "duplicates": insights.duplicates(service.encoder.dim)[:20],
        "gaps": insights.gaps()["clusters"][:10],
        "problems": insights.problems(),
    }


dashboard_router = APIRouter(tags=["dashboard"])


@dashboard_router.get("/dashboard", response_model=DashboardOut)
def dashboard(
    _who: Agent,
    insights: InsightsService,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
) -> dict[str, Any]:
    """Deflection, KCS reuse/create, triage accuracy and coverage from corrections, priority
    and SLA-breach trends, top gaps — all computed from recorded events."""
    return insights.dashboard(days)
