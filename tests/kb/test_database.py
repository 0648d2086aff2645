"""The system of record on SQLite (default) and on a real PostgreSQL server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from core.settings import DatabaseSettings, Settings
from indexer.service import Firstline
from kb.db import Database
from kb.models import Ticket
from tests.conftest import make_settings

TICKETS = [
    {
        "id": "INC1",
        "title": "VPN keeps disconnecting",
        "description": "Drops every 10 minutes.",
        "category": "VPN",
        "opened": "2026-05-01 09:30:00",
    },
    {
        "id": "INC2",
        "title": "Printer jam on floor 2",
        "description": "Tray 2 jammed again.",
        "category": "Printing",
        "opened": "2026-05-02 10:00:00",
    },
    {
        "id": "INC3",
        "title": "Ünïcode caller — Zürich office",
        "description": "Kein Drucker.",
        "category": "Printing",
        "opened": "2026-05-03 11:00:00",
    },
]


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    p = tmp_path / "export.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return p


def _roundtrip(settings: Settings, tmp_path: Path) -> None:
    svc = Firstline(settings)
    try:
        path = _write(tmp_path, TICKETS)
        first = svc.ingest_file(path, kind="ticket")
        assert (first.added, first.unchanged) == (3, 0)
        again = svc.ingest_file(path, kind="ticket")
        assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
        changed = [dict(TICKETS[0], description="Drops every hour now."), *TICKETS[1:]]
        upd = svc.ingest_file(_write(tmp_path, changed), kind="ticket")
        assert (upd.added, upd.updated) == (0, 1)
        assert svc.counts() == {"tickets": 3, "articles": 0}
        stored = svc.get("ticket", "INC3")
        assert stored["title"] == TICKETS[2]["title"]
        assert stored["opened_at"].startswith("2026-05-03T11:00")
        assert svc.get("ticket", "INC1")["description"] == "Drops every hour now."
        hits = svc.search("printer jammed", k=2, filters=None, mode="lexical")
        assert hits[0]["external_id"] == "INC2"
        assert svc.reindex().indexed == 3
        assert svc.search("vpn disconnecting", k=1)[0]["external_id"] == "INC1"
    finally:
        svc.close()


def test_sqlite_is_the_zero_configuration_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.database_url.startswith("sqlite:///")
    _roundtrip(settings, tmp_path)
    assert (tmp_path / "firstline.db").exists()


def test_migrations_create_the_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    tables = set(inspect(db.engine).get_table_names())
    assert {"tickets", "articles", "alembic_version"} <= tables
    columns = {c["name"] for c in inspect(db.engine).get_columns("tickets")}
    assert {"request_embedding", "request_embedding_model"} <= columns  # 0007
    Database(f"sqlite:///{tmp_path / 'm.db'}").engine  # noqa: B018 - migrating twice is a no-op
    db.close()


@pytest.mark.postgres
def test_postgresql_roundtrip(postgres_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.database = DatabaseSettings(url=postgres_url)
    assert settings.database_url.startswith("postgresql")
    _roundtrip(settings, tmp_path)
    db = Database(postgres_url)
    with db.session() as s:
        rows = s.scalars(select(Ticket).order_by(Ticket.external_id)).all()
        assert [r.external_id for r in rows] == ["INC1", "INC2", "INC3"]
        assert all(r.indexed_hash == r.content_hash for r in rows)
    db.close()


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    from core.errors import BackendUnavailableError

    settings = make_settings(tmp_path)
    settings.database = DatabaseSettings(url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    svc = Firstline(settings)
    with pytest.raises(BackendUnavailableError, match="database unreachable"):
        svc.counts()
