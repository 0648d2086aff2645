"""``firstline serve --workers 2``: two processes on one data dir serve one consistent service
(issue #11, build item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, ROOT, free_port, stop_process

AUTH = {"X-API-Key": ADMIN_KEY}
STARTUP_S = 120


def _workers(parent: int) -> list[int]:
    """Worker processes uvicorn spawned under ``parent``."""
    out = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmd:
                out.append(int(child))
    return out


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_DATA_DIR=str(tmp_path / "data"),
        FIRSTLINE_MODEL__KIND="hashing",
        FIRSTLINE_API__ADMIN_KEY=ADMIN_KEY,
        PYTHONPATH=str(ROOT),
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve"]
        + ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        yield url, proc
    finally:
        stop_process(proc)
        log.close()


def _search(url: str, query: str) -> list[dict]:
    # A new connection each time, so the kernel hands the requests to either worker.
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        r = client.post("/search", json={"query": query, "k": 3})
    assert r.status_code == 200, r.text
    return r.json()["hits"]


def test_two_workers_serve_one_index(served: tuple[str, subprocess.Popen]) -> None:
    url, proc = served
    assert len(_workers(proc.pid)) == 2
    item = {
        "id": "INC-7",
        "title": "toner cartridge empty on floor five",
        "description": "The floor five printer says the toner cartridge is empty.",
        "resolution": "Replaced the toner cartridge from the stock room.",
    }
    r = httpx.post(
        f"{url}/tickets", json={"items": [item], "source": "test"}, headers=AUTH, timeout=60
    )
    assert r.status_code == 200, r.text
    # The index may lag the record (the sync runs off the request path): wait for it once...
    deadline = time.monotonic() + 60
    while not any(h["title"] == item["title"] for h in _search(url, "toner cartridge empty")):
        assert time.monotonic() < deadline, "the ingested ticket never became searchable"
        time.sleep(0.2)
    # ...then every search, whichever worker answers it, finds it.
    for _ in range(12):
        hits = _search(url, "toner cartridge empty")
        assert hits and hits[0]["title"] == item["title"]
