"""The index off the request path, over HTTP (issue #11, failures 2, 6 and 14): writes commit
and answer without waiting for (or failing with) the search engine; with the engine down,
intake keeps working and only search answers 503; a placeholder date stored by an older
version poisons nothing; verify is an admin route."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from core.errors import BackendUnavailableError
from core.settings import Settings, get_settings
from indexer.service import Firstline
from indexer.types import IndexDoc, IndexFailure
from kb.models import Ticket
from tests.conftest import ADMIN_KEY, AUTH, SyncedClient, copy_data, make_settings

REQUEST = {
    "title": "Password expired, cannot sign in",
    "description": "My network password expired and I cannot sign in to my laptop.",
    "caller": "maria",
}


@pytest.fixture
def settings(trained_demo: Path, tmp_path: Path) -> Settings:
    """The demo data indexed and a triage model trained, in a data dir of this test's own."""
    return copy_data(trained_demo, tmp_path / "data")


def down(*_a: object, **_k: object) -> None:
    raise BackendUnavailableError("search engine unreachable (test)")


def test_placeholder_date_stored_earlier_breaks_no_write_and_no_reindex(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = Firstline(settings)
    with svc.db.session() as s:  # as an older version stored it: no input checks
        s.add(
            Ticket(
                source="old",
                external_id="OLD-1",
                title="placeholder export row",
                description="opened 9999-12-31 in the export",
                status="resolved",
                content_hash=uuid.uuid4().hex,
                opened_at=datetime(9999, 12, 31, tzinfo=UTC),
            )
        )
    svc.close()
    with SyncedClient(create_app(settings), headers=AUTH) as c:
        a = c.post("/kb/articles", json={"title": "Badge reader offline", "body": "Reboot it."})
        assert a.status_code == 200, a.text
        pub = c.post(
            f"/kb/articles/{a.json()['id']}/status", json={"to": "published", "version": 1}
        )
        assert pub.status_code == 200, pub.text
        opened = c.post("/desk/tickets", json=REQUEST)
        assert opened.status_code == 200, opened.text
        tid = opened.json()["ticket"]["id"]
        resolved = c.post(f"/desk/tickets/{tid}/resolve", json={"resolution": "Reset it."})
        assert resolved.status_code == 200, resolved.text
        hits = c.get("/search", params={"q": "badge reader offline", "kind": "article"}).json()
        assert hits["hits"][0]["id"] == pub.json()["ref"]  # searchable once the worker drained
        old = c.get("/search", params={"q": "placeholder export row", "kind": "ticket"}).json()
        assert "OLD-1" in [h["external_id"] for h in old["hits"]]
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["index"]["pending"] == 0
    for name in [n for n in __import__("os").environ if n.startswith("FIRSTLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FIRSTLINE_MODEL__KIND", "hashing")
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli, ["reindex"])
        assert r.exit_code == 0, r.output
        v = CliRunner().invoke(cli, ["verify"])
        assert v.exit_code == 0 and "drift: 0" in v.output
    finally:
        get_settings.cache_clear()


def test_search_engine_down_intake_keeps_working_only_search_is_503(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Firstline(settings)
    for method in ("upsert", "delete", "search", "count", "describe", "hashes"):
        monkeypatch.setattr(service.backend, method, down)
    with TestClient(create_app(settings, service), headers=AUTH) as c:
        item = {"id": "NEW-1", "title": "Laptop fan loud", "description": "Fan runs at full speed."}
        r = c.post("/tickets", json={"items": [item], "source": "itsm"})
        assert r.status_code == 200, r.text
        assert (r.json()["added"], r.json()["index"], r.json()["pending"]) == (1, "pending", 1)
        assert c.get("/tickets/NEW-1").json()["indexed"] is False  # stored, waiting
        opened = c.post("/desk/tickets", json=REQUEST)
        assert opened.status_code == 200, opened.text
        card = opened.json()["triage"]
        assert card["suggestions"] == "unavailable" and card["suggested_articles"] == []
        assert card["fields"]["category"]["value"]  # still triaged
        t = c.post("/triage", json={"request": REQUEST})
        assert t.status_code == 200 and t.json()["results"][0]["suggestions"] == "unavailable"
        s = c.post("/search", json={"query": "laptop fan"})
        assert s.status_code == 503 and s.json()["error"]["type"] == "backend_unavailable"
        assert c.post("/similar", json={"text": "laptop fan"}).status_code == 503
        h = c.get("/health")
        assert h.status_code == 503 and h.json()["database"]["status"] == "ok"
        monkeypatch.undo()  # the engine is back: the worker catches up by itself
        service.index_changed()
        assert service.sync.wait_idle(60)
        assert c.get("/tickets/NEW-1").json()["indexed"] is True
        hits = c.post("/search", json={"query": "laptop fan loud", "kinds": ["ticket"]}).json()
        assert hits["hits"][0]["external_id"] == "NEW-1"
        assert c.get("/health").json()["index"]["pending"] == 0


def test_kb_edit_and_desk_resolve_do_not_wait_for_the_index(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Firstline(settings)
    service.ingest_items(
        "ticket",
        [{"external_id": f"BULK{i}", "title": f"bulk row {i}"} for i in range(60)],
        "bulk",
        index=False,
    )  # rows an ingest left for the index
    entered, release = threading.Event(), threading.Event()
    callers: list[str] = []
    real = service.backend.upsert

    def blocking(docs: list[IndexDoc]) -> list[IndexFailure]:
        callers.append(threading.current_thread().name)
        entered.set()
        release.wait(30)
        return real(docs)

    monkeypatch.setattr(service.backend, "upsert", blocking)
    try:
        with TestClient(create_app(settings, service), headers=AUTH) as c:
            assert entered.wait(30)  # the worker drains at start-up and is stuck in a write
            a = c.post("/kb/articles", json={"title": "VPN split tunnel", "body": "Turn it on."})
            assert a.status_code == 200, a.text
            aid = a.json()["id"]
            edit = c.put(f"/kb/articles/{aid}", json={"version": 1, "body": "Turn it off."})
            assert edit.status_code == 200, edit.text
            pub = c.post(f"/kb/articles/{aid}/status", json={"to": "published", "version": 2})
            assert pub.status_code == 200, pub.text
            assert pub.json()["index"] == "pending"  # the answer says search is behind
            tid = c.post("/desk/tickets", json=REQUEST).json()["ticket"]["id"]
            r = c.post(f"/desk/tickets/{tid}/resolve", json={"resolution": "Reset it."})
            assert r.status_code == 200, r.text
            assert not release.is_set()  # every answer came while the index write was stuck
            release.set()
            service.index_changed()
            assert service.sync.wait_idle(60)
            assert service.ingestor.pending_count() == 0
            assert c.get(f"/kb/articles/{aid}").json()["index"] == "indexed"
    finally:
        release.set()
    assert set(callers) == {"firstline-index-sync"}  # never in a request's thread


def test_verify_is_an_admin_route_that_reports_and_repairs(settings: Settings) -> None:
    with SyncedClient(create_app(settings), headers=AUTH) as c:
        service: Firstline = c.app.state.service  # type: ignore[attr-defined]
        some = sorted(service.backend.ids())[0]
        service.backend.delete([some])
        agent = c.post("/admin/keys", json={"name": "ag", "role": "agent"}).json()["key"]
        assert c.get("/admin/index/verify", headers={"X-API-Key": agent}).status_code == 403
        report = c.get("/admin/index/verify").json()
        assert report["drift"] == 1 and report["missing"]["sample"] == [some]
        fixed = c.post("/admin/index/verify", params={"repair": "true"}).json()
        assert fixed["after"]["drift"] == 0
        assert c.get("/admin/index/verify").json()["drift"] == 0
    assert ADMIN_KEY


def test_health_is_degraded_not_down_while_the_sync_is_stuck(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.sync.stuck_failures = 1
    service = Firstline(settings)
    monkeypatch.setattr(service.backend, "upsert", down)  # searches work, writes fail
    with TestClient(create_app(settings, service), headers=AUTH) as c:
        r = c.post("/tickets", json={"items": [{"id": "S-1", "title": "Stuck row"}]})
        assert r.json()["index"] == "pending"
        assert service.sync.wait_idle(60)
        h = c.get("/health")
        assert h.status_code == 200  # still serving: behind, not down
        body = h.json()
        assert (body["status"], body["index"]["status"]) == ("degraded", "degraded")
        assert body["index"]["pending"] == 1 and body["index"]["sync"]["stuck"] is True
        assert body["index"]["sync"]["oldest_pending_seconds"] is not None


def test_a_desk_with_no_trained_model_takes_requests_while_the_engine_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh install (no triage model yet) with the search engine down: intake still stores
    the request, untriaged, with suggestions flagged unavailable (not a 503)."""
    settings = make_settings(tmp_path)
    service = Firstline(settings)
    for method in ("upsert", "delete", "search", "count", "describe", "hashes"):
        monkeypatch.setattr(service.backend, method, down)
    with TestClient(create_app(settings, service), headers=AUTH) as c:
        opened = c.post("/desk/tickets", json=REQUEST)
        assert opened.status_code == 200, opened.text
        card = opened.json()["triage"]
        assert card["cold_start"] and card["suggestions"] == "unavailable"
        assert card["priority"]  # rules still set one
        assert card["suggested_articles"] == [] and card["similar_tickets"] == []
        ticket = opened.json()["ticket"]["id"]
        assert c.get(f"/desk/tickets/{ticket}").json()["title"] == REQUEST["title"]
