"""The knowledge workflow: article create, edit, lifecycle moves (review, publish, retire, back
to draft), merge, a draft from a knowledge gap, and what agents do with articles (read, rate).
Each write is one unit of work with its audit entry; the index catches up after the commit
(only published articles are searchable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from indexer.service import Firstline
from kb.auth import Audit, Principal
from kb.curation import Knowledge
from kb.desk import Desk
from services.after_commit import index_changed


class KnowledgeWorkflow:
    """Editors' and agents' actions on articles.  Constructing it does no I/O."""

    def __init__(self, service: Firstline, knowledge: Knowledge, desk: Desk, audit: Audit) -> None:
        self.service = service
        self.knowledge = knowledge
        self.desk = desk
        self.audit = audit
        self.db = knowledge.db

    def create(
        self,
        who: Principal,
        title: str,
        body: str,
        category: str | None = None,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A new draft (version 1)."""
        with self.db.session() as s:
            a = self.knowledge.create(title, body, who.name, category, tags, within=s)
            self.audit.write(who, "kb.create", a["ref"], None, a, within=s)
        index_changed(self.service)
        return a

    def read(self, article_id: int, who: Principal) -> dict[str, Any]:
        """An article; an agent's read counts as a view.  Agents: a merged article answers
        with the one it was merged into (``redirected_from``), a draft or retired one is not
        found."""
        editor = who.can("editor")
        with self.db.session() as s:
            a = self.knowledge.get(article_id, published_only=not editor, within=s)
            if not editor:
                self.knowledge.record("view", who.name, a["id"], within=s)
        if a["id"] != article_id:
            a["redirected_from"] = article_id
        return a

    def edit(self, article_id: int, who: Principal, version: int, **changes: Any) -> dict[str, Any]:
        """Save an edit as a new version (a conflict with the current article if it moved
        on)."""
        with self.db.session() as s:
            before = self.knowledge.get(article_id, within=s)
            after = self.knowledge.update(article_id, version, who.name, within=s, **changes)
            self.audit.write(who, "kb.edit", after["ref"], before, after, within=s)
        index_changed(self.service)
        return after

    def transition(
        self, article_id: int, who: Principal, to: str, version: int, note: str | None = None
    ) -> dict[str, Any]:
        """Lifecycle: draft → review → published → retired (and back to draft)."""
        with self.db.session() as s:
            before = self.knowledge.get(article_id, within=s)
            after = self.knowledge.transition(article_id, to, version, who.name, note, within=s)
            previous = {"status": before["status"]}
            self.audit.write(who, f"kb.{to}", after["ref"], previous, after, within=s)
        index_changed(self.service)
        return after

    def merge(
        self, article_id: int, who: Principal, into: int, version: int | None = None
    ) -> dict[str, Any]:
        """Retire a duplicate into another article; links move, reading it redirects."""
        with self.db.session() as s:
            before = self.knowledge.get(article_id, within=s)
            out = self.knowledge.merge(article_id, into, who.name, version, within=s)
            target = f"article:{article_id}"
            self.audit.write(who, "kb.merge", target, before, out["merged"], within=s)
        index_changed(self.service)
        return out

    def feedback(
        self, article_id: int, who: Principal, helpful: bool, ticket_id: int | None = None
    ) -> dict[str, Any]:
        """Helped / did not help, on a suggestion or a search result (published articles)."""
        with self.db.session() as s:
            self.knowledge.get(article_id, published_only=True, within=s)  # else: not found
            if ticket_id is not None:
                self.desk.record(ticket_id, s)  # an unknown ticket: not found
            self.knowledge.record(
                "feedback", who.name, article_id, ticket_id, within=s, helpful=helpful
            )
            data = {"helpful": helpful, "ticket_id": ticket_id}
            self.audit.write(who, "kb.feedback", f"article:{article_id}", None, data, within=s)
            now = self.knowledge.get(article_id, published_only=True, within=s)
        return {"article_id": article_id, "helpful": helpful, **now}

    def draft_from_gap(
        self, who: Principal, ticket_ids: Sequence[int], title: str | None = None
    ) -> dict[str, Any]:
        """Draft an article from a knowledge gap's tickets."""
        with self.db.session() as s:
            tickets = [self.desk.record(i, s) for i in ticket_ids]
            a = self.knowledge.draft_from_cluster(tickets, who.name, title, within=s)
            after = {**a, "tickets": list(ticket_ids)}
            self.audit.write(who, "kb.draft_from_gap", a["ref"], None, after, within=s)
        index_changed(self.service)
        return a
