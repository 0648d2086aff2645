"""Dependencies shared by the routes: the services on ``app.state`` and who is calling.

A request names its API key in ``X-API-Key`` (or ``Authorization: Bearer <key>``).  No valid key:
401.  A valid key whose role is too low for the route: 403.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from connectors.webhook_admin import WebhookAdmin
from core.errors import UnauthorizedError
from indexer.service import Firstline
from kb.auth import Audit, Keys, Principal
from kb.curation import Knowledge
from kb.desk import Desk
from kb.insights import Insights
from services.admin import AdminWorkflow
from services.desk import DeskWorkflow
from services.knowledge import KnowledgeWorkflow
from triage.service import Triager


def _service(request: Request) -> Firstline:
    return request.app.state.service


def _triager(request: Request) -> Triager:
    return request.app.state.triager


def _knowledge(request: Request) -> Knowledge:
    return request.app.state.knowledge


def _desk(request: Request) -> Desk:
    return request.app.state.desk


def _insights(request: Request) -> Insights:
    return request.app.state.insights


def _desk_flow(request: Request) -> DeskWorkflow:
    return request.app.state.desk_flow


def _knowledge_flow(request: Request) -> KnowledgeWorkflow:
    return request.app.state.knowledge_flow


def _admin_flow(request: Request) -> AdminWorkflow:
    return request.app.state.admin_flow


def _audit(request: Request) -> Audit:
    return request.app.state.audit


def _keys(request: Request) -> Keys:
    return request.app.state.keys


def _webhooks(request: Request) -> WebhookAdmin:
    return request.app.state.webhooks


Service = Annotated[Firstline, Depends(_service)]
TriageService = Annotated[Triager, Depends(_triager)]
KnowledgeService = Annotated[Knowledge, Depends(_knowledge)]
DeskService = Annotated[Desk, Depends(_desk)]
InsightsService = Annotated[Insights, Depends(_insights)]
DeskFlow = Annotated[DeskWorkflow, Depends(_desk_flow)]
KnowledgeFlow = Annotated[KnowledgeWorkflow, Depends(_knowledge_flow)]
AdminFlow = Annotated[AdminWorkflow, Depends(_admin_flow)]
AuditLog = Annotated[Audit, Depends(_audit)]
KeyStore = Annotated[Keys, Depends(_keys)]
Webhooks = Annotated[WebhookAdmin, Depends(_webhooks)]


# Declared in OpenAPI as the security scheme of every route but /health; ``auto_error=False``
# so that a missing key is our 401 with the JSON error shape.
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key (`firstline keys create`); `Authorization: Bearer <key>` also works.",
)


def _presented_key(request: Request, key: str | None) -> str:
    key = key or ""
    if not key:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:]
    return key.strip()


async def principal(
    request: Request, header_key: Annotated[str | None, Security(api_key_header)]
) -> Principal:
    key = _presented_key(request, header_key)
    if not key:
        raise UnauthorizedError("an API key is required (header X-API-Key)")
    admin = request.app.state.settings.api.admin_key
    if admin is not None and hmac.compare_digest(key, admin.get_secret_value()):
        return Principal("admin-key", "admin")
    who = await run_in_threadpool(request.app.state.keys.lookup, key)
    if who is None:
        raise UnauthorizedError("the API key is not valid (unknown or revoked)")
    return who


def role(name: str):  # noqa: ANN201 - a FastAPI dependency factory
    """A dependency that lets in callers with at least role ``name``."""

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        who.require(name)
        return who

    return check


Agent = Annotated[Principal, Depends(role("agent"))]
Editor = Annotated[Principal, Depends(role("editor"))]
Admin = Annotated[Principal, Depends(role("admin"))]
