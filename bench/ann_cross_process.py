"""Search latency of two reader processes before, during and after a writer process commits,
on one embedded index of 100,000 documents with an HNSW graph (issue "Scale and speed").

Before this change a reader rebuilt the whole graph inside the first search after any commit
by another process (22 s per such search at 100k documents, as measured in the issue).  Now the
writer extends and persists the graph, readers load it in a background thread and search the
few rows it lacks exactly.

Synthetic data: clustered unit vectors of dim 384 (one chunk per document) and generated short
texts (bench/run.py's generator); query vectors are made the same way, so the latencies
exclude query encoding (3-7 ms with the ONNX encoder, bench/README.md).  Each reader runs
hybrid searches (k=10) back to back with a 50 ms pause.  The writer commits 10 new documents
every 1.5 s through its own backend handle, as the sync worker of another API worker does; its
maintenance thread extends the graph in between, and closing it leaves the graph current.

    python bench/ann_cross_process.py                    # ~3 min on 2 cores
    python bench/ann_cross_process.py --docs 20000 --phase-s 5   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import synthetic_text  # noqa: E402
from core.settings import SearchSettings  # noqa: E402
from indexer.backends.embedded import EmbeddedBackend  # noqa: E402
from indexer.types import IndexDoc, SearchRequest  # noqa: E402

DIM = 384
CENTERS = 200


def _backend(index: Path) -> EmbeddedBackend:
    return EmbeddedBackend(index, dim=DIM, settings=SearchSettings())


def _docs(first: int, n: int, seed: int) -> list[IndexDoc]:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(size=(CENTERS, DIM)).astype(np.float32)
    out = []
    for i in range(first, first + n):
        v = centers[i % CENTERS] + 0.6 * nrng.normal(size=DIM).astype(np.float32)
        v /= np.linalg.norm(v)
        out.append(
            IndexDoc(
                id=f"ticket:{i}",
                kind="ticket" if i % 4 else "article",
                title=synthetic_text(rng, 8),
                body=synthetic_text(rng, 40),
                title_vector=v,
                chunk_vectors=v.reshape(1, -1),
                category=f"cat{i % 12}",
                status="resolved",
            )
        )
    return out


def _queries(n: int) -> list[tuple[str, np.ndarray]]:
    rng = random.Random(1)
    nrng = np.random.default_rng(1)
    centers = np.random.default_rng(0).normal(size=(CENTERS, DIM)).astype(np.float32)
    out = []
    for _ in range(n):
        v = centers[rng.randrange(CENTERS)] + 0.6 * nrng.normal(size=DIM).astype(np.float32)
        out.append((synthetic_text(rng, rng.randint(3, 9)), v / np.linalg.norm(v)))
    return out


def _graph_seq(backend: EmbeddedBackend) -> int | None:
    graph = backend.describe()["ann"]["graph"]
    return None if graph is None else graph["seq"]


# -- the processes ---------------------------------------------------------------------------
def reader(index: Path, stop: Path, out: Path) -> None:
    backend = _backend(index)
    queries = _queries(300)
    t = time.perf_counter()
    backend.search(SearchRequest(text=queries[0][0], vector=queries[0][1], k=10))
    first = time.perf_counter() - t
    while _graph_seq(backend) is None:  # loading in the background since the first search
        time.sleep(0.05)
    ready = time.perf_counter() - t
    print("ready", flush=True)
    samples = []
    i = 0
    while not stop.exists():
        text, vec = queries[i % len(queries)]
        start = time.time()
        t = time.perf_counter()
        backend.search(SearchRequest(text=text, vector=vec, k=10))
        ms = (time.perf_counter() - t) * 1000
        graph = backend.describe()["ann"]["graph"] or {}
        samples.append([start, ms, graph.get("seq"), graph.get("rows_searched_exactly")])
        i += 1
        time.sleep(0.05)
    ann = backend.describe()["ann"]
    out.write_text(
        json.dumps(
            {"first_search_s": first, "graph_ready_s": ready, "ann": ann, "samples": samples}
        )
    )


def writer(index: Path, commits: int, every: float, first_id: int, out: Path) -> None:
    backend = _backend(index)
    backend.count()
    commit_ms = []
    for c in range(commits):
        docs = _docs(first_id + 10 * c, 10, seed=1000 + c)
        t = time.perf_counter()
        backend.upsert(docs)
        commit_ms.append((time.perf_counter() - t) * 1000)
        time.sleep(every)
    t = time.perf_counter()
    backend.close()  # the last extension, if the background one has not run yet
    close_s = time.perf_counter() - t
    from indexer.backends import ann

    out.write_text(json.dumps({"commit_ms": commit_ms, "close_s": close_s, "stats": ann.STATS}))


# -- the run ---------------------------------------------------------------------------------
def _pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(xs, p)), 2) if xs else float("nan")


def recall(index: Path, n: int = 200) -> dict[str, float]:
    """Top-10 overlap of the graph's answers with exact search, dense and hybrid."""
    backend = _backend(index)
    backend.count()
    backend.search(SearchRequest(text="warm", vector=_queries(1)[0][1], k=10))
    while _graph_seq(backend) is None:
        time.sleep(0.05)
    store = backend.version.vectors
    out = {}
    for mode in ("dense", "hybrid"):
        overlap = []
        for text, vec in _queries(n):
            r = SearchRequest(text=text, vector=vec, k=10, mode=mode)
            store.ann_threshold = SearchSettings().ann_threshold
            got = {h.id for h in backend.search(r)}
            store.ann_threshold = 10**12
            exact = {h.id for h in backend.search(r)}
            overlap.append(len(got & exact) / max(len(exact), 1))
        out[f"{mode}_recall_at_10"] = round(float(np.mean(overlap)), 4)
    backend.close()
    return out


