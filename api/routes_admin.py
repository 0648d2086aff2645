"""Who am I, API keys and the audit log (admin), retraining triage (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import Admin, AdminFlow, Agent, AuditLog, KeyStore, Service, TriageService
from api.schemas import (
    AuditOut,
    KeyIn,
    KeyOut,
    KeysOut,
    MeOut,
    NewKeyOut,
    RecordId,
    SettingsOut,
    Str,
    TrainIn,
    TrainOut,
    VerifyOut,
)

router = APIRouter(tags=["admin"])


@router.get("/me", response_model=MeOut)
def me(who: Agent) -> dict[str, Any]:
    """The caller's name and role (the console signs in with this)."""
    return {"name": who.name, "role": who.role}


@router.post("/admin/keys", response_model=NewKeyOut)
def create_key(body: KeyIn, who: Admin, flow: AdminFlow) -> dict[str, Any]:
    """A new API key.  The key is in this answer only: it is stored as a hash."""
    record, key = flow.create_key(who, body.name, body.role)
    return {**record, "key": key}


@router.get("/admin/keys", response_model=KeysOut)
def list_keys(_who: Admin, keys: KeyStore) -> dict[str, Any]:
    return {"keys": keys.list()}


@router.delete("/admin/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: RecordId, who: Admin, flow: AdminFlow) -> dict[str, Any]:
    record = flow.revoke_key(who, key_id)
    return record


@router.get("/admin/audit", response_model=AuditOut)
def audit_log(
    _who: Admin,
    audit: AuditLog,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: Annotated[Str | None, Query(max_length=200)] = None,
    action: Annotated[Str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Every write: who, what, when, before and after (newest first)."""
    return {"entries": audit.list(limit, actor, action)}


@router.get("/admin/settings", response_model=SettingsOut)
def effective_settings(_who: Admin, request: Request) -> dict[str, Any]:
    """The server's effective settings as environment variables (secrets hidden)."""
    return {"settings": request.app.state.settings.as_environment()}


@router.post("/admin/triage/train", response_model=TrainOut)
def train(body: TrainIn, who: Admin, triager: TriageService, audit: AuditLog) -> dict[str, Any]:
    """Retrain triage from history plus corrections (the evaluation gate applies)."""
    result = triager.train(force=body.force)
    audit.write(who, "admin.triage_train", "triage", None, {"version": result.get("version")})
    return result


@router.get("/admin/index/verify", response_model=VerifyOut)
async def verify_index(_who: Admin, service: Service) -> dict[str, Any]:
    """Compare the SQL record and the search index by id and content hash: ``drift`` counts
    rows missing from the index, orphans in it and stale versions (with samples)."""
    report = await run_in_threadpool(service.verify, False)
    report.pop("_ids", None)
    return report


@router.post("/admin/index/verify", response_model=VerifyOut)
async def repair_index(
    who: Admin,
    service: Service,
    audit: AuditLog,
    repair: Annotated[bool, Query(description="Re-queue drifted rows, delete orphans.")] = False,
) -> dict[str, Any]:
    """The same comparison; with ``repair=true`` drift is fixed and the comparison run again."""
    report = await run_in_threadpool(service.verify, repair)
    report.pop("_ids", None)
    if repair:
        audit.write(who, "admin.index_repair", "index", None, {"drift": report["drift"]})
    return report
