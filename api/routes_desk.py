"""The desk: intake with triage and suggestions, then resolve (reuse / create), escalate, close;
feedback on suggestions and corrections of triage fields.  Thin adapters over the desk workflow
(``services.desk``), where each action is one audited unit of work."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import Agent, DeskFlow, DeskService
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

router = APIRouter(prefix="/desk", tags=["desk"])


@router.post("/tickets", response_model=DeskOpenOut)
def open_ticket(body: DeskTicketIn, who: Agent, flow: DeskFlow) -> dict[str, Any]:
    """Take a new request: it is triaged at once, and the suggested KB answers and similar
    resolved tickets come back with it, before anyone escalates."""
    return flow.intake(body.model_dump(), who)


@router.get("/tickets", response_model=DeskTicketsOut)
def list_tickets(
    desk: DeskService,
    _who: Agent,
    state: Annotated[
        list[Literal["new", "in_progress", "resolved", "escalated", "closed"]] | None, Query()
    ] = None,
    breached: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order: Annotated[
        Literal["newest", "priority"],
        Query(
            description="newest first, or the desk's working order: by priority (P1 first; a "
            "provisional priority counts as its SLA priority), then by resolution due, earliest "
            "first; tickets without a priority last."
        ),
    ] = "newest",
) -> dict[str, Any]:
    """Desk tickets with their SLA standing, newest first or in the desk's working order."""
    return {"tickets": desk.list(state, limit, breached, order)}


@router.get("/tickets/{ticket_id}", response_model=DeskTicketOut)
def get_ticket(ticket_id: RecordId, desk: DeskService, _who: Agent) -> dict[str, Any]:
    """One ticket with its triage card and its history."""
    return desk.get(ticket_id)


@router.post("/tickets/{ticket_id}/start", response_model=DeskTicketOut)
def start(ticket_id: RecordId, who: Agent, flow: DeskFlow) -> dict[str, Any]:
    """An agent takes the ticket (the response clock stops)."""
    return flow.start(ticket_id, who)


@router.post("/tickets/{ticket_id}/resolve", response_model=DeskTicketOut)
def resolve(ticket_id: RecordId, body: ResolveIn, who: Agent, flow: DeskFlow) -> dict[str, Any]:
    """Resolve with an existing article (``article_id``: KCS reuse) or with a new answer
    (``resolution``: KCS create, captured as a KB draft linked to the ticket)."""
    return flow.resolve(ticket_id, who, body.article_id, body.resolution, body.capture)


@router.post("/tickets/{ticket_id}/escalate", response_model=DeskTicketOut)
def escalate(ticket_id: RecordId, body: EscalateIn, who: Agent, flow: DeskFlow) -> dict[str, Any]:
    """To second line with the group and priority, and the suggestions that did not help."""
    return flow.escalate(ticket_id, who, body.group, body.note, body.rejected)


@router.post("/tickets/{ticket_id}/close", response_model=DeskTicketOut)
def close(ticket_id: RecordId, who: Agent, flow: DeskFlow) -> dict[str, Any]:
    return flow.close(ticket_id, who)


@router.post("/tickets/{ticket_id}/corrections", response_model=DeskCorrectionOut)
def correct(
    ticket_id: RecordId, body: DeskCorrectionIn, who: Agent, flow: DeskFlow
) -> dict[str, Any]:
    """Correct a triage field; stored for retraining, and applied to the ticket (a new
    impact or urgency recomputes priority, quadrant and SLA targets)."""
    return flow.correct(ticket_id, who, body.field, body.value)