def run(docs: int, phase_s: float, commits: int, every: float) -> dict[str, Any]:
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        index = tmp / "index"
        backend = _backend(index)
        t = time.perf_counter()
        for first in range(0, docs, 5000):
            backend.upsert(_docs(first, min(5000, docs - first), seed=first))
        index_s = time.perf_counter() - t
        t = time.perf_counter()
        backend.maintain(wait=True)
        graph_s = time.perf_counter() - t
        backend.close()
        print(f"indexed {docs} in {index_s:.1f} s, graph built by the writer in {graph_s:.1f} s")

        stop = tmp / "stop"
        me = [sys.executable, str(Path(__file__).resolve())]
        readers = [
            subprocess.Popen(
                [*me, "--role", "reader", "--dir", str(index), "--stop", str(stop)]
                + ["--out", str(tmp / f"reader{i}.json")],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        for r in readers:
            assert r.stdout is not None and r.stdout.readline().strip() == "ready"
        t_before = time.time()
        time.sleep(phase_s)
        t_during = time.time()
        w = subprocess.run(
            [*me, "--role", "writer", "--dir", str(index), "--out", str(tmp / "writer.json")]
            + ["--commits", str(commits), "--every", str(every), "--first-id", str(docs)],
            check=True,
        )
        assert w.returncode == 0
        t_after = time.time()
        final = json.loads((index / (index / "CURRENT").read_text() / "ann.json").read_text())
        time.sleep(phase_s)
        t_end = time.time()
        stop.touch()
        for r in readers:
            r.wait(120)
        load_end = os.getloadavg()
        reports = [json.loads((tmp / f"reader{i}.json").read_text()) for i in range(2)]
        wrote = json.loads((tmp / "writer.json").read_text())
        quality = recall(index)
        if os.environ.get("ANN_BENCH_RAW"):
            raw = {"t": [t_before, t_during, t_after, t_end], "readers": reports}
            Path(os.environ["ANN_BENCH_RAW"]).write_text(json.dumps(raw))

    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    after_on_final = 0
    for rep in reports:
        for start, ms, seq, _exact in rep["samples"]:
            if t_before <= start < t_during:
                phases["before"].append(ms)
            elif t_during <= start < t_after:
                phases["during"].append(ms)
            elif t_after <= start < t_end:
                phases["after"].append(ms)
                after_on_final += seq == final["seq"]
    return {
        "docs": docs,
        "dim": DIM,
        "phase_s": phase_s,
        "writer_commits": commits,
        "writer_commit_every_s": every,
        "index_s": round(index_s, 1),
        "graph_build_s": round(graph_s, 1),
        "phases": {
            k: {
                "searches": len(v),
                "p50_ms": _pct(v, 50),
                "p99_ms": _pct(v, 99),
                "max_ms": _pct(v, 100),
            }
            for k, v in phases.items()
        },
        "after_share_on_final_graph": round(after_on_final / max(len(phases["after"]), 1), 3),
        "readers": [
            {
                "first_search_s": round(rep["first_search_s"], 3),
                "graph_ready_s": round(rep["graph_ready_s"], 1),
                "builds": rep["ann"]["builds"],
                "extends": rep["ann"]["extends"],
                "loads": rep["ann"]["loads"],
            }
            for rep in reports
        ],
        "writer": {
            "commit_p50_ms": _pct(wrote["commit_ms"], 50),
            "commit_max_ms": _pct(wrote["commit_ms"], 100),
            "close_s": round(wrote["close_s"], 2),
            **wrote["stats"],
        },
        "final_graph": {"seq": final["seq"], "vectors": final["vectors"]},
        **quality,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
    }


def table(res: dict[str, Any]) -> str:
    rows = [
        "| phase | searches | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for name, p in res["phases"].items():
        rows.append(f"| {name} | {p['searches']} | {p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} |")
    rows.append("| old: first search after a commit (issue) | | | | 22,000 |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=["run", "reader", "writer"], default="run")
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--stop", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "ann_cross_process.json")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--phase-s", type=float, default=20.0)
    ap.add_argument("--commits", type=int, default=12)
    ap.add_argument("--every", type=float, default=1.5)
    ap.add_argument("--first-id", type=int, default=0)
    a = ap.parse_args()
    if a.role == "reader":
        reader(a.dir, a.stop, a.out)
    elif a.role == "writer":
        writer(a.dir, a.commits, a.every, a.first_id, a.out)
    else:
        res = run(a.docs, a.phase_s, a.commits, a.every)
        a.out.write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res, indent=2))
        print(table(res))


if __name__ == "__main__":
    main()
