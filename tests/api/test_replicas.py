"""Two API processes over one PostgreSQL and one Elasticsearch, each with a data dir of its
own (as replicas on two machines): what one does, the other serves — the triage model it
trained, the API key it created, the article it published (issue "Scale and speed")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, DEMO, ROOT, free_port, stop_process

pytestmark = [pytest.mark.postgres, pytest.mark.elasticsearch]

AUTH = {"X-API-Key": ADMIN_KEY}
STARTUP_S = 120
CATCH_UP_S = 60  # a bound on waiting, not a timing under test
TICKET_FIELDS = (
    "id title description resolution category assignment_group type impact urgency "
    "priority caller opened_at resolved_at"
).split()


@dataclass
class Replica:
    api: httpx.Client
    data_dir: Path


def _serve(env: dict[str, str], data_dir: Path) -> tuple[str, subprocess.Popen]:
    port = free_port()
    data_dir.mkdir(parents=True)
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env={**env, "FIRSTLINE_DATA_DIR": str(data_dir)},
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while True:
        assert proc.poll() is None, (data_dir / "serve.log").read_text()
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return url, proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_process(proc)
            pytest.fail((data_dir / "serve.log").read_text())
        time.sleep(0.3)


@pytest.fixture
def replicas(tmp_path: Path, fresh_postgres_url: str, es_url: str) -> Iterator[list[Replica]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_DATABASE__URL=fresh_postgres_url,
        FIRSTLINE_SEARCH__BACKEND="elasticsearch",
        FIRSTLINE_ELASTICSEARCH__URLS=json.dumps([es_url]),
        FIRSTLINE_ELASTICSEARCH__INDEX_PREFIX=f"r{uuid.uuid4().hex[:12]}",
        FIRSTLINE_MODEL__KIND="hashing",
        FIRSTLINE_API__ADMIN_KEY=ADMIN_KEY,
        PYTHONPATH=str(ROOT),
    )
    procs: list[subprocess.Popen] = []
    try:
        # One after the other: the first creates the schema and the index, as a deployment does.
        out = []
        for name in ("a", "b"):
            url, proc = _serve(env, tmp_path / name)
            procs.append(proc)
            out.append(
                Replica(httpx.Client(base_url=url, headers=AUTH, timeout=120), tmp_path / name)
            )
        yield out
        for r in out:
            r.api.close()
    finally:
        for proc in procs:
            stop_process(proc)


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CATCH_UP_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def _demo_tickets() -> list[dict]:
    rows = [json.loads(line) for line in (DEMO / "tickets.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k in TICKET_FIELDS} for r in rows]


def test_a_model_trained_through_one_replica_is_served_by_the_other(
    replicas: list[Replica],
) -> None:
    a, b = (r.api for r in replicas)
    request = {"request": {"title": "VPN drops", "description": "My VPN disconnects hourly."}}
    cold = b.post("/triage", json=request)
    assert cold.status_code == 200, cold.text
    assert cold.json()["results"][0]["model_version"] is None  # nothing trained yet
    r = a.post("/tickets", json={"items": _demo_tickets(), "source": "demo"})
    assert r.status_code == 200, r.text
    trained = a.post("/admin/triage/train", json={"force": True})
    assert trained.status_code == 200, trained.text
    version = trained.json()["version"]
    assert trained.json()["activated"]
    # b shares no file with a: it can only learn of the model from the database.
    assert not (replicas[1].data_dir / "models" / "triage").exists()
    _eventually(
        lambda: b.post("/triage", json=request).json()["results"][0]["model_version"] == version,
        f"the other replica never served model {version}",
    )
    models = b.get("/triage/models").json()
    assert models["active"] == version
    assert [v["version"] for v in models["versions"]] == [version]


def test_a_key_and_an_article_made_through_one_replica_work_through_the_other(
    replicas: list[Replica],
) -> None:
    a, b = (r.api for r in replicas)
    made = a.post("/admin/keys", json={"name": "maria", "role": "editor"})
    assert made.status_code == 200, made.text
    editor = {"X-API-Key": made.json()["key"]}
    assert b.get("/me", headers=editor).json() == {"name": "maria", "role": "editor"}

    draft = a.post(
        "/kb/articles",
        json={"title": "Plotter jams", "body": "Open the tray.", "category": "Printing"},
        headers=editor,
    )
    assert draft.status_code == 200, draft.text
    art = draft.json()
    edited = a.put(
        f"/kb/articles/{art['id']}",
        json={
            "version": art["version"],
            "body": "Open the rear tray of the quorvex plotter and pull the sheet out.",
        },
        headers=editor,
    )
    assert edited.status_code == 200, edited.text
    published = a.post(
        f"/kb/articles/{art['id']}/status",
        json={"to": "published", "version": edited.json()["version"]},
        headers=editor,
    )
    assert published.status_code == 200, published.text

    def found_by_b() -> bool:
        r = b.post("/search", json={"query": "quorvex plotter", "k": 3})
        assert r.status_code == 200, r.text
        return any(h["title"] == "Plotter jams" for h in r.json()["hits"])

    _eventually(
        found_by_b, "the article published through one replica was never found by the other"
    )
