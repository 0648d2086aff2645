"""Fault tests: kill -9 at a random point of an ingest, a reindex and a stream of API writes, on
SQLite and PostgreSQL, with the embedded backend and Elasticsearch; after a restart the record
holds exactly what was acknowledged and ``firstline verify`` finds no drift between the SQL
record and the index.

Each process is the real ``firstline`` command (the hashing encoder keeps it fast); the kill is
SIGKILL to its process group at a random point inside the work: an import once a random number
of its rows are committed (and a random moment later, anywhere inside the next batch), a
rebuild at a random moment of an uninterrupted rebuild's duration (measured first), the API
once writes are under way.  The seed is in the test id (``FIRSTLINE_FAULT_SEEDS=1,2,3`` runs
more), so a failure can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, stop_process

FIRSTLINE = str(Path(sys.executable).parent / "firstline")
ADMIN = "kill9-admin-key-" + "x" * 16
ROWS = 1200  # a third of them after the latest kill point: ~13 batches, however fast
BATCH = 30  # rows per committed batch of the import
SEEDS = [int(s) for s in os.environ.get("FIRSTLINE_FAULT_SEEDS", "1").split(",")]


# -- where the state lives: two databases x two backends ------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'firstline.db'}"
        return
    # A database of its own (a killed writer must not disturb another test).
    yield request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(params=["embedded", "elasticsearch"])
def env(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> dict[str, str]:
    e = {
        **os.environ,
        "FIRSTLINE_DATA_DIR": str(tmp_path / "var"),
        "FIRSTLINE_DATABASE__URL": database,
        "FIRSTLINE_MODEL__KIND": "hashing",
        "FIRSTLINE_INGEST__BATCH_SIZE": str(BATCH),
        "FIRSTLINE_API__ADMIN_KEY": ADMIN,
        "FIRSTLINE_SEARCH__BACKEND": request.param,
    }
    if request.param == "elasticsearch":
        e["FIRSTLINE_ELASTICSEARCH__URLS"] = json.dumps([request.getfixturevalue("es_url")])
        e["FIRSTLINE_ELASTICSEARCH__INDEX_PREFIX"] = f"k{uuid.uuid4().hex[:12]}"
    return e


# -- helpers ---------------------------------------------------------------------------------
def _run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FIRSTLINE, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [FIRSTLINE, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: SIGKILL reaches every child
    )


def _kill9(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _timed(env: dict[str, str], *args: str) -> float:
    """How long the work takes uninterrupted (to place the kill inside it)."""
    start = time.monotonic()
    done = _run(env, *args)
    assert done.returncode in (0, 4), done.stderr[-2000:]
    return time.monotonic() - start


def _kill_at_random(env: dict[str, str], rng: random.Random, span: float, *args: str) -> None:
    proc = _start(env, *args)
    time.sleep(rng.uniform(0.1, 0.95) * span)
    _kill9(proc)


def _verify(env: dict[str, str]) -> dict:
    done = _run(env, "verify", "--json")
    assert done.returncode == 0, f"verify exit {done.returncode}: {done.stdout[-3000:]}" + (
        f"\nstderr: {done.stderr[-3000:]}"
    )
    report = json.loads(done.stdout)
    assert report["drift"] == 0, done.stdout[-3000:]
    return report


def _write_tickets(path: Path, n: int, tag: str = "") -> Path:
    words = "printer vpn outlook password laptop wifi badge sap teams monitor".split()
    with path.open("w") as f:
        for i in range(n):
            w = words[i % len(words)]
            f.write(
                json.dumps(
                    {
                        "id": f"INC{i:06d}",
                        "title": f"{w} problem number {i}{tag}",
                        "description": f"the {w} of user {i} does not work{tag}",
                        "resolution": f"restarted the {w} service",
                        "category": w,
                        "opened_at": "2026-03-01T10:00:00",
                    }
                )
                + "\n"
            )
    return path


def _count(env: dict[str, str]) -> int:
    done = _run(env, "health")
    return json.loads(done.stdout)["database"]["tickets"]


_ENGINES: dict = {}


def _stored(database: str) -> int:
    """Tickets committed so far (read straight from the record, while a writer runs; one
    pooled engine per database, so a poll is quick next to a batch of the import)."""
    from sqlalchemy import create_engine, text

    engine = _ENGINES.get(database)
    if engine is None:
        engine = _ENGINES[database] = create_engine(database)
    try:
        with engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM tickets")).scalar() or 0)
    except Exception:  # noqa: BLE001 - the schema may not exist yet
        return 0


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


# -- the scenarios ---------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.elasticsearch
@pytest.mark.parametrize("seed", SEEDS)
def test_ingest_killed_at_random_then_rerun_is_exact(
    env: dict[str, str], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    data = _write_tickets(tmp_path / "tickets.jsonl", ROWS)
    database = env["FIRSTLINE_DATABASE__URL"]
    for half in (0, 1):  # killed twice: at a random point of each half of the import
        low = max(_stored(database) + 1, half * ROWS // 3)
        # At least a third of the rows stay after the target, so the kill lands inside the work
        # however fast this machine commits a batch.
        target = rng.randrange(low, max(low + 1, (half + 1) * ROWS // 3))
        proc = _start(env, "ingest", str(data))
        seen, changed, batch_span = _stored(database), None, 0.02
        while seen < target and proc.poll() is None:
            time.sleep(0.005)
            now_seen = _stored(database)
            if now_seen != seen:  # a batch committed: the gap since the last one is its span
                now = time.monotonic()
                if changed is not None:  # (the first gap holds the process's start-up)
                    batch_span = now - changed
                seen, changed = now_seen, now
        # Anywhere inside the next batch (store, embed, index, mark): a random share of one
        # batch's measured duration, not a fixed time a fast machine finishes the import in.
        time.sleep(rng.uniform(0.0, 0.9) * batch_span)
        _kill9(proc)
    assert _stored(database) < ROWS, "the import finished before it could be killed"
    done = _run(env, "ingest", str(data))
    assert done.returncode == 0, done.stderr[-2000:]
    assert _count(env) == ROWS
    report = _verify(env)
    assert report["record"] == report["index"] == ROWS


@pytest.mark.postgres
@pytest.mark.elasticsearch
@pytest.mark.parametrize("seed", SEEDS)
def test_reindex_killed_at_random_leaves_the_live_index_whole(
    env: dict[str, str], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    data = _write_tickets(tmp_path / "tickets.jsonl", ROWS)
    assert _run(env, "ingest", str(data)).returncode == 0
    span = _timed(env, "reindex")
    _kill_at_random(env, rng, span, "reindex")
    # The live index is the one before the killed rebuild: whole, and nothing marked wrongly.
    _verify(env)
    hits = json.loads(_run(env, "search", "vpn problem", "--json").stdout)
    assert hits, "search finds nothing after a killed rebuild"
    # A new rebuild after the kill works and leaves no drift either.
    assert _run(env, "reindex").returncode == 0
    assert _verify(env)["index"] == ROWS


class _Writer:
    """A client that keeps writing through the API and remembers what was acknowledged."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.articles: list[int] = []  # published
        self.resolved: list[int] = []  # desk tickets resolved with a new answer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        h = {"X-API-Key": ADMIN}
        i = 0
        with httpx.Client(base_url=self.url, headers=h, timeout=10) as c:
            while not self.stop.is_set():
                i += 1
                try:
                    a = c.post(
                        "/kb/articles",
                        json={"title": f"How to fix thing {i}", "body": f"Steps for thing {i}."},
                    )
                    if a.status_code != 200:
                        continue
                    art = a.json()
                    r = c.post(
                        f"/kb/articles/{art['id']}/status",
                        json={"to": "published", "version": art["version"]},
                    )
                    if r.status_code == 200:
                        self.articles.append(art["id"])
                    t = c.post(
                        "/desk/tickets",
                        json={"title": f"thing {i} broken", "description": "it fails"},
                    )
                    if t.status_code != 200:
                        continue
                    tid = t.json()["ticket"]["id"]
                    r = c.post(
                        f"/desk/tickets/{tid}/resolve",
                        json={"resolution": f"fixed thing {i}", "capture": False},
                    )
                    if r.status_code == 200:
                        self.resolved.append(tid)
                except httpx.HTTPError:
                    return  # the server was killed


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = _start(dict(env, FIRSTLINE_API__PORT=str(port)), "serve")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the API did not start: {proc.stderr.read()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_process(proc)
    raise AssertionError("the API did not answer within 120 s")


def _wait_drained(url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/health", timeout=10).json()
        if body.get("index", {}).get("pending") == 0:
            return body
        time.sleep(0.3)
    raise AssertionError(f"rows still pending after {timeout} s: {body}")


@pytest.mark.postgres
@pytest.mark.elasticsearch
@pytest.mark.parametrize("seed", SEEDS)
def test_api_killed_during_writes_loses_nothing_acknowledged(
    env: dict[str, str], tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    data = _write_tickets(tmp_path / "tickets.jsonl", 300)
    assert _run(env, "ingest", str(data)).returncode == 0
    proc, url = _serve(env)
    writer = _Writer(url)
    writer.thread.start()
    # Killed at a random moment once the writes are under way (each kind acknowledged once).
    deadline = time.monotonic() + 120
    while not (writer.articles and writer.resolved) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 2.5))
    _kill9(proc)
    writer.stop.set()
    writer.thread.join(timeout=30)
    assert writer.articles and writer.resolved, "no write was acknowledged before the kill"

    proc, url = _serve(env)  # restart: the sync worker drains what the kill left pending
    try:
        _wait_drained(url)
        h = {"X-API-Key": ADMIN}
        for aid in writer.articles:
            got = httpx.get(f"{url}/kb/articles/{aid}", headers=h, timeout=10)
            assert got.status_code == 200 and got.json()["status"] == "published"
        for tid in writer.resolved:
            got = httpx.get(f"{url}/desk/tickets/{tid}", headers=h, timeout=10)
            assert got.status_code == 200 and got.json()["state"] == "resolved"
    finally:
        stop_process(proc)
    _verify(env)
