"""The desk: intake with triage and suggestions, then resolve (reuse / create), escalate, close;
feedback on suggestions and corrections of triage fields.  Every write is audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query

from api.deps import Agent, AuditLog, DeskService, Service, TriageService
from api.schemas import (
    DeskCorrectionIn,
    DeskCorrectionOut,
    DeskOpenOut,
    DeskTicketIn,
    DeskTicketOut,
    DeskTicketsOut,
    EscalateIn,
    RecordId,
    ResolveIn,
)
from core.errors import BackendUnavailableError, InvalidInputError, ModelNotTrainedError
from core.time import iso
from indexer.service import Firstline
from indexer.types import Filters
from kb.auth import Audit, Principal
from kb.desk import FIELDS, Desk
from triage.service import Triager, request_text

router = APIRouter(prefix="/desk", tags=["desk"])
log = logging.getLogger("firstline.api")


def _triage(
    triager: Triager, service: Firstline, req: dict[str, Any], text: str, vector: np.ndarray
) -> dict[str, Any]:
    """The triage card; without a trained model the ticket is still taken, with suggestions.
    The request is encoded once, by the caller, for triage, suggestions and the ticket."""
    try:
        return triager.predict([req], suggestions=5, record=True, embeddings=vector[None, :])[0]
    except ModelNotTrainedError as e:
        published = Filters(kinds=["article"], statuses=["published"])
        return {
            "fields": {},
            "untriaged": str(e),
            "suggested_articles": service.search(text, 5, published, vector=vector),
            "similar_tickets": service.search(text, 5, Filters(kinds=["ticket"]), vector=vector),
        }


def _write_back(service: Firstline, desk: Desk, ticket_id: int) -> None:
    """A solved ticket becomes searchable as a resolved ticket for the next agent.  Best
    effort: the resolution is stored; if the search engine is down, the resolved ticket waits
    in the record, marked pending, until the next sync."""
    try:
        _store_resolved(service, desk, ticket_id)
        service.ingestor.sync_pending()  # e.g. a draft captured from it: embedded, not shown
    except BackendUnavailableError as e:
        log.warning("desk ticket %s not written back to the index now: %s", ticket_id, e)


def _store_resolved(service: Firstline, desk: Desk, ticket_id: int) -> None:
    t = desk.record(ticket_id)
    item = {
        "external_id": f"DESK-{t.id}",
        "title": t.title,
        "description": t.description,
        "resolution": t.resolution,
        "category": t.category,
        "assignment_group": t.assignment_group,
        "type": t.type,
        "impact": t.impact,
        "urgency": t.urgency,
        "priority": t.priority,
        "caller": t.caller,
        "status": "resolved",
        "opened_at": iso(t.created_at),
        "resolved_at": iso(t.resolved_at),
    }
    service.ingest_items("ticket", [{k: v for k, v in item.items() if v is not None}], "desk")


@router.post("/tickets", response_model=DeskOpenOut)
def open_ticket(
    body: DeskTicketIn,
    who: Agent,
    service: Service,
    triager: TriageService,
    desk: DeskService,
    audit: AuditLog,
) -> dict[str, Any]:
    """Take a new request: it is triaged at once, and the suggested KB answers and similar
    resolved tickets come back with it, before anyone escalates."""
    req = body.model_dump()
    text = request_text(req.get("title"), req.get("description"))
    if not text:
        raise InvalidInputError("a request needs a title or a description")
    vector = service.encoder.encode([text])[0]
    card = _triage(triager, service, req, text, vector)
    ticket = desk.open(req, card, who.name, vector)
    audit.write(who, "desk.open", ticket["ref"], None, ticket)
    ticket.pop("triage", None)
    return {"ticket": ticket, "triage": card}


@router.get("/tickets", response_model=DeskTicketsOut)
def list_tickets(
    desk: DeskService,
    _who: Agent,
    state: Annotated[
        list[Literal["new", "in_progress", "resolved", "escalated", "closed"]] | None, Query()
    ] = None,
    breached: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Desk tickets, newest first, with their SLA standing."""
    return {"tickets": desk.list(state, limit, breached)}


@router.get("/tickets/{ticket_id}", response_model=DeskTicketOut)
def get_ticket(ticket_id: RecordId, desk: DeskService, _who: Agent) -> dict[str, Any]:
    """One ticket with its triage card and its history."""
    return desk.get(ticket_id)


