"""The desk workflow: intake (encode once, triage, open, audit), the moves of a ticket's life
(start, resolve with an article or a new answer, escalate, close) and corrections of triage
fields.  Each action is one unit of work; the index catches up after the commit."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from core.errors import InvalidInputError, ModelNotTrainedError
from indexer.mapping import FIELDS as RECORD_FIELDS
from indexer.mapping import Mapping_, build_record
from indexer.service import Firstline
from kb.auth import Audit, Principal
from kb.desk import FIELDS, Desk
from kb.records import upsert
from services.after_commit import index_changed
from triage.service import Triager, request_text

DESK_SOURCE = "desk"
EDITABLE = tuple(f for f in FIELDS if f not in ("priority", "quadrant"))


class DeskWorkflow:
    """The agent's actions on desk tickets.  Constructing it does no I/O."""

    def __init__(self, service: Firstline, triager: Triager, desk: Desk, audit: Audit) -> None:
        self.service = service
        self.triager = triager
        self.desk = desk
        self.audit = audit
        self.db = desk.db

    # -- intake --------------------------------------------------------------------------
    def intake(
        self, request: dict[str, Any], who: Principal, within: Session | None = None
    ) -> dict[str, Any]:
        """Take a new request: triaged at once, with suggested articles and similar resolved
        tickets.  The request is encoded once, for triage, suggestions and the ticket.
        ``within``: a caller's unit of work (a connector stores its link and watermark with
        the ticket, so a killed sync never takes one request twice)."""
        text = request_text(request.get("title"), request.get("description"))
        if not text:
            raise InvalidInputError("a request needs a title or a description")
        vector = self.service.encoder.encode([text])[0]
        with self.db.session(within) as s:
            card = self._triage(s, request, text, vector)
            ticket = self.desk.open(request, card, who.name, vector, within=s)
            self.audit.write(who, "desk.open", ticket["ref"], None, ticket, within=s)
        ticket.pop("triage", None)
        return {"ticket": ticket, "triage": card}

    def preview(self, request: dict[str, Any]) -> dict[str, Any]:
        """The triage card a request would get, with nothing stored (a dry-run sync)."""
        text = request_text(request.get("title"), request.get("description"))
        if not text:
            raise InvalidInputError("a request needs a title or a description")
        vector = self.service.encoder.encode([text])[0]
        try:
            return self.triager.predict([request], suggestions=5, embeddings=vector[None, :])[0]
        except ModelNotTrainedError as e:
            suggested, availability = self.triager.suggestions(text, 5, vector)
            return {"fields": {}, "untriaged": str(e), "suggestions": availability, **suggested}

    def add_reply(
        self, ticket_id: int, who: Principal, sender: str | None, text: str, within: Session
    ) -> dict[str, Any]:
        """A caller's follow-up (a reply mail) appended to its ticket, with its event and
        audit entry in the caller's unit of work."""
        after = self.desk.add_reply(ticket_id, sender, text, who.name, within=within)
        self.audit.write(who, "desk.reply", after["ref"], None, {"from": sender}, within=within)
        return after

    def _triage(
        self, s: Session, request: dict[str, Any], text: str, vector: np.ndarray
    ) -> dict[str, Any]:
        """The triage card; without a trained model the ticket is still taken, with
        suggestions."""
        try:
            return self.triager.predict(
                [request], suggestions=5, record=True, embeddings=vector[None, :], within=s
            )[0]
        except ModelNotTrainedError as e:
            suggested, availability = self.triager.suggestions(text, 5, vector)
            return {"fields": {}, "untriaged": str(e), "suggestions": availability, **suggested}

    # -- a ticket's life -----------------------------------------------------------------
    def start(self, ticket_id: int, who: Principal) -> dict[str, Any]:
        """An agent takes the ticket (the response clock stops)."""
        with self.db.session() as s:
            before = self.desk.record(ticket_id, s, lock=True).state
            after = self.desk.start(ticket_id, who.name, within=s)
            self.audit.write(who, "desk.start", after["ref"], {"state": before}, after, within=s)
        return after

    def resolve(
        self,
        ticket_id: int,
        who: Principal,
        article_id: int | None = None,
        resolution: str | None = None,
        capture: bool = True,
    ) -> dict[str, Any]:
        """Resolve with an existing article (KCS reuse) or with a new answer (KCS create,
        captured as a KB draft).  The resolved ticket is written back to the record as a
        searchable resolved ticket in the same unit of work; the index catches up after."""
        if (article_id is None) == (not (resolution or "").strip()):
            raise InvalidInputError("give either article_id (reuse) or resolution (new answer)")
        with self.db.session() as s:
            before = self.desk.record(ticket_id, s, lock=True).state
            if article_id is not None:
                after = self.desk.resolve_with_article(ticket_id, article_id, who.name, within=s)
            else:
                after = self.desk.resolve_with_answer(
                    ticket_id, resolution or "", who.name, capture, within=s
                )
            self._write_back(s, after)
            self.audit.write(who, "desk.resolve", after["ref"], {"state": before}, after, within=s)
        index_changed(self.service)
        return after

    def _write_back(self, s: Session, ticket: dict[str, Any]) -> None:
        """A solved ticket becomes searchable as a resolved ticket for the next agent: stored
        through the record's one writer, pending for the index."""
        item = {
            "external_id": f"DESK-{ticket['id']}",
            "title": ticket["title"],
            "description": ticket["description"],
            "resolution": ticket["resolution"],
            "category": ticket["category"],
            "assignment_group": ticket["assignment_group"],
            "type": ticket["type"],
            "impact": ticket["impact"],
            "urgency": ticket["urgency"],
            "priority": ticket["priority"],
            "caller": ticket["caller"],
            "status": "resolved",
            "opened_at": ticket["created_at"],
            "resolved_at": ticket["resolved_at"],
        }
        columns = Mapping_("ticket", {f: f for f in RECORD_FIELDS["ticket"]})
        record = build_record(columns, {k: v for k, v in item.items() if v is not None})
        upsert(s, "ticket", DESK_SOURCE, [record])

    def escalate(
        self,
        ticket_id: int,
        who: Principal,
        group: str | None = None,
        note: str | None = None,
        rejected: list[int] | None = None,
    ) -> dict[str, Any]:
        """To second line with the group and priority, and the suggestions that did not
        help."""
        with self.db.session() as s:
            before = self.desk.record(ticket_id, s, lock=True).state
            after = self.desk.escalate(ticket_id, who.name, group, note, rejected, within=s)
            self.audit.write(who, "desk.escalate", after["ref"], {"state": before}, after, within=s)
        return after

    def close(self, ticket_id: int, who: Principal) -> dict[str, Any]:
        with self.db.session() as s:
            before = self.desk.record(ticket_id, s, lock=True).state
            after = self.desk.close(ticket_id, who.name, within=s)
            self.audit.write(who, "desk.close", after["ref"], {"state": before}, after, within=s)
        return after

    # -- corrections ---------------------------------------------------------------------
    def _level(self, field: str, value: str) -> str:
        """A corrected value as the record keeps it: an impact or urgency is one of the
        matrix's levels, whatever its case ("High" is "high"), or refused with the levels;
        any other field's value is kept as typed."""
        value = value.strip()
        m = self.triager.matrix
        levels = {"impact": m.impact_levels, "urgency": m.urgency_levels}.get(field)
        if levels is None:
            return value
        for level in levels:
            if level.casefold() == value.casefold():
                return level
        raise InvalidInputError(f"unknown {field} {value!r}; levels: {', '.join(levels)}")

    def correct_triage(
        self, request_id: int, who: Principal, field: str, value: str
    ) -> dict[str, Any]:
        """An agent's correction of one triage field of a triaged request (feeds the next
        `triage train`), audited in the same unit of work."""
        value = self._level(field, value)
        with self.db.session() as s:
            out = self.triager.correct(request_id, field, value, who.name, within=s)
            self.audit.write(who, "triage.correct", f"triage:{request_id}", None, out, within=s)
        return out

    def correct(self, ticket_id: int, who: Principal, field: str, value: str) -> dict[str, Any]:
        """Correct a triage field: stored for retraining and applied to the ticket (a new
        impact or urgency recomputes priority, quadrant and SLA targets)."""
        if field not in EDITABLE:
            raise InvalidInputError(f"unknown field {field!r}; one of: {', '.join(EDITABLE)}")
        value = self._level(field, value)
        m = self.triager.matrix
        levels = {"impact": m.impact_levels, "urgency": m.urgency_levels}
        with self.db.session() as s:
            self.desk.record(ticket_id, s, lock=True)
            ticket = self.desk.get(ticket_id, within=s)
            correction = None
            if ticket["triage_request_id"] is not None:
                correction = self.triager.correct(
                    ticket["triage_request_id"], field, value, who.name, within=s
                )
            values: dict[str, Any] = {field: value}
            impact = value if field == "impact" else ticket["impact"]
            urgency = value if field == "urgency" else ticket["urgency"]
            sla = None
            if field in levels and impact in m.impact_levels and urgency in m.urgency_levels:
                values["priority"] = m.priority(impact, urgency)
                values["quadrant"] = m.quadrant(impact, urgency)
                sla = m.sla_for(values["priority"])
            after = self.desk.set_fields(ticket_id, values, who.name, within=s)
            if sla is not None:
                self.desk.reset_sla(ticket_id, sla.respond_minutes, sla.resolve_minutes, within=s)
                after = self.desk.get(ticket_id, within=s)
                after.pop("events", None)
                after.pop("triage", None)
            before = {k: ticket.get(k) for k in values}
            self.audit.write(who, "desk.correct", ticket["ref"], before, values, within=s)
        return {"ticket": after, "correction": correction}
