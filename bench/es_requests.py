"""What one search costs on Elasticsearch: HTTP requests, wall time, client and server CPU.

Builds (once, ``--build``) an index of the StackFAQ documents through the production ingestion,
caches the query vectors, then runs every query through the backend's ``search`` (k=100, as
``firstline eval retrieval`` does) and counts the requests the client sends.  Run it with
another checkout first on PYTHONPATH to compare versions on the same index:

    python bench/es_requests.py --es-url http://127.0.0.1:9200 --build
    python bench/es_requests.py --es-url http://127.0.0.1:9200 --server-pid PID
    PYTHONPATH=/path/to/older/checkout python bench/es_requests.py --es-url ... --server-pid PID

``--server-pid`` (a local emulator or node) adds the CPU seconds the server spent.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from core.errors import InvalidInputError
from core.settings import Settings
from indexer.types import SearchRequest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackfaq"
CACHE = Path(tempfile.gettempdir()) / "firstline-es-requests"


def settings(url: str, prefix: str, data_dir: Path) -> Settings:
    s = Settings(data_dir=data_dir)
    s.search.backend = "elasticsearch"
    s.elasticsearch.urls = [url]
    s.elasticsearch.index_prefix = prefix
    return s


def server_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build(url: str, prefix: str, docs: Path, queries: Path) -> None:
    from indexer.service import Firstline

    CACHE.mkdir(parents=True, exist_ok=True)
    service = Firstline(settings(url, prefix, CACHE / "data"))
    try:
        try:
            service.backend.drop()  # a previous build
        except InvalidInputError:
            pass  # nothing to drop
        service.ingest_file(docs, kind="article", mapping={"external_id": "id"}, source="bench")
        texts = [json.loads(line)["query"] for line in queries.open(encoding="utf-8")]
        np.save(CACHE / "queries.npy", service.encoder.encode(texts))
        (CACHE / "queries.json").write_text(json.dumps(texts))
    finally:
        service.close()


def run(url: str, prefix: str, pid: int | None, mode: str) -> dict:
    from indexer.backends.base import create_backend

    texts = json.loads((CACHE / "queries.json").read_text())
    vectors = np.load(CACHE / "queries.npy")
    backend = create_backend(settings(url, prefix, CACHE / "data"), dim=vectors.shape[1])
    backend.search(SearchRequest(text="warm up", vector=vectors[0], k=10))  # alias, mapping
    sent: Counter[str] = Counter()
    transport = backend.client.transport
    perform = transport.perform_request

    def counting(method: str, target: str, *args: object, **kwargs: object) -> object:
        sent[f"{method} {target.split('?')[0].split('/')[-1]}"] += 1
        return perform(method, target, *args, **kwargs)

    transport.perform_request = counting
    wall, cpu, srv = time.perf_counter(), time.process_time(), server_cpu(pid)
    for text, vec in zip(texts, vectors, strict=True):
        backend.search(SearchRequest(text=text, vector=vec, k=100, mode=mode))  # type: ignore[arg-type]
    n = len(texts)
    out = {
        "queries": n,
        "mode": mode,
        "requests_per_search": sum(sent.values()) / n,
        "requests": dict(sent),
        "wall_ms_per_search": round(1000 * (time.perf_counter() - wall) / n, 1),
        "client_cpu_ms_per_search": round(1000 * (time.process_time() - cpu) / n, 1),
    }
    if pid is not None:
        out["server_cpu_ms_per_search"] = round(1000 * (server_cpu(pid) - srv) / n, 1)
    backend.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--es-url", default="http://127.0.0.1:9200")
    p.add_argument("--prefix", default="firstline-bench-requests")
    p.add_argument("--docs", type=Path, default=DATA / "docs.jsonl")
    p.add_argument("--queries", type=Path, default=DATA / "queries_dev_pairs.jsonl")
    p.add_argument("--build", action="store_true", help="(re)build the index and query cache")
    p.add_argument("--server-pid", type=int, default=None)
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "lexical", "dense"])
    a = p.parse_args()
    if a.build:
        build(a.es_url, a.prefix, a.docs, a.queries)
    print(json.dumps(run(a.es_url, a.prefix, a.server_pid, a.mode)))


if __name__ == "__main__":
    main()
