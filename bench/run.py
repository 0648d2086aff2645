"""Benchmarks of firstline on this machine: ingest vs raw encoder throughput, search latency at
scale, memory.  Prints a Markdown table (paste it into bench/README.md) and writes JSON.

    python bench/run.py                     # everything (about 15 minutes on 2 cores)
    python bench/run.py --only search --sizes 10000
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import SearchSettings, Settings  # noqa: E402
from indexer.backends.embedded import EmbeddedBackend  # noqa: E402
from indexer.documents import embedding_inputs  # noqa: E402
from indexer.types import IndexDoc, SearchRequest  # noqa: E402
from kb.models import Ticket  # noqa: E402
from models.encoder import get_encoder  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WORDS = (
    "password reset account locked vpn connect disconnect outlook calendar meeting email mailbox "
    "printer toner jam network wifi switch floor outage laptop screen monitor keyboard mouse "
    "teams phone call order invoice payment balance card declined warehouse picking scanner "
    "wave list sap erp login error access denied share drive folder permission install software "
    "license update windows slow crash freeze the a to is not in my and of for cannot with on "
    "after since today again please help urgent users all whole site server database backup"
).split()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_text(rng: random.Random, n: int) -> str:
    # Zipf-like: common words often, a long tail of rare tokens.
    out = []
    for _ in range(n):
        if rng.random() < 0.7:
            out.append(WORDS[min(int(rng.paretovariate(1.2)) - 1, len(WORDS) - 1)])
        else:
            out.append(f"term{int(rng.paretovariate(0.8)) % 50000}")
    return " ".join(out)


def real_texts(limit: int) -> list[dict[str, str]]:
    path = SHARED / "itsm_assignment" / "tickets.csv.gz"
    if not path.exists():
        rng = random.Random(1)
        return [
            {"Short description": synthetic_text(rng, 8), "Description": synthetic_text(rng, 40)}
            for _ in range(limit)
        ]
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    return [
        {"Short description": r["Short description"], "Description": r["Description"]} for r in rows
    ]


def bench_ingest(rows: int) -> dict:
    """Pipeline (read, store, embed, index) vs the encoder alone on the same texts."""
    from indexer.service import Firstline

    data = real_texts(rows)
    enc = get_encoder()
    enc.encode(["warm up"])
    texts = [
        t
        for r in data
        for t in embedding_inputs(
            Ticket(title=r["Short description"], description=r["Description"]), 128, 96
        )
    ]
    # The raw encoder at its best: one call, sentence-transformers sorts all texts by length.
    model = enc._load()
    t = time.perf_counter()
    model.encode(texts, batch_size=enc.batch_size, normalize_embeddings=True)
    raw = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tickets.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["Short description", "Description"])
            w.writeheader()
            w.writerows(data)
        svc = Firstline(Settings(data_dir=Path(tmp) / "var"))
        svc.warmup()
        t = time.perf_counter()
        report = svc.ingest_file(path)
        pipe = time.perf_counter() - t
        svc.close()
    assert report.added == len({json.dumps(r, sort_keys=True) for r in data}) or report.added
    return {
        "rows": len(data),
        "encoder_docs_per_s": round(len(texts) / raw, 1),
        "pipeline_docs_per_s": round(len(texts) / pipe, 1),
        "ratio": round(raw / pipe, 3),
    }


def bench_search(size: int, queries: int, dim: int = 384) -> list[dict]:
    rng = random.Random(size)
    nrng = np.random.default_rng(size)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = SearchSettings()
        backend = EmbeddedBackend(Path(tmp) / "index", dim=dim, settings=settings)
        # Clustered unit vectors: closer to real embeddings than uniform noise.
        centers = nrng.normal(size=(200, dim)).astype(np.float32)
        t = time.perf_counter()
        batch = []
        for i in range(size):
            v = centers[i % 200] + 0.6 * nrng.normal(size=dim).astype(np.float32)
            v /= np.linalg.norm(v)
            batch.append(
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
            if len(batch) == 5000:
                backend.upsert(batch)
                batch = []
        backend.upsert(batch)
        build = time.perf_counter() - t
        qs = []
        for _ in range(queries):
            v = centers[rng.randrange(200)] + 0.6 * nrng.normal(size=dim).astype(np.float32)
            qs.append((synthetic_text(rng, rng.randint(3, 9)), v / np.linalg.norm(v)))
        # The writer builds the HNSW graph (above the threshold), never a search.
        t = time.perf_counter()
        backend.maintain(wait=True)
        graph = time.perf_counter() - t
        t = time.perf_counter()
        backend.search(SearchRequest(text=qs[0][0], vector=qs[0][1], k=10))
        first = time.perf_counter() - t
        store = backend.version.vectors
        runs = [
            ("hybrid", settings.ann_threshold),
            ("lexical", settings.ann_threshold),
            ("dense", settings.ann_threshold),
        ]
        if size >= settings.ann_threshold:  # the exact scan too, to show what HNSW buys
            runs += [("dense", 10**12), ("hybrid", 10**12)]
        for mode, threshold in runs:
            store.ann_threshold = threshold
            lat = []
            for text, vec in qs:
                t = time.perf_counter()
                backend.search(SearchRequest(text=text, vector=vec, k=10, mode=mode))
                lat.append((time.perf_counter() - t) * 1000)
            results.append(
                {
                    "docs": size,
                    "mode": mode,
                    "dense": "faiss-hnsw" if size >= threshold else "exact",
                    "p50_ms": round(float(np.percentile(lat, 50)), 2),
                    "p99_ms": round(float(np.percentile(lat, 99)), 2),
                    "index_s": round(build, 1),
                    "graph_s": round(graph, 2),
                    "first_search_s": round(first, 2),
                    "rss_mb": round(rss_mb()),
                }
            )
        backend.close()
    return results


def bench_query_encoding(n: int = 200) -> dict:
    """One short query at a time: through ONNX Runtime (the default) and through torch."""
    out = {}
    for label, onnx in (("", True), ("torch_", False)):
        enc = get_encoder(onnx=onnx)
        enc.encode(["warm up"])
        rng = random.Random(3)
        lat = []
        for _ in range(n):
            q = synthetic_text(rng, rng.randint(4, 12))
            t = time.perf_counter()
            enc.encode([q])
            lat.append((time.perf_counter() - t) * 1000)
        out[f"{label}p50_ms"] = round(float(np.percentile(lat, 50)), 2)
        out[f"{label}p99_ms"] = round(float(np.percentile(lat, 99)), 2)
    return out


def bench_triage(n: int = 200, onnx: bool = True) -> dict:
    """One request triaged end to end (encoding, 6 models, rules, 2 searches), demo data;
    ``onnx=False``: the request encoded through torch instead of ONNX Runtime."""
    from indexer.service import Firstline
    from triage.service import Triager, request_text

    demo = ROOT / "demo"
    rows = [json.loads(line) for line in (demo / "tickets.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), model={"onnx": onnx})
        svc = Firstline(settings)
        svc.ingest_file(demo / "articles.jsonl", kind="article", source="demo")
        svc.ingest_file(demo / "tickets.jsonl", kind="ticket", source="demo")
        triager = Triager(settings, svc)
        t = time.perf_counter()
        triager.train()
        train_s = time.perf_counter() - t
        rng = random.Random(5)
        lat, enc, rest = [], [], []
        for _ in range(n):
            r = rng.choice(rows)
            words = r["description"].split()
            rng.shuffle(words)
            req = {"title": r["title"], "description": " ".join(words[: rng.randint(8, 40)])}
            t = time.perf_counter()
            triager.predict([req], suggestions=3, record=False)
            lat.append((time.perf_counter() - t) * 1000)
            # the same request's encoding alone, measured right after: the machine's speed
            # (shared, 2 cores) varies over minutes, the split between the two much less
            t = time.perf_counter()
            triager.embed([request_text(req["title"], req["description"])])
            enc.append((time.perf_counter() - t) * 1000)
            rest.append(lat[-1] - enc[-1])
        svc.close()

    def pct(v: list[float], q: int) -> float:
        return round(float(np.percentile(v, q)), 2)

    return {
        "requests": n,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "encoding_p50_ms": pct(enc, 50),
        "encoding_p99_ms": pct(enc, 99),
        "excluding_encoding_p50_ms": pct(rest, 50),
        "excluding_encoding_p99_ms": pct(rest, 99),
        "train_demo_s": round(train_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["ingest", "search", "encode", "triage"], action="append")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--ingest-rows", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = ap.parse_args()
    only = set(args.only or ["ingest", "search", "encode", "triage"])
    # Parts not run this time keep their last results.
    report: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["machine"] = (
        f"{platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    if "ingest" in only:
        report["ingest"] = bench_ingest(args.ingest_rows)
        print("ingest", report["ingest"], flush=True)
    if "encode" in only:
        report["query_encoding"] = bench_query_encoding()
        print("query encoding", report["query_encoding"], flush=True)
    if "triage" in only:
        report["triage"] = bench_triage()
        print("triage", report["triage"], flush=True)
        report["triage_torch_encoder"] = bench_triage(onnx=False)
        print("triage, torch encoder", report["triage_torch_encoder"], flush=True)
    if "search" in only:
        report["search"] = []
        for size in (int(s) for s in args.sizes.split(",")):
            rows = bench_search(size, args.queries)
            report["search"] += rows
            for r in rows:
                print("search", r, flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("\n| docs | mode | dense search | p50 ms | p99 ms | RSS MB |\n|---|---|---|---|---|---|")
    for r in report.get("search", []):
        print(
            f"| {r['docs']:,} | {r['mode']} | {r['dense']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['rss_mb']} |"
        )


if __name__ == "__main__":
    main()
