"""One unit of work per action (issue #11): a desk move or a KB write stores its change, its
events and its audit entry together or not at all.  A failure injected at the audit write (the
last write of every action) must leave the record exactly as it was, and the action must then
succeed when retried, as a user retrying after an error would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.settings import DatabaseSettings, Settings
from indexer.service import Firstline
from kb.auth import Audit, Keys, Principal
from kb.curation import Knowledge
from kb.desk import Desk
from kb.models import (
    ApiKey,
    Article,
    ArticleVersion,
    AuditEntry,
    Correction,
    DeskTicket,
    Event,
    Ticket,
    TriageRequest,
)
from services.admin import AdminWorkflow
from services.desk import DeskWorkflow
from services.knowledge import KnowledgeWorkflow
from tests.conftest import DEMO, make_settings
from triage.service import Triager

AGENT = Principal("maria", "agent")
EDITOR = Principal("ana", "editor")
TABLES = (
    ApiKey,
    Article,
    ArticleVersion,
    AuditEntry,
    Correction,
    DeskTicket,
    Event,
    Ticket,
    TriageRequest,
)
REQUEST = {
    "title": "Password expired, cannot sign in",
    "description": "My network password expired and I cannot sign in to my laptop.",
    "caller": "maria",
}


class AuditDown(Audit):
    """An audit log whose write fails, after the action's change and events were made."""

    def write(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")


class Flows:
    def __init__(self, service: Firstline, settings: Settings, audit: Audit) -> None:
        self.knowledge = Knowledge(service.db)
        self.desk_store = Desk(service.db, self.knowledge)
        triager = Triager(settings, service)
        self.desk = DeskWorkflow(service, triager, self.desk_store, audit)
        self.kb = KnowledgeWorkflow(service, self.knowledge, self.desk_store, audit)
        self.admin = AdminWorkflow(service, Keys(service.db), audit)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """SQLite, and a database of its own on the PostgreSQL server (these tests fill it)."""
    settings = make_settings(tmp_path)
    if request.param == "sqlite":
        yield settings
        return
    url = request.getfixturevalue("fresh_postgres_url")
    yield settings.model_copy(update={"database": DatabaseSettings(url=url)})


@pytest.fixture
def service(settings: Settings) -> Iterator[Firstline]:
    svc = Firstline(settings)
    yield svc
    svc.close()


@pytest.fixture
def stack(service: Firstline, settings: Settings) -> tuple[Flows, Flows]:
    """The workflows twice over one record: with a working audit log and with a failing one."""
    service.ingest_file(DEMO / "articles.jsonl", kind="article", source="demo")
    return Flows(service, settings, Audit(service.db)), Flows(
        service, settings, AuditDown(service.db)
    )


def snapshot(service: Firstline) -> dict[str, Any]:
    """Every row count, and every desk ticket and article as stored."""
    with service.db.session() as s:
        counts = {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in TABLES}
        tickets = [
            (t.id, t.state, t.outcome, t.article_id, t.priority)
            for t in s.scalars(select(DeskTicket).order_by(DeskTicket.id))
        ]
        articles = [
            (a.id, a.version, a.status, a.title, a.body)
            for a in s.scalars(select(Article).order_by(Article.id))
        ]
        keys = [(k.id, k.revoked_at is not None) for k in s.scalars(select(ApiKey))]
    return {"counts": counts, "tickets": tickets, "articles": articles, "keys": keys}


def published_article(flows: Flows) -> int:
    return flows.knowledge.list(["published"], 1)[0]["id"]


def assert_all_or_nothing(
    service: Firstline, failing: Callable[[], Any], working: Callable[[], Any]
) -> Any:
    before = snapshot(service)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        failing()
    assert snapshot(service) == before  # no half action: nothing of it was kept
    out = working()  # and the retry is not refused (no 409, no duplicate)
    assert snapshot(service) != before
    return out


DESK_ACTIONS = ["intake", "start", "resolve_reuse", "resolve_create", "escalate", "close"]


@pytest.mark.parametrize("action", DESK_ACTIONS + ["correct"])
def test_a_desk_action_whose_audit_write_fails_leaves_nothing_stored(
    service: Firstline, stack: tuple[Flows, Flows], action: str
) -> None:
    ok, down = stack
    ticket = ok.desk.intake(REQUEST, AGENT)["ticket"]["id"]
    article = published_article(ok)
    if action == "close":
        ok.desk.resolve(ticket, AGENT, article_id=article)

    def run(flows: Flows) -> Any:
        d = flows.desk
        return {
            "intake": lambda: d.intake(REQUEST, AGENT),
            "start": lambda: d.start(ticket, AGENT),
            "resolve_reuse": lambda: d.resolve(ticket, AGENT, article_id=article),
            "resolve_create": lambda: d.resolve(ticket, AGENT, resolution="Reset it with SSPR."),
            "escalate": lambda: d.escalate(ticket, AGENT, "Identity", "not solved"),
            "close": lambda: d.close(ticket, AGENT),
            "correct": lambda: d.correct(ticket, AGENT, "impact", "high"),
        }[action]()

    assert_all_or_nothing(service, lambda: run(down), lambda: run(ok))
    audited = ok.desk.audit.list(actor="maria")
    assert audited[0]["action"].startswith("desk.")


def test_a_resolve_stores_the_ticket_its_draft_its_searchable_copy_and_its_audit_together(
    service: Firstline, stack: tuple[Flows, Flows]
) -> None:
    ok, _ = stack
    ticket = ok.desk.intake(REQUEST, AGENT)["ticket"]["id"]
    after = ok.desk.resolve(ticket, AGENT, resolution="Reset it with self-service.")
    assert after["state"] == "resolved" and after["draft"]["status"] == "draft"
    stored = service.get("ticket", f"DESK-{ticket}")
    assert stored["resolution"] == "Reset it with self-service." and stored["source"] == "desk"
    assert ok.desk.audit.list(action="desk.resolve")[0]["target"] == f"desk:{ticket}"
    # The commit left the searchable copy pending (the index is never written in the
    # action); the sync worker's pass makes it findable by the next agent.
    assert service.ingestor.pending_count() > 0
    service.sync.drain()
    assert service.ingestor.pending_count() == 0
    hits = service.search("self-service reset password expired", 10, None, mode="lexical")
    assert f"DESK-{ticket}" in [h["external_id"] for h in hits]


def test_a_failed_write_back_undoes_the_resolve(
    service: Firstline, stack: tuple[Flows, Flows], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The searchable copy of a resolved ticket is part of the resolve: if it cannot be
    stored, the ticket is not resolved either (and no draft is left behind)."""
    ok, _ = stack
    ticket = ok.desk.intake(REQUEST, AGENT)["ticket"]["id"]
    before = snapshot(service)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("record unavailable")

    monkeypatch.setattr("services.desk.upsert", broken)
    with pytest.raises(RuntimeError, match="record unavailable"):
        ok.desk.resolve(ticket, AGENT, resolution="Reset it with SSPR.")
    assert snapshot(service) == before
    assert ok.desk_store.get(ticket)["state"] == "new"


KB_ACTIONS = ["create", "edit", "review", "publish", "merge", "feedback", "draft_from_gap", "view"]


@pytest.mark.parametrize("action", KB_ACTIONS)
def test_a_knowledge_action_whose_audit_write_fails_leaves_nothing_stored(
    service: Firstline, stack: tuple[Flows, Flows], action: str
) -> None:
    ok, down = stack
    draft = ok.kb.create(EDITOR, "Printer offline", "Restart the spooler.", "Printing")
    published = published_article(ok)
    other = ok.kb.transition(draft["id"], EDITOR, "published", 1)["id"]
    ticket = ok.desk.intake(REQUEST, AGENT)["ticket"]["id"]
    fresh = ok.kb.create(EDITOR, "VPN drops", "Update the client.")["id"]

    def run(flows: Flows) -> Any:
        k = flows.kb
        return {
            "create": lambda: k.create(EDITOR, "Mail full", "Archive old mail."),
            "edit": lambda: k.edit(fresh, EDITOR, 1, body="Update the VPN client."),
            "review": lambda: k.transition(fresh, EDITOR, "review", 1),
            "publish": lambda: k.transition(fresh, EDITOR, "published", 1),
            "merge": lambda: k.merge(other, EDITOR, published, 2),
            "feedback": lambda: k.feedback(published, AGENT, True, ticket),
            "draft_from_gap": lambda: k.draft_from_gap(EDITOR, [ticket], "Password expiry"),
        }[action]()

    if action == "view":  # a read is not audited: the view is counted even so
        before = ok.kb.read(published, EDITOR)["quality"]["views"]
        down.kb.read(published, AGENT)
        assert ok.kb.read(published, EDITOR)["quality"]["views"] == before + 1
        return
    assert_all_or_nothing(service, lambda: run(down), lambda: run(ok))


def test_an_index_that_cannot_catch_up_does_not_fail_a_committed_action(
    service: Firstline, stack: tuple[Flows, Flows], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure 2 of issue #11 in its general form: once the action committed, no error of the
    index may reach the client (a retry would be refused or make a duplicate)."""
    ok, _ = stack

    def broken() -> None:
        raise ValueError("a document the index cannot take")

    monkeypatch.setattr(service, "index_changed", broken)
    ticket = ok.desk.intake(REQUEST, AGENT)["ticket"]["id"]
    after = ok.desk.resolve(ticket, AGENT, resolution="Reset it with SSPR.")
    assert after["state"] == "resolved"
    a = ok.kb.create(EDITOR, "Mail full", "Archive old mail.")
    assert ok.kb.transition(a["id"], EDITOR, "published", 1)["status"] == "published"
    assert service.ingestor.pending_count() > 0  # stored, and still waiting for the index


ADMIN = Principal("root", "admin")


@pytest.mark.parametrize("action", ["key_create", "key_revoke", "import", "triage_correct"])
def test_an_admin_import_or_correction_whose_audit_write_fails_leaves_nothing_stored(
    service: Firstline, stack: tuple[Flows, Flows], action: str
) -> None:
    """Keys, API imports (each stored batch with its own audit entry) and triage corrections
    are units of work too."""
    ok, down = stack
    key, _ = ok.admin.create_key(ADMIN, "console", "agent")
    with service.db.session() as s:  # a request as intake recorded it, with its prediction
        request = TriageRequest(title=REQUEST["title"], prediction={"urgency": "low"})
        s.add(request)
        s.flush()
        triage_id = request.id
    items = [{"external_id": f"API-{i}", "title": f"Printer jam {i}"} for i in range(3)]

    def run(flows: Flows) -> Any:
        a = flows.admin
        return {
            "key_create": lambda: a.create_key(ADMIN, "intake bot", "agent"),
            "key_revoke": lambda: a.revoke_key(ADMIN, key["id"]),
            "import": lambda: a.import_items(ADMIN, "ticket", items, "api"),
            "triage_correct": lambda: flows.desk.correct_triage(
                triage_id, AGENT, "urgency", "high"
            ),
        }[action]()

    assert_all_or_nothing(service, lambda: run(down), lambda: run(ok))
    last = ok.admin.audit.list()[0]["action"]
    assert (
        last
        == {
            "key_create": "admin.key_create",
            "key_revoke": "admin.key_revoke",
            "import": "import.tickets",
            "triage_correct": "triage.correct",
        }[action]
    )
