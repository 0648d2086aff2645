"""The desk: live tickets and what agents do with them.

A ticket's life: ``new → in_progress → resolved | escalated → closed`` (an escalated ticket is
resolved by second line later).  First line ends a ticket in one of three ways, each recorded
as an event, which is what the deflection and KCS figures are computed from:

- **reuse**: resolved with an existing article (the ticket is linked to it);
- **create**: resolved with a new answer, captured as a KB draft linked to the ticket;
- **escalated**: sent to second line with its group and priority, and the suggestions that
  were shown and not used.

SLA clocks start at creation from the priority's respond/resolve targets; a ticket is in
breach when it was not responded to (or resolved) by then.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.time import aware, iso, utcnow
from kb.curation import Knowledge
from kb.db import Database
from kb.models import Article, DeskTicket, Event

STATES = ("new", "in_progress", "resolved", "escalated", "closed")
OPEN_STATES = ("new", "in_progress", "escalated")
ORDERS = ("newest", "priority")
FIELDS = (
    "type",
    "impact",
    "urgency",
    "priority",
    "quadrant",
    "category",
    "assignment_group",
    "tier",
)


def sla_status(t: DeskTicket, now: datetime | None = None) -> dict[str, Any]:
    """Where the ticket stands against its SLA targets."""
    now = now or utcnow()
    respond_by, resolve_by = aware(t.respond_by), aware(t.resolve_by)
    responded = aware(t.responded_at) or aware(t.resolved_at)
    resolved = aware(t.resolved_at)
    if t.state == "escalated":
        resolved = None
    response_breached = respond_by is not None and (responded or now) > respond_by
    resolution_breached = resolve_by is not None and (resolved or now) > resolve_by
    left = None
    if resolve_by is not None and resolved is None:
        left = round((resolve_by - now).total_seconds() / 60)
    return {
        "respond_by": iso(respond_by),
        "resolve_by": iso(resolve_by),
        "response_breached": response_breached,
        "resolution_breached": resolution_breached,
        "breached": response_breached or resolution_breached,
        "minutes_left": left,
    }


def ticket_dict(t: DeskTicket, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "ref": f"desk:{t.id}",
        "title": t.title,
        "description": t.description,
        "caller": t.caller,
        "vip": t.vip,
        "users_affected": t.users_affected,
        "service": t.service,
        "channel": t.channel,
        "state": t.state,
        **{f: getattr(t, f) for f in FIELDS},
        "triage_request_id": t.triage_request_id,
        "suggested": list(t.suggested or []),
        "created_by": t.created_by,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "responded_at": iso(t.responded_at),
        "resolved_at": iso(t.resolved_at),
        "closed_at": iso(t.closed_at),
        "outcome": t.outcome,
        "resolution": t.resolution,
        "article_id": t.article_id,
        "escalated_to": t.escalated_to,
        "sla": sla_status(t),
        # impact or urgency still waits for a human: the range, and the priority the SLA
        # clock runs on meanwhile
        "provisional": None if t.priority else (t.triage or {}).get("provisional"),
    }
    if full:
        out["triage"] = t.triage
    return out


def _natural(text: str) -> tuple[Any, ...]:
    """A sort key that puts "P2" before "P10" (text parts and numbers alternate)."""
    return tuple(
        int(part) if i % 2 else part.casefold() for i, part in enumerate(re.split(r"(\d+)", text))
    )


def queue_key(ticket: dict[str, Any]) -> tuple[Any, ...]:
    """The desk's working order: by priority (P1 first; a provisional priority counts as the
    priority its SLA runs on), then by when resolution is due, earliest first.  A ticket
    without a priority comes after those with one, and one without a due time after those
    with one; ties go to the newest ticket."""
    priority = ticket.get("priority") or (ticket.get("provisional") or {}).get("sla_priority")
    due = (ticket.get("sla") or {}).get("resolve_by")
    return (
        priority is None,
        _natural(priority or ""),
        due is None,
        datetime.fromisoformat(due) if due else datetime.min.replace(tzinfo=UTC),
        -ticket["id"],
    )


class Desk:
    """Desk tickets and their events.  Constructing it does no I/O."""

    def __init__(self, db: Database, knowledge: Knowledge) -> None:
        self.db = db
        self.knowledge = knowledge

    def _get(self, s: Any, ticket_id: int, lock: bool = False) -> DeskTicket:
        """The ticket; ``lock`` holds it until the write commits, so two agents cannot both
        move it (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers)."""
        t = s.get(DeskTicket, ticket_id, with_for_update=lock)
        if t is None:
            raise NotFoundError(f"no desk ticket {ticket_id}")
        return t

    def open(
        self,
        request: dict[str, Any],
        triage: dict[str, Any],
        actor: str,
        embedding: np.ndarray | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """A new ticket, with the triage card and the suggestions it showed the agent."""
        fields = triage.get("fields", {})
        suggested = [
            int(h["id"].split(":", 1)[1])
            for h in triage.get("suggested_articles", [])
            if str(h.get("id", "")).startswith("article:")
        ]
        now = utcnow()
        sla = triage.get("sla") or {}
        with self.db.session(within) as s:
            t = DeskTicket(
                title=(request.get("title") or "").strip(),
                description=(request.get("description") or "").strip(),
                caller=request.get("caller"),
                vip=bool(request.get("vip")),
                users_affected=request.get("users_affected"),
                service=request.get("service"),
                channel=request.get("channel"),
                state="new",
                triage_request_id=triage.get("request_id"),
                triage=triage,
                suggested=suggested,
                created_by=actor,
                created_at=now,
                embedding=None if embedding is None else embedding.astype(np.float32).tobytes(),
            )
            for f in ("type", "impact", "urgency", "category", "assignment_group", "tier"):
                setattr(t, f, (fields.get(f) or {}).get("value"))
            t.priority = triage.get("priority")
            t.quadrant = triage.get("quadrant")
            if sla.get("respond_minutes") is not None:
                t.respond_by = now + timedelta(minutes=sla["respond_minutes"])
                t.resolve_by = now + timedelta(minutes=sla["resolve_minutes"])
            s.add(t)
            s.flush()
            s.add(
                Event(
                    kind="created",
                    ticket_id=t.id,
                    actor=actor,
                    data={"priority": t.priority, "tier": t.tier, "suggested": suggested},
                )
            )
            return ticket_dict(t, full=True)

    def get(self, ticket_id: int, within: Session | None = None) -> dict[str, Any]:
        with self.db.session(within) as s:
            t = self._get(s, ticket_id)
            out = ticket_dict(t, full=True)
            out["events"] = [
                {
                    "kind": e.kind,
                    "actor": e.actor,
                    "article_id": e.article_id,
                    "data": e.data,
                    "created_at": iso(e.created_at),
                }
                for e in s.scalars(select(Event).where(Event.ticket_id == t.id).order_by(Event.id))
            ]
            return out

    def record(
        self, ticket_id: int, within: Session | None = None, lock: bool = False
    ) -> DeskTicket:
        """The ticket row; ``lock`` (inside a unit of work) holds it until the commit."""
        with self.db.session(within) as s:
            return self._get(s, ticket_id, lock)

    def list(
        self,
        states: Sequence[str] | None = None,
        limit: int = 100,
        breached: bool | None = None,
        order: str = "newest",
        within: Session | None = None,
    ) -> list[dict[str, Any]]:
        """Tickets newest first, or in the desk's working order (``order="priority"``, see
        :func:`queue_key`; meant for the open queue, as every candidate is read to sort)."""
        if states:
            bad = set(states) - set(STATES)
            if bad:
                raise InvalidInputError(
                    f"unknown state {sorted(bad)[0]!r}; one of: {', '.join(STATES)}"
                )
        if order not in ORDERS:
            raise InvalidInputError(f"unknown order {order!r}; one of: {', '.join(ORDERS)}")
        with self.db.session(within) as s:
            q = select(DeskTicket).order_by(DeskTicket.id.desc())
            if states:
                q = q.where(DeskTicket.state.in_(list(states)))
            if breached is None and order == "newest":
                return [ticket_dict(t) for t in s.scalars(q.limit(limit))]
            # SLA standing depends on the clock, and the working order on every candidate:
            # look at them all, then cut.
            tickets: Iterator[dict[str, Any]] = (ticket_dict(t) for t in s.scalars(q))
            if breached is not None:
                tickets = (d for d in tickets if d["sla"]["breached"] == breached)
            if order == "priority":
                return sorted(tickets, key=queue_key)[:limit]
            return list(islice(tickets, limit))

    # -- the agent's actions -------------------------------------------------------------
    def _save(self, s: Session, t: DeskTicket) -> dict[str, Any]:
        """Write the move.  Two agents moving one ticket at once: on PostgreSQL the row lock
        makes the second wait and fail its state check; on SQLite (no row locks) the second's
        update from a stale read matches no row (``row_version``).  Either way the loser gets
        the same conflict, with the ticket as it is now, and nothing of its move is kept."""
        ticket_id = t.id
        try:
            s.flush()
        except (IntegrityError, StaleDataError) as e:
            with self.db.session() as fresh:  # committed state, outside the failed write
                current = fresh.get(DeskTicket, ticket_id)
                now = ticket_dict(current) if current is not None else None
            raise ConflictError(
                f"desk ticket {ticket_id} was moved by someone else meanwhile; "
                "reload it and try again",
                current=now,
            ) from e
        return ticket_dict(t)

    def _move(self, t: DeskTicket, to: str, allowed_from: Sequence[str]) -> None:
        if t.state not in allowed_from:
            raise ConflictError(
                f"desk ticket {t.id} is {t.state}; it cannot be moved to {to} "
                f"(only from {', '.join(allowed_from)})",
                current=ticket_dict(t),
            )
        t.state = to

    def start(self, ticket_id: int, actor: str, within: Session | None = None) -> dict[str, Any]:
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            self._move(t, "in_progress", ("new", "escalated"))
            if t.responded_at is None:
                t.responded_at = utcnow()
                s.add(Event(kind="responded", ticket_id=t.id, actor=actor, data={}))
            return self._save(s, t)

    def resolve_with_article(
        self,
        ticket_id: int,
        article_id: int,
        actor: str,
        note: str | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """KCS reuse: the answer was an existing, published article."""
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            a = s.get(Article, article_id)
            if a is None:
                raise NotFoundError(f"no article {article_id}")
            if a.status != "published":
                raise ConflictError(f"article {article_id} is {a.status}, not published")
            line = self._resolve(s, t, actor)
            t.article_id = a.id
            t.resolution = note or f"Resolved with {a.external_id}: {a.title}"
            if line == "first":
                t.outcome = "reuse"
            s.add(
                Event(
                    kind="reuse",
                    ticket_id=t.id,
                    article_id=a.id,
                    actor=actor,
                    data={"line": line, "suggested": a.id in (t.suggested or [])},
                )
            )
            return self._save(s, t)

    def resolve_with_answer(
        self,
        ticket_id: int,
        resolution: str,
        actor: str,
        capture: bool = True,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """KCS create: a new answer, captured as a draft article linked to the ticket (in the
        same transaction: a resolve that loses a race leaves no orphan draft)."""
        resolution = (resolution or "").strip()
        if not resolution:
            raise InvalidInputError("say how it was resolved")
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            self._check_can_resolve(t)
            draft = self.knowledge.capture(s, t, resolution, actor) if capture else None
            line = self._resolve(s, t, actor)
            t.resolution = resolution
            if draft is not None:
                t.article_id = draft["id"]
            if line == "first":
                t.outcome = "create"
            s.add(
                Event(
                    kind="create",
                    ticket_id=t.id,
                    article_id=draft["id"] if draft else None,
                    actor=actor,
                    data={"line": line, "captured": draft is not None},
                )
            )
            out = self._save(s, t)
        out["draft"] = draft
        return out

    def _check_can_resolve(self, t: DeskTicket) -> None:
        if t.state not in ("new", "in_progress", "escalated"):
            raise ConflictError(f"desk ticket {t.id} is already {t.state}", current=ticket_dict(t))

    def _resolve(self, s: Any, t: DeskTicket, actor: str) -> str:
        self._check_can_resolve(t)
        line = "second" if t.state == "escalated" or t.outcome == "escalated" else "first"
        t.state = "resolved"
        now = utcnow()
        t.resolved_at = now
        if t.responded_at is None:
            t.responded_at = now
        return line

    def escalate(
        self,
        ticket_id: int,
        actor: str,
        group: str | None = None,
        note: str | None = None,
        rejected: Sequence[int] | None = None,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """To second line, carrying group and priority and the suggestions not used."""
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            self._move(t, "escalated", ("new", "in_progress"))
            t.escalated_to = (group or t.assignment_group or "second line").strip()
            t.outcome = "escalated"
            if t.responded_at is None:
                t.responded_at = utcnow()
            not_used = list(rejected) if rejected is not None else list(t.suggested or [])
            s.add(
                Event(
                    kind="escalated",
                    ticket_id=t.id,
                    actor=actor,
                    data={
                        "group": t.escalated_to,
                        "priority": t.priority,
                        "note": note,
                        "rejected_suggestions": not_used,
                    },
                )
            )
            return self._save(s, t)

    def close(self, ticket_id: int, actor: str, within: Session | None = None) -> dict[str, Any]:
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            self._move(t, "closed", ("resolved",))
            t.closed_at = utcnow()
            s.add(Event(kind="closed", ticket_id=t.id, actor=actor, data={}))
            return self._save(s, t)

    def set_fields(
        self, ticket_id: int, values: dict[str, Any], actor: str, within: Session | None = None
    ) -> dict[str, Any]:
        """Apply corrected triage fields (and the priority they imply) to the ticket."""
        unknown = [f for f in values if f not in FIELDS]
        if unknown:
            raise InvalidInputError(f"unknown field {unknown[0]!r}; one of: {', '.join(FIELDS)}")
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            before = {f: getattr(t, f) for f in values}
            for f, v in values.items():
                setattr(t, f, v)
            s.add(
                Event(
                    kind="corrected",
                    ticket_id=t.id,
                    actor=actor,
                    data={"before": before, "after": values},
                )
            )
            return self._save(s, t)

    def reset_sla(
        self,
        ticket_id: int,
        respond_minutes: int,
        resolve_minutes: int,
        within: Session | None = None,
    ) -> None:
        """A new priority brings new targets, counted from when the ticket was opened."""
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            opened = aware(t.created_at) or datetime.now(UTC)
            t.respond_by = opened + timedelta(minutes=respond_minutes)
            t.resolve_by = opened + timedelta(minutes=resolve_minutes)

    def add_reply(
        self,
        ticket_id: int,
        sender: str | None,
        text: str,
        actor: str,
        within: Session | None = None,
    ) -> dict[str, Any]:
        """A follow-up from the caller, appended to the description (what the agent reads)."""
        with self.db.session(within) as s:
            t = self._get(s, ticket_id, lock=True)
            stamp = utcnow().strftime("%Y-%m-%d %H:%M UTC")
            t.description = (
                f"{t.description}\n\n--- reply from {sender or 'the caller'}, {stamp}\n{text}"
            )
            s.add(Event(kind="reply", ticket_id=t.id, actor=actor, data={"from": sender}))
            return self._save(s, t)

    def update_text(
        self, ticket_id: int, title: str, description: str, actor: str, within: Session
    ) -> dict[str, Any]:
        """The request as its source system now words it (an edit made there)."""
        t = self._get(within, ticket_id, lock=True)
        t.title, t.description = title.strip(), description.strip()
        within.add(Event(kind="edited", ticket_id=t.id, actor=actor, data={}))
        return self._save(within, t)
