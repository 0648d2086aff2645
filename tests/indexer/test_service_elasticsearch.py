"""firstline on Elasticsearch end to end: ingest, search, reindex, failures (emulator or ES_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from indexer.service import Firstline
from tests.conftest import (
    AUTH,
    ROOT,
    es_settings,
    free_port,
    make_settings,
    start_noida,
    stop_process,
)

pytestmark = pytest.mark.elasticsearch

ROWS = [
    {"id": f"INC{i:04d}", "title": title, "description": desc, "category": cat}
    for i, (title, desc, cat) in enumerate(
        [
            ("VPN keeps disconnecting", "GlobalProtect drops every ten minutes.", "VPN"),
            ("Printer jam on floor 2", "Tray 2 jams with every print job.", "Printing"),
            ("Password expired", "Cannot log in, password expired over the weekend.", "Access"),
            ("Outlook calendar empty", "Meetings do not show in the Outlook calendar.", "Email"),
            (
                "Webshop order not found",
                "Order number from the webshop is not in the ERP.",
                "E-commerce",
            ),
        ]
        * 8
    )
]
for n, row in enumerate(ROWS):
    row["id"] = f"INC{n:04d}"
    row["description"] += f" Case {n}."


def es_app_settings(tmp_path: Path, url: str) -> Settings:
    s = make_settings(tmp_path)
    s.search.backend = "elasticsearch"
    s.elasticsearch = es_settings(url)
    s.ingest.batch_size = 10
    return s


def write(tmp_path: Path, rows: list[dict]) -> Path:
    p = tmp_path / "tickets.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


@pytest.fixture
def service(tmp_path: Path, es_url: str):  # noqa: ANN201
    svc = Firstline(es_app_settings(tmp_path, es_url))
    yield svc
    svc.backend.drop()
    svc.close()


def test_ingest_search_similar_and_reindex(service: Firstline, tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    report = service.ingest_file(path)
    assert report.added == len(ROWS) and report.indexed == len(ROWS)
    again = service.ingest_file(path)
    assert again.added == 0 and again.indexed == 0
    assert service.backend.count() == len(ROWS)
    hits = service.search("printer jams", k=3)
    assert hits[0]["title"] == "Printer jam on floor 2"
    assert hits[0]["why"]["lexical_rank"] is not None
    assert any(
        service.search("printer jams", k=1)[0]["snippet"][s:e].lower() == "jams"
        for s, e in hits[0]["highlights"]
    )
    sim = service.similar(ticket="INC0000", k=3)
    assert "INC0000" not in {h["external_id"] for h in sim}
    assert service.health()["index"]["backend"] == "elasticsearch"

    # A rebuild under concurrent searches returns results throughout.
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            try:
                seen.append(len(service.search("vpn disconnecting", k=5)))
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

    t = threading.Thread(target=searcher)
    t.start()
    try:
        assert service.reindex().indexed == len(ROWS)
    finally:
        stop.set()
        t.join()
    assert not errors and seen and min(seen) == 5
    assert service.backend.count() == len(ROWS)


def test_elasticsearch_stopped_mid_ingest_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    proc = start_noida(tmp_path / "es", port)
    url = f"http://127.0.0.1:{port}"
    settings = es_app_settings(tmp_path, url)
    svc = Firstline(settings)
    try:
        calls = {"n": 0}
        upsert = svc.backend.upsert

        def upsert_then_stop(docs):  # noqa: ANN001, ANN202
            calls["n"] += 1
            if calls["n"] == 2:
                stop_process(proc)  # the cluster goes away during the second batch
            return upsert(docs)

        svc.backend.upsert = upsert_then_stop  # type: ignore[method-assign]
        path = write(tmp_path, ROWS)
        report = svc.ingest_file(path)  # stored, index pending: not an error
        assert report.index == "pending" and "unreachable" in (report.index_unavailable or "")
        assert svc.counts()["tickets"] == len(ROWS)  # the SQL record kept every row
        assert svc.ingestor.pending_count() == report.pending >= 10
        svc.close()

        proc = start_noida(tmp_path / "es", port)  # same data dir: the first batch survived
        svc = Firstline(settings)
        assert svc.sync.drain().indexed == report.pending  # what the worker runs
        assert svc.backend.count() == len(ROWS)
        assert svc.verify()["drift"] == 0
        svc.close()
        # the retry is a new run of the command, as a user would do it
        svc = Firstline(settings)
        report = svc.ingest_file(path)
        assert svc.counts()["tickets"] == len(ROWS)
        assert report.added + report.unchanged == len(ROWS)
        assert svc.ingestor.pending_count() == 0
        assert svc.backend.count() == len(ROWS)
        assert len(svc.backend.ids()) == len(ROWS)
    finally:
        svc.close()
        stop_process(proc)


def test_cli_ingest_with_elasticsearch_down_fails_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS[:5])
    env = {
        **os.environ,
        "FIRSTLINE_DATA_DIR": str(tmp_path),
        "FIRSTLINE_MODEL__KIND": "hashing",
        "FIRSTLINE_SEARCH__BACKEND": "elasticsearch",
        "FIRSTLINE_ELASTICSEARCH__URLS": json.dumps([f"http://127.0.0.1:{free_port()}"]),
        "FIRSTLINE_ELASTICSEARCH__MAX_RETRIES": "0",
    }
    exe = str(Path(sys.executable).parent / "firstline")
    r = subprocess.run(
        [exe, "ingest", str(path)], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 4, r.stderr  # stored, not searchable yet: its own exit code
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "ingest " not in ln]
    assert len(lines) == 1 and "5 rows stored, not searchable yet (Elasticsearch at" in lines[0]
    assert "Traceback" not in r.stderr
    h = subprocess.run([exe, "health"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert h.returncode == 1
    health = json.loads(h.stdout)
    assert health["database"]["tickets"] == 5  # stored, waiting for the index
    assert health["index"]["status"] == "down"
    assert health["index"]["pending"] == 5


def test_api_answers_503_when_elasticsearch_is_down(tmp_path: Path) -> None:
    s = es_app_settings(tmp_path, f"http://127.0.0.1:{free_port()}")
    s.elasticsearch.max_retries = 0
    with TestClient(create_app(s), headers=AUTH) as client:
        t = client.post("/tickets", json={"items": ROWS[:3]})
        assert t.status_code == 200, t.text  # degraded, not down: stored, index pending
        assert (t.json()["added"], t.json()["index"], t.json()["pending"]) == (3, "pending", 3)
        r = client.post("/search", json={"query": "vpn"})
        assert r.status_code == 503
        assert r.json()["error"]["type"] == "backend_unavailable"
        assert "Elasticsearch" in r.json()["error"]["message"]
        h = client.get("/health")
        assert h.status_code == 503
        assert h.json()["index"]["status"] == "down"
        assert h.json()["database"]["status"] == "ok"
        assert h.json()["index"]["pending"] == 3