def _audited_move(
    who: Principal,
    desk: Desk,
    audit: Audit,
    action: str,
    ticket_id: int,
    move: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run one move of a ticket's life and audit it with the state it came from."""
    before = desk.record(ticket_id).state
    after = move()
    audit.write(who, action, after["ref"], {"state": before}, after)
    return after


@router.post("/tickets/{ticket_id}/start", response_model=DeskTicketOut)
def start(ticket_id: RecordId, who: Agent, desk: DeskService, audit: AuditLog) -> dict[str, Any]:
    """An agent takes the ticket (the response clock stops)."""
    return _audited_move(
        who, desk, audit, "desk.start", ticket_id, lambda: desk.start(ticket_id, who.name)
    )


@router.post("/tickets/{ticket_id}/resolve", response_model=DeskTicketOut)
def resolve(
    ticket_id: RecordId,
    body: ResolveIn,
    who: Agent,
    service: Service,
    desk: DeskService,
    audit: AuditLog,
) -> dict[str, Any]:
    """Resolve with an existing article (``article_id``: KCS reuse) or with a new answer
    (``resolution``: KCS create, captured as a KB draft linked to the ticket)."""
    if (body.article_id is None) == (not (body.resolution or "").strip()):
        raise InvalidInputError("give either article_id (reuse) or resolution (new answer)")
    if body.article_id is not None:
        move = partial(desk.resolve_with_article, ticket_id, body.article_id, who.name, None)
    else:
        text = body.resolution or ""
        move = partial(desk.resolve_with_answer, ticket_id, text, who.name, body.capture)
    after = _audited_move(who, desk, audit, "desk.resolve", ticket_id, move)
    _write_back(service, desk, ticket_id)  # also embeds a captured draft (for duplicates)
    return after


@router.post("/tickets/{ticket_id}/escalate", response_model=DeskTicketOut)
def escalate(
    ticket_id: RecordId, body: EscalateIn, who: Agent, desk: DeskService, audit: AuditLog
) -> dict[str, Any]:
    """To second line with the group and priority, and the suggestions that did not help."""
    return _audited_move(
        who,
        desk,
        audit,
        "desk.escalate",
        ticket_id,
        lambda: desk.escalate(ticket_id, who.name, body.group, body.note, body.rejected),
    )


@router.post("/tickets/{ticket_id}/close", response_model=DeskTicketOut)
def close(ticket_id: RecordId, who: Agent, desk: DeskService, audit: AuditLog) -> dict[str, Any]:
    return _audited_move(
        who, desk, audit, "desk.close", ticket_id, lambda: desk.close(ticket_id, who.name)
    )


@router.post("/tickets/{ticket_id}/corrections", response_model=DeskCorrectionOut)
def correct(
    ticket_id: RecordId,
    body: DeskCorrectionIn,
    who: Agent,
    desk: DeskService,
    triager: TriageService,
    audit: AuditLog,
) -> dict[str, Any]:
    """Correct a triage field; stored for retraining, and applied to the ticket (a new
    impact or urgency recomputes priority, quadrant and SLA targets)."""
    field, value = body.field, body.value.strip()
    if field not in FIELDS or field in ("priority", "quadrant"):
        editable = [f for f in FIELDS if f not in ("priority", "quadrant")]
        raise InvalidInputError(f"unknown field {field!r}; one of: {', '.join(editable)}")
    ticket = desk.get(ticket_id)
    m = triager.matrix
    levels = {"impact": m.impact_levels, "urgency": m.urgency_levels}
    if field in levels and value not in levels[field]:
        raise InvalidInputError(f"unknown {field} {value!r}; levels: {', '.join(levels[field])}")
    correction = None
    if ticket["triage_request_id"] is not None:
        correction = triager.correct(ticket["triage_request_id"], field, value, who.name)
    values: dict[str, Any] = {field: value}
    impact = value if field == "impact" else ticket["impact"]
    urgency = value if field == "urgency" else ticket["urgency"]
    sla = None
    if field in levels and impact in m.impact_levels and urgency in m.urgency_levels:
        values["priority"] = m.priority(impact, urgency)
        values["quadrant"] = m.quadrant(impact, urgency)
        sla = m.sla_for(values["priority"])
    after = desk.set_fields(ticket_id, values, who.name)
    if sla is not None:
        desk.reset_sla(ticket_id, sla.respond_minutes, sla.resolve_minutes)
        after = desk.get(ticket_id)
        after.pop("events", None)
        after.pop("triage", None)
    audit.write(who, "desk.correct", ticket["ref"], {k: ticket.get(k) for k in values}, values)
    return {"ticket": after, "correction": correction}
