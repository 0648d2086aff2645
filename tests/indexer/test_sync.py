"""The index is derived state, kept in sync off the request path (issue #11, failures 1, 2,
6, 15): rows are marked indexed only from what the live index holds, a failed rebuild changes
nothing, a row the index refuses stays pending alone, placeholder dates never poison the index,
the sync worker drains at start-up and retries, /health tells when the index is behind, and
`verify` finds and repairs drift.  On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core.errors import BackendUnavailableError
from core.settings import DatabaseSettings, Settings
from indexer.service import Firstline
from indexer.types import Filters, IndexDoc, IndexFailure
from kb.models import Ticket
from tests.conftest import make_settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    s = make_settings(tmp_path)
    if request.param == "sqlite":
        yield s
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(request.getfixturevalue("postgres_url"))
    name = f"firstline_sync_{uuid.uuid4().hex[:10]}"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    s.database = DatabaseSettings(url=url.set(database=name).render_as_string(False))  # type: ignore[arg-type]
    try:
        yield s
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def service(settings: Settings) -> Iterator[Firstline]:
    settings.ingest.batch_size = 4
    svc = Firstline(settings)
    yield svc
    svc.close()


def tickets(n: int, start: int = 1, word: str = "printer") -> list[dict]:
    return [
        {
            "external_id": f"INC{i}",
            "title": f"{word} problem number {i}",
            "description": f"The {word} on floor {i} does not work (case {i}).",
            "resolution": "Fixed it.",
            "status": "resolved",
        }
        for i in range(start, start + n)
    ]


def lexical(service: Firstline, text: str, k: int = 50) -> list[str]:
    return [h["external_id"] for h in service.search(text, k, mode="lexical")]


def down(*_a: object, **_k: object) -> None:
    raise BackendUnavailableError("search engine unreachable (test)")


def store_raw_ticket(service: Firstline, external_id: str, opened: datetime) -> int:
    """A row as an older version stored it, straight into the record (no input checks)."""
    with service.db.session() as s:
        t = Ticket(
            source="old",
            external_id=external_id,
            title=f"placeholder date {external_id}",
            description="exported with a placeholder date",
            status="resolved",
            content_hash=uuid.uuid4().hex,
            opened_at=opened,
        )
        s.add(t)
        s.flush()
        return t.id


# -- failure 1: marked indexed only from the live index ----------------------------------------


def test_rows_left_pending_and_one_refused_row_then_reindex_loses_nothing(
    service: Firstline, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.ingest_items("ticket", tickets(4))  # batch 1 indexed
    monkeypatch.setattr(service.backend, "upsert", down)
    report = service.ingest_items("ticket", tickets(8, start=5))
    monkeypatch.undo()
    assert report.as_dict()["index"] == "pending" and report.pending == 8  # stored, not lost
    refused_id = store_raw_ticket(service, "BAD1", datetime(2020, 1, 1, tzinfo=UTC))
    assert service.ingestor.pending_count() == 9

    real = service.backend.begin_rebuild

    def refusing_rebuild():  # noqa: ANN202
        target = real()
        upsert = target.upsert

        def refuse(docs: list[IndexDoc]) -> list[IndexFailure]:
            bad = [d for d in docs if d.id == f"ticket:{refused_id}"]
            return upsert([d for d in docs if d not in bad]) + [
                IndexFailure(d.id, "refused by the test") for d in bad
            ]

        target.upsert = refuse
        return target

    monkeypatch.setattr(service.backend, "begin_rebuild", refusing_rebuild)
    result = service.reindex()
    assert [f.id for f in result.failures] == [f"ticket:{refused_id}"]
    assert result.indexed == 12
    assert service.ingestor.pending_count() == 1  # the refused one only
    assert sorted(lexical(service, "printer"), key=lambda x: int(x[3:])) == [
        f"INC{i}" for i in range(1, 13)
    ]
    monkeypatch.undo()
    assert service.ingestor.sync_pending().indexed == 1  # once accepted, it goes in
    assert service.ingestor.pending_count() == 0


def test_a_failed_rebuild_changes_nothing_and_leaves_no_half_built_index(
    service: Firstline, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.ingest_items("ticket", tickets(10))
    folders = {p.name for p in service.settings.index_dir.glob("v*")}
    real = service.backend.begin_rebuild
    calls = {"n": 0}

    def failing_rebuild():  # noqa: ANN202
        target = real()
        upsert = target.upsert

        def fail_second(docs: list[IndexDoc]) -> list[IndexFailure]:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full (test)")
            return upsert(docs)

        target.upsert = fail_second
        return target

    monkeypatch.setattr(service.backend, "begin_rebuild", failing_rebuild)
    with pytest.raises(RuntimeError):
        service.reindex()
    assert service.ingestor.pending_count() == 0  # no row marked from the thrown-away index
    assert {p.name for p in service.settings.index_dir.glob("v*")} == folders
    assert len(lexical(service, "printer")) == 10


# -- failure 2: placeholder dates stored by an older version ------------------------------------


def test_placeholder_dates_already_stored_are_indexed_without_a_date(service: Firstline) -> None:
    service.ingest_items("ticket", tickets(2))
    far = store_raw_ticket(service, "FAR", datetime(9999, 12, 31, tzinfo=UTC))
    early = store_raw_ticket(service, "EARLY", datetime(1, 1, 1, tzinfo=UTC))
    result = service.ingestor.sync_pending()
    assert (result.indexed, result.failures) == (2, [])
    assert set(lexical(service, "placeholder")) == {"FAR", "EARLY"}
    # Indexed with the date the record was stored instead: date filters work on them.
    since = Filters(date_from=datetime(2000, 1, 1, tzinfo=UTC))
    hits = service.search("placeholder", 10, since, mode="lexical")
    assert {h["id"] for h in hits} == {f"ticket:{far}", f"ticket:{early}"}
    # Later writes and a full rebuild are not poisoned by them.
    assert service.ingest_items("ticket", tickets(1, start=50)).as_dict()["index"] == "indexed"
    assert service.reindex().failures == []
    assert service.ingestor.pending_count() == 0


# -- the worker ----------------------------------------------------------------------------------


def test_worker_drains_at_start_up_what_a_killed_process_left_pending(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Firstline(settings)
    monkeypatch.setattr(first.backend, "upsert", down)
    first.ingest_items("ticket", tickets(6))
    first.close()  # as if killed: six rows stored, none indexed
    monkeypatch.undo()
    restarted = Firstline(settings)
    try:
        assert restarted.ingestor.pending_count() == 6
        restarted.sync.start()  # what the API does at start-up, with no write to wake it
        assert restarted.sync.wait_idle(60)
        assert restarted.ingestor.pending_count() == 0
        assert len(lexical(restarted, "printer")) == 6
    finally:
        restarted.close()


def test_worker_retries_while_down_health_says_degraded_then_catches_up(
    service: Firstline, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.settings.sync.stuck_failures = 2
    service.settings.sync.backoff_max_seconds = 0.2
    assert service.health()["status"] == "ok"
    monkeypatch.setattr(service.backend, "upsert", down)
    service.ingest_items("ticket", tickets(3), index=False)
    pending = service.ingestor.pending_status()
    assert pending["pending"] == 3 and pending["oldest_pending_seconds"] is not None
    service.sync.start()
    for _ in range(2):
        service.sync.wake()
        assert service.sync.wait_idle(60)
    health = service.health()
    assert health["status"] == "degraded"
    assert health["index"]["status"] == "degraded"
    assert health["index"]["pending"] == 3
    assert health["index"]["sync"]["stuck"] is True
    assert "unreachable" in health["index"]["sync"]["last_error"]
    monkeypatch.undo()
    service.sync.wake()
    assert service.sync.wait_idle(60)
    health = service.health()
    assert health["status"] == "ok" and health["index"]["pending"] == 0
    assert health["index"]["sync"]["oldest_pending_seconds"] is None
    assert len(lexical(service, "printer")) == 3


def test_index_changed_never_indexes_in_the_callers_thread(
    service: Firstline, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    callers: list[str] = []
    real = service.backend.upsert

    def blocking(docs: list[IndexDoc]) -> list[IndexFailure]:
        callers.append(threading.current_thread().name)
        entered.set()
        release.wait(30)
        return real(docs)

    monkeypatch.setattr(service.backend, "upsert", blocking)
    service.sync.start()
    service.ingest_items("ticket", tickets(20), index=False)  # wakes the worker
    assert entered.wait(30)  # the worker is now stuck inside the index write ...
    service.ingest_items("ticket", tickets(2, start=100), index=False)
    service.index_changed()  # ... and writers still return at once
    assert service.ingestor.pending_count() == 22
    release.set()
    assert service.sync.wait_idle(60)
    assert service.ingestor.pending_count() == 0
    assert set(callers) == {"firstline-index-sync"}


# -- /health and `firstline health` ------------------------------------------------------------


def test_health_counts_what_another_process_indexed_without_a_search(
    settings: Settings,
) -> None:
    writer, reader = Firstline(settings), Firstline(settings)
    try:
        writer.ingest_items("ticket", tickets(3))
        assert reader.health()["index"]["documents"] == 3
        writer.ingest_items("ticket", tickets(2, start=10))
        assert reader.health()["index"]["documents"] == 5  # no search ran in between
    finally:
        writer.close()
        reader.close()


# -- verify --------------------------------------------------------------------------------------


def test_verify_reports_missing_orphan_and_stale_then_repairs(service: Firstline) -> None:
    service.ingest_items("ticket", tickets(5))
    assert service.verify()["drift"] == 0
    ids = sorted(int(i.split(":")[1]) for i in service.backend.ids())
    service.backend.delete([f"ticket:{ids[0]}"])  # missing
    service.backend.upsert([_orphan(service.encoder.dim)])  # orphan
    with service.db.session() as s:  # stale: the record moved on, marked as if indexed
        s.execute(
            update(Ticket).where(Ticket.id == ids[1]).values(content_hash="x", indexed_hash="x")
        )
    report = service.verify()
    assert report["drift"] == 3
    assert report["missing"] == {"count": 1, "sample": [f"ticket:{ids[0]}"]}
    assert report["orphan"] == {"count": 1, "sample": ["ticket:999999"]}
    assert report["stale"] == {"count": 1, "sample": [f"ticket:{ids[1]}"]}
    repaired = service.verify(repair=True)
    assert repaired["repaired"]["deleted"] == 1 and repaired["repaired"]["requeued"] == 2
    assert repaired["after"]["drift"] == 0
    assert service.verify()["drift"] == 0
    with service.db.session() as s:
        assert s.scalar(select(Ticket.indexed_hash).where(Ticket.id == ids[1])) == "x"


def _orphan(dim: int) -> IndexDoc:
    import numpy as np

    v = np.ones(dim, dtype=np.float32)
    return IndexDoc("ticket:999999", "ticket", "gone", "gone", v, v[None, :], content_hash="z")


def test_the_sync_worker_builds_the_graph_of_an_index_written_without_one(tmp_path: Path) -> None:
    """An index written before the graph was kept (or whose graph was lost) gets one from the
    worker, off the request path; searches answer exactly until it is there."""
    import shutil

    from tests.conftest import make_settings as settings_with

    first = Firstline(settings_with(tmp_path, ann_threshold=10))
    first.ingest_items("ticket", tickets(30))
    folder = first.backend.version.path  # type: ignore[attr-defined]
    first.close()
    for f in [*folder.glob("ann*"), *folder.glob(".ann*")]:
        f.unlink() if f.is_file() else shutil.rmtree(f)

    svc = Firstline(settings_with(tmp_path, ann_threshold=10))
    try:
        svc.backend.version.vectors.maintainer.debounce = 0.05  # type: ignore[attr-defined]
        assert lexical(svc, "printer problem number 7")[0] == "INC7"
        assert svc.backend.describe()["ann"]["on_disk"] is None  # type: ignore[attr-defined]
        svc.sync.start()
        deadline = 600
        while (svc.backend.describe()["ann"]["graph"] or {}).get("vectors") != 30:  # type: ignore[attr-defined]
            deadline -= 1
            assert deadline, "the worker never built the graph"
            threading.Event().wait(0.1)
        hits = svc.search("printer problem number 7", k=3, mode="dense")
        assert hits[0]["external_id"] == "INC7"
    finally:
        svc.close()
