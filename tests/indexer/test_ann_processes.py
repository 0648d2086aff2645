"""One writer and two reader processes on one embedded index with an HNSW graph (issue "Scale
and speed"): a commit by the writer never makes a reader build (or load, in a search) a graph;
the readers keep answering, find the new documents at once (searched exactly beside the graph
they hold) and load the writer's extended graph in the background.

The writer is the real ``firstline ingest``; each reader is a Python process using the library
as an API worker does, answering one search per line of stdin with its hits and what its
backend reports about the graph (``describe()["ann"]``: builds, extensions and loads in that
process, the graph it searches and how many rows it searches exactly beside it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

FIRSTLINE = str(Path(sys.executable).parent / "firstline")
THRESHOLD = 200  # above it the backend searches through the graph
ROWS = 400
# Only a safety net for a broken build: a passing run never waits this long.
STUCK = 120

READER = """
import json, sys
from core.settings import get_settings
from indexer.service import Firstline

service = Firstline(get_settings())
for line in sys.stdin:
    hits = service.search(line.strip(), k=3, mode="dense")
    ann = service.backend.describe()["ann"]
    print(json.dumps({"titles": [h["title"] for h in hits], "ann": ann}), flush=True)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    e.update(
        FIRSTLINE_DATA_DIR=str(tmp_path / "data"),
        FIRSTLINE_MODEL__KIND="hashing",
        FIRSTLINE_SEARCH__ANN_THRESHOLD=str(THRESHOLD),
        PYTHONPATH=str(ROOT),
    )
    return e


class Reader:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def search(self, query: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(query + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the reader died (exit {self.proc.poll()})"
        return json.loads(line)

    def until(self, query: str, ok: Any, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + STUCK
        while not ok(answer := self.search(query)):
            assert time.monotonic() < deadline, f"{what}: {answer}"
            time.sleep(0.1)
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def readers(env: dict[str, str], tmp_path: Path) -> Iterator[list[Reader]]:
    started: list[Reader] = []
    yield started
    for r in started:
        if r.proc.poll() is None:
            r.close()


def _tickets(path: Path, first: int, n: int, words: list[str]) -> Path:
    with path.open("w") as f:
        for i in range(first, first + n):
            w = words[i % len(words)]
            item = {
                "id": f"INC{i:06d}",
                "title": f"{w} problem number {i}",
                "description": f"the {w} of user {i} does not work",
                "resolution": f"restarted the {w} service",
            }
            f.write(json.dumps(item) + "\n")
    return path


def _ingest(env: dict[str, str], path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [FIRSTLINE, "ingest", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _graph_on_disk(env: dict[str, str]) -> dict[str, Any]:
    index = Path(env["FIRSTLINE_DATA_DIR"]) / "index"
    version = index / (index / "CURRENT").read_text().strip()
    return json.loads((version / "ann.json").read_text())


def test_a_writer_commit_never_makes_a_reader_build_and_readers_find_the_new_documents(
    env: dict[str, str], tmp_path: Path, readers: list[Reader]
) -> None:
    words = "printer vpn outlook password laptop wifi badge sap teams monitor".split()
    first = _ingest(env, _tickets(tmp_path / "first.jsonl", 0, ROWS, words))
    assert first.wait(STUCK) == 0, first.communicate()[1][-2000:]
    # The writer left its graph on disk: built there, not by anyone's search.
    built = _graph_on_disk(env)
    assert built["vectors"] >= ROWS

    readers += [Reader(env, tmp_path), Reader(env, tmp_path)]
    for r in readers:
        # The first search answers (exactly) while the graph loads in a background thread.
        assert r.search("printer problem number 10")["titles"]
        loaded = r.until(
            "printer problem number 10",
            lambda a: (a["ann"]["graph"] or {}).get("seq") == built["seq"],
            "the reader never loaded the writer's graph",
        )
        assert loaded["titles"][0] == "printer problem number 10"

    # A writer commits new tickets while both readers keep searching.  This one leaves the
    # graph as it is (its threshold is above the index's size, so it maintains none): the
    # window between a commit and the extended graph, as long as the test needs it.
    new = _tickets(tmp_path / "new.jsonl", ROWS, 3, ["zeppelin hangar door jammed"])
    writer = _ingest({**env, "FIRSTLINE_SEARCH__ANN_THRESHOLD": str(10 * ROWS)}, new)
    during = 0
    while writer.poll() is None:
        for r in readers:
            assert r.search("vpn problem number 11")["titles"][0] == "vpn problem number 11"
            during += 1
    assert writer.returncode == 0, writer.communicate()[1][-2000:]
    assert during > 0
    assert _graph_on_disk(env)["seq"] == built["seq"]
    for r in readers:
        # The first search after the commit finds the new tickets: the rows the reader's
        # graph lacks are searched exactly beside it.
        after = r.search(f"zeppelin hangar door jammed problem number {ROWS + 1}")
        assert after["titles"][0] == f"zeppelin hangar door jammed problem number {ROWS + 1}"
        assert after["ann"]["graph"]["seq"] == built["seq"]
        assert after["ann"]["graph"]["rows_searched_exactly"] == 3

    # The next writer extends the graph by every row it lacks, the earlier writer's too.
    more = _tickets(tmp_path / "more.jsonl", ROWS + 3, 2, ["escalator handrail squeaks"])
    writer = _ingest(env, more)
    assert writer.wait(STUCK) == 0, writer.communicate()[1][-2000:]
    extended = _graph_on_disk(env)
    assert extended["seq"] > built["seq"] and extended["generation"] > built["generation"]
    for r in readers:
        # Within a bounded time each reader searches the extended graph, loaded in the
        # background, and finds the new tickets through it.
        now = r.until(
            f"zeppelin hangar door jammed problem number {ROWS + 2}",
            lambda a: a["ann"]["graph"]["seq"] == extended["seq"],
            "the reader never loaded the extended graph",
        )
        assert now["titles"][0] == f"zeppelin hangar door jammed problem number {ROWS + 2}"
        assert now["ann"]["graph"]["rows_searched_exactly"] == 0
        last = r.search(f"escalator handrail squeaks problem number {ROWS + 4}")
        assert last["titles"][0] == f"escalator handrail squeaks problem number {ROWS + 4}"
        # Nothing in a reader ever built or extended a graph; it loaded those on disk.
        assert last["ann"]["builds"] == last["ann"]["extends"] == 0
        assert last["ann"]["loads"] >= 2
