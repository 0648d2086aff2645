"""Connections (admin): list them with their sync state, pause, resume, run a sync."""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import Admin
from api.schemas import ConnectionOut, ConnectionsOut, SyncReportOut
from connectors.sync import CONNECTORS, SyncService
from core.errors import ConflictError, InvalidInputError

router = APIRouter(tags=["connectors"])
log = logging.getLogger("firstline.api")


def _sync(request: Request) -> SyncService:
    return request.app.state.sync_service


Syncs = Annotated[SyncService, Depends(_sync)]


@router.get("/admin/connectors", response_model=ConnectionsOut)
def list_connectors(_who: Admin, syncs: Syncs) -> dict[str, Any]:
    """Every connection with its last sync: when, counts, error."""
    return {"connections": syncs.connections.list()}


@router.get("/admin/connectors/{name}", response_model=ConnectionOut)
def get_connector(name: str, _who: Admin, syncs: Syncs) -> dict[str, Any]:
    return syncs.connections.get(name)


@router.post("/admin/connectors/{name}/pause", response_model=ConnectionOut)
def pause(name: str, who: Admin, syncs: Syncs) -> dict[str, Any]:
    """The scheduler leaves it alone (a webhook's deliveries wait) until resumed."""
    return syncs.set_paused(who, name, True)


@router.post("/admin/connectors/{name}/resume", response_model=ConnectionOut)
def resume(name: str, who: Admin, syncs: Syncs) -> dict[str, Any]:
    return syncs.set_paused(who, name, False)


@router.post(
    "/admin/connectors/{name}/run",
    response_model=SyncReportOut,
    responses={409: {"description": "Another process is syncing this connection."}},
)
async def run(
    name: str,
    who: Admin,
    syncs: Syncs,
    wait: Annotated[bool, Query(description="Answer with the report when done.")] = False,
    dry_run: Annotated[
        bool, Query(description="Show what would be written; store nothing.")
    ] = False,
) -> dict[str, Any]:
    """Sync now.  By default the sync runs in the background (see ``/admin/connectors``);
    ``wait=true`` or ``dry_run=true`` answer with the report."""
    conn = syncs.connections.get(name)  # 404 before anything starts
    if conn["kind"] not in CONNECTORS:
        raise InvalidInputError(
            f"connection {name!r} is a {conn['kind']}: it is not synced (a webhook's "
            "deliveries are sent by the webhook worker)"
        )
    if wait or dry_run:
        report = await run_in_threadpool(syncs.run, name, dry_run)
        return report.as_dict()
    if conn["running"]:
        raise ConflictError(f"connection {name!r} is being synced by another process")

    def background() -> None:
        try:
            syncs.run(name)
        except Exception:  # noqa: BLE001 - the outcome is on the connection
            log.exception("sync of %s failed", name)

    threading.Thread(target=background, name=f"sync-{name}", daemon=True).start()
    log.info("sync of %s started by %s", name, who.name)
    return {
        "name": name,
        "kind": conn["kind"],
        "status": "started",
        "counts": {},
        "errors": [],
        "planned": [],
    }
