"""The FastAPI application: search, similar tickets, ingest, documents, triage, the desk,
knowledge curation, the dashboard and administration.  ``/health`` is open; every other route
needs an API key with a role (agent < editor < admin)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api import errors, routes_admin, routes_connectors, routes_desk, routes_kb, routes_webhooks
from api.deps import Admin, AdminFlow, Agent, DeskFlow, Editor, Service, TriageService
from api.schemas import (
    ArticleBatch,
    CorrectionIn,
    ErrorOut,
    HealthOut,
    IngestResult,
    RecordId,
    RecordOut,
    SearchIn,
    SearchOut,
    SimilarIn,
    Str,
    TicketBatch,
    TriageCorrectionOut,
    TriageIn,
    TriageModelsOut,
    TriageOut,
)
from connectors.state import Connections
from connectors.state import health as connectors_health
from connectors.sync import SyncScheduler, SyncService
from connectors.webhook_admin import WebhookAdmin
from connectors.webhook_worker import WebhookWorker
from connectors.webhooks import WebhookDispatcher
from core.errors import FirstlineError, InvalidInputError, NotFoundError
from core.settings import Settings, get_settings
from indexer.service import Firstline
from indexer.types import Filters
from kb.auth import Audit, Keys, Principal
from kb.curation import Knowledge
from kb.desk import Desk
from kb.insights import Insights
from kb.models import SearchLog
from services.admin import AdminWorkflow
from services.desk import DeskWorkflow
from services.knowledge import KnowledgeWorkflow
from triage.service import Triager

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 403, 404, 409, 413, 422, 500, 503)
}


def create_app(settings: Settings | None = None, service: Firstline | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = service or Firstline(settings)
        app.state.triager = Triager(settings, app.state.service)
        db = app.state.service.db
        app.state.knowledge = Knowledge(db, settings.kb.review_days)
        app.state.desk = Desk(db, app.state.knowledge)
        app.state.insights = Insights(db, settings.kb, settings.search.relevance_floor)
        app.state.audit = Audit(db)
        app.state.keys = Keys(db)
        app.state.desk_flow = DeskWorkflow(
            app.state.service, app.state.triager, app.state.desk, app.state.audit
        )
        app.state.knowledge_flow = KnowledgeWorkflow(
            app.state.service, app.state.knowledge, app.state.desk, app.state.audit
        )
        app.state.admin_flow = AdminWorkflow(app.state.service, app.state.keys, app.state.audit)
        app.state.sync_service = SyncService(settings, app.state.desk_flow)
        app.state.sync_scheduler = SyncScheduler(
            app.state.sync_service, settings.connectors.interval_seconds
        )
        dispatcher = WebhookDispatcher(db, settings.webhooks)
        app.state.webhooks = WebhookAdmin(dispatcher, app.state.audit)
        app.state.webhook_worker = WebhookWorker(dispatcher, settings.webhooks)
        # Load the model and open the index now, so the first search is not the slow one;
        # a search engine that is down at start-up is reported by /health, not fatal.
        try:
            await run_in_threadpool(app.state.service.warmup)
        except FirstlineError as e:
            logging.getLogger("firstline.api").warning("start-up check failed: %s", e)
        # The index sync worker: drains what a killed process left pending, then every write.
        app.state.service.sync.start()
        # Connected systems are synced off the request path, every connectors.interval_seconds.
        app.state.sync_scheduler.start()
        # The webhook worker: queues what the audit log recorded, sends what is due.
        app.state.webhook_worker.start()
        try:
            yield
        finally:
            app.state.webhook_worker.stop()
            dispatcher.close()
            app.state.sync_scheduler.stop()
            app.state.service.sync.stop()
            app.state.service.close()

    app = FastAPI(
        title="firstline",
        version="0.1.0",
        summary="Knowledge-centric service-desk search: KB articles and resolved tickets.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.add_middleware(errors.BodySizeLimit, max_bytes=settings.api.max_request_bytes)
    app.add_middleware(errors.RequestContext, timezone=settings.timezone)  # the outermost
    errors.install(app)
    app.state.settings = settings

    @app.get(
        "/health",
        tags=["system"],
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "A part is down (named)."}},
    )
    async def health(service: Service) -> JSONResponse:
        """Database, model and index status with counts and the index sync (pending rows,
        their age); 503 naming the part that is down.  A stuck sync makes the status
        "degraded" with 200: the service still answers, the index is behind."""
        body = await run_in_threadpool(service.health)
        try:
            part = await run_in_threadpool(
                lambda: connectors_health(Connections(service.db).list())
            )
        except FirstlineError as e:
            part = {"status": "down", "error": str(e)}
        body["connectors"] = part
        if part["status"] != "ok" and body["status"] == "ok":
            body["status"] = "degraded"
        down = any(isinstance(p, dict) and p.get("status") == "down" for p in body.values())
        return JSONResponse(body, status_code=503 if down else 200)

    def _search(service: Firstline, body: SearchIn, who: Principal | None = None) -> SearchOut:
        start = time.perf_counter()
        filters = Filters(
            kinds=list(body.kinds) if body.kinds else None,
            categories=body.categories,
            statuses=body.statuses,
            date_from=body.date_from,
            date_to=body.date_to,
        )
        hits = service.search(body.query, body.k, filters, body.mode)
        took = (time.perf_counter() - start) * 1000
        if who is not None and (not body.kinds or "article" in body.kinds):
            _log_search(service, body.query, hits, who)
        return SearchOut(query=body.query, took_ms=round(took, 2), hits=hits)

    @app.post("/search", tags=["search"])
    def search(body: SearchIn, service: Service, who: Agent) -> SearchOut:
        """Natural-language search over KB articles and resolved tickets (hybrid by default)."""
        return _search(service, body, who)

    @app.get("/search", tags=["search"])
    def search_get(
        service: Service,
        who: Agent,
        q: Annotated[Str, Query(min_length=1, max_length=10_000)],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        kind: Annotated[list[Literal["ticket", "article"]] | None, Query()] = None,
        category: Annotated[list[Str] | None, Query()] = None,
    ) -> SearchOut:
        """The same search as POST /search, for links and quick checks."""
        try:
            body = SearchIn(query=q, k=k, kinds=kind, categories=category)
        except ValidationError as e:  # e.g. too many categories: a 422 like POST, not a 500
            raise RequestValidationError(e.errors(include_url=False)) from e
        return _search(service, body, who)

    @app.post("/similar", tags=["search"])
    def similar(body: SimilarIn, service: Service, _who: Agent) -> SearchOut:
        """Resolved tickets most similar to a stored ticket or to a free text."""
        start = time.perf_counter()
        hits = service.similar(body.ticket_id, body.text, body.k, body.source)
        took = (time.perf_counter() - start) * 1000
        return SearchOut(query=body.ticket_id or body.text or "", took_ms=round(took, 2), hits=hits)

    def _check_batch(n: int) -> None:
        if n > settings.api.max_batch:
            raise InvalidInputError(
                f"{n} documents in one request; the limit is {settings.api.max_batch}"
            )

    @app.post("/tickets", tags=["documents"])
    def ingest_tickets(body: TicketBatch, flow: AdminFlow, who: Admin) -> IngestResult:
        """Add or update resolved tickets (idempotent by source + id, or by content)."""
        _check_batch(len(body.items))
        items = [_external(i.model_dump(exclude_none=True)) for i in body.items]
        return IngestResult(**flow.import_items(who, "ticket", items, body.source).as_dict())

    @app.post("/articles", tags=["documents"])
    def ingest_articles(body: ArticleBatch, flow: AdminFlow, who: Editor) -> IngestResult:
        """Add or update knowledge-base articles (an import; curation is under /kb)."""
        _check_batch(len(body.items))
        items = [_external(i.model_dump(exclude_none=True)) for i in body.items]
        return IngestResult(**flow.import_items(who, "article", items, body.source).as_dict())

    @app.get("/tickets/{ref}", tags=["documents"], response_model=RecordOut)
    def get_ticket(
        ref: str, service: Service, _who: Agent, source: Annotated[Str | None, Query()] = None
    ) -> dict[str, Any]:
        """A ticket by its external id (or ``ticket:<n>``)."""
        return service.get("ticket", ref, source)

    @app.get("/articles/{ref}", tags=["documents"], response_model=RecordOut)
    def get_article(
        ref: str, service: Service, who: Agent, source: Annotated[Str | None, Query()] = None
    ) -> dict[str, Any]:
        """An article by its external id (or ``article:<n>``); agents read published ones."""
        record = service.get("article", ref, source)
        if record["status"] != "published" and not who.can("editor"):
            raise NotFoundError(f"no published article {ref}")  # drafts are for editors
        return record

    @app.post("/triage", tags=["triage"], response_model=TriageOut)
    def triage(body: TriageIn, triager: TriageService, _who: Agent) -> dict[str, Any]:
        """Classify one request (``request``) or a batch (``items``): type, impact, urgency,
        priority and quadrant, category, assignment group, tier — each with a confidence, an
        abstention ("needs a human") with the top 3, and its evidence; plus suggested KB
        articles and similar resolved tickets."""
        reqs = [body.request] if body.request is not None else list(body.items or [])
        results = triager.predict([r.model_dump() for r in reqs], body.suggestions, body.record)
        return {"results": results}

    @app.post(
        "/triage/{request_id}/corrections", tags=["triage"], response_model=TriageCorrectionOut
    )
    def correct(
        request_id: RecordId, body: CorrectionIn, flow: DeskFlow, who: Agent
    ) -> dict[str, Any]:
        """Record an agent's correction of one field (feeds the next `triage train`)."""
        return flow.correct_triage(request_id, who, body.field, body.value)

    @app.get("/triage/models", tags=["triage"], response_model=TriageModelsOut)
    def triage_models(triager: TriageService, _who: Agent) -> dict[str, Any]:
        """Trained model versions with their metrics; which one is active."""
        return triager.models()

    app.include_router(routes_desk.router)
    app.include_router(routes_kb.router)
    app.include_router(routes_kb.dashboard_router)
    app.include_router(routes_admin.router)
    app.include_router(routes_connectors.router)
    app.include_router(routes_webhooks.router)
    return app


def _log_search(service: Firstline, query: str, hits: list[dict[str, Any]], who: Principal) -> None:
    """Searches are kept (query, article hits, best article score) to find knowledge gaps."""
    articles = [h for h in hits if h.get("kind") == "article"]
    scores = [
        h["why"]["dense_score"]
        for h in articles
        if (h.get("why") or {}).get("dense_score") is not None
    ]
    with service.db.session() as s:
        s.add(
            SearchLog(
                query=query[:2000],
                hits=len(articles),
                top_score=max(scores) if scores else None,
                actor=who.name,
            )
        )


def _external(item: dict[str, Any]) -> dict[str, Any]:
    if "id" in item:
        item["external_id"] = item.pop("id")
    for k in ("opened_at", "resolved_at", "created_at", "updated_at"):
        if k in item:
            item[k] = item[k].isoformat()
    return item
