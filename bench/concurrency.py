"""``/search`` under concurrent clients: requests/s and p50/p99 latency at concurrency 1, 8
and 32, with 1 and 2 API worker processes, beside the stack's ceiling (``bench/ceiling_app.py``:
FastAPI + the same encoder + one numpy dot product over the same vectors) in the same run.

    HF_HUB_OFFLINE=1 python bench/concurrency.py            # about 5 minutes on 2 cores

Ingests the demo data (``demo/``) with the real encoder into a temporary data dir, serves it on
loopback, and drives it with an asyncio HTTP client in this process (the client shares the
machine's cores with the servers; that is part of what is measured).  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "bench-admin-key-0123456789abcdef"
LEVELS = (1, 8, 32)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_DATA_DIR=str(data_dir),
        FIRSTLINE_API__ADMIN_KEY=KEY,
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def prepare(data_dir: Path) -> tuple[Path, list[str]]:
    """Ingest the demo tickets and articles; export the vectors for the ceiling app; return
    the path of that export and the queries (ticket titles)."""
    os.environ.update(_env(data_dir))
    from core.settings import get_settings
    from indexer.service import Firstline

    get_settings.cache_clear()
    service = Firstline(get_settings())
    try:
        service.ingest_file(ROOT / "demo" / "tickets.jsonl", "ticket", source="demo")
        service.ingest_file(ROOT / "demo" / "articles.jsonl", "article", source="demo")
        store = service.backend.version.vectors  # type: ignore[attr-defined]
        path = store.path
    finally:
        service.close()
    ids, vectors = [], []
    with sqlite3.connect(path) as conn:
        for doc_id, chunks in conn.execute("SELECT id, chunks FROM vectors"):
            rows = np.frombuffer(chunks, np.float32).reshape(-1, 384)
            ids += [doc_id] * len(rows)
            vectors.append(rows)
    export = data_dir / "ceiling-vectors.npz"
    np.savez(export, ids=np.array(ids), vectors=np.vstack(vectors))
    queries = [
        json.loads(line)["title"]
        for line in (ROOT / "demo" / "desk_morning.jsonl").read_text().splitlines()
        + (ROOT / "demo" / "tickets.jsonl").read_text().splitlines()
        if line.strip()
    ]
    return export, queries


def _start(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


async def _drive(url: str, queries: list[str], concurrency: int, total: int) -> dict:
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    next_query = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": KEY}, timeout=120, limits=limits
    ) as client:

        async def worker() -> None:
            nonlocal errors
            for i in next_query:
                body = {"query": queries[i % len(queries)], "k": 10}
                start = time.perf_counter()
                try:
                    r = await client.post("/search", json=body)
                except httpx.TransportError as e:  # a dropped connection counts as a failure
                    errors += 1
                    kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - start)
                if r.status_code != 200:
                    errors += 1
                    kind = f"HTTP {r.status_code}: {r.text[:200]}"
                    kinds[kind] = kinds.get(kind, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": total,
        "errors": errors,
        "error_kinds": kinds,
        "rps": round(total / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def measure(
    name: str,
    cmd: list[str],
    env: dict,
    port: int,
    queries: list[str],
    n: int,
    log: Path,
    levels: tuple[int, ...] = LEVELS,
):
    proc = _start(cmd, env, port, log)
    rows = []
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(_drive(url, queries, 4, 40))  # warm every worker
        for c in levels:
            row = {"server": name, **asyncio.run(_drive(url, queries, c, n * max(c, 4)))}
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        _stop(proc)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-client", type=int, default=25, help="requests per client (min 4)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "concurrency.json")
    ap.add_argument("--workers", default="1,2", help="API worker processes to measure, e.g. 1,2,4")
    ap.add_argument("--levels", default="1,8,32", help="concurrent clients, e.g. 1,8,32,64")
    args = ap.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    levels = tuple(int(c) for c in args.levels.split(","))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="firstline-bench-") as tmp:
        data_dir = Path(tmp)
        export, queries = prepare(data_dir)
        rows = []
        for workers in worker_counts:
            port = _free_port()
            py = [sys.executable, "-c", "from api.cli import main; main()"]
            rows += measure(
                f"firstline, {workers} worker{'s' * (workers > 1)}",
                py
                + ["serve", "--host", "127.0.0.1", "--port", str(port)]
                + ["--workers", str(workers)],
                _env(data_dir),
                port,
                queries,
                args.per_client,
                data_dir / f"serve-{workers}.log",
                levels,
            )
            port = _free_port()
            rows += measure(
                f"ceiling, {workers} worker{'s' * (workers > 1)}",
                [sys.executable, "-m", "uvicorn", "bench.ceiling_app:create_app", "--factory"]
                + ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
                + ["--log-level", "warning"],
                _env(data_dir, FIRSTLINE_BENCH_VECTORS=str(export)),
                port,
                queries,
                args.per_client,
                data_dir / f"ceiling-{workers}.log",
                levels,
            )
    result = {
        "date": started,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print()
    print("| server | clients | requests | req/s | p50 ms | p99 ms | errors | load 1m |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['server']} | {r['concurrency']} | {r['requests']} | {r['rps']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['load_avg_1m']} |"
        )


if __name__ == "__main__":
    main()
