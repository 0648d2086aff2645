"""Encode once, faster: ingestion's documents/s and triage training's time, before and after,
with the raw sentence-transformers encoder beside them in the same run.

    python bench/encode_speed.py ../shared/data --rows 2000 --baseline /tmp/firstline-base

``--baseline`` is a checkout of the code to compare with (for example ``git worktree add
/tmp/firstline-base <commit>``); it runs with this checkout's Python environment.  Each
measurement runs in a process of its own, on its own fresh data directory, in rounds that
alternate the contenders and their order (the machine may be shared: compare within a round);
each prints wall-clock seconds and the CPU seconds of its process (all threads), the steadier
measure of the work done when other jobs share the cores.  The tickets are
the first ``--rows`` of ``itsm_assignment/tickets.csv.gz`` (real incidents: short description,
description, caller, assignment group); nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_tickets(data: Path, rows: int, out: Path) -> int:
    with gzip.open(data / "itsm_assignment" / "tickets.csv.gz", "rt", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        taken = [r for _, r in zip(range(rows), reader, strict=False)]
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(taken[0].keys()))
        w.writeheader()
        w.writerows(taken)
    return len(taken)


def _cpu() -> float:
    """CPU seconds of this process, all its threads: the work done, whatever else ran."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(tree: str, csv_path: str, what: str) -> dict:
    """Runs in its own process with ``tree`` first on sys.path: one measurement."""
    sys.path.insert(0, tree)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.settings import Settings
    from indexer.documents import embedding_inputs
    from indexer.service import Firstline
    from kb.models import Ticket

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var")
        svc = Firstline(settings)
        svc.warmup()
        svc.encoder.encode(["warm up", "the batch path too"])
        if what == "raw":
            # The peer: sentence-transformers' own encode, one call over every text ingestion
            # encodes (it sorts them all by length), the way its documentation shows.
            with open(csv_path, encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            docs = [
                Ticket(title=r["Short description"], description=r["Description"]) for r in rows
            ]
            texts = [t for d in docs for t in embedding_inputs(d, 128, 96)]
            model = svc.encoder._load()
            t, cpu = time.perf_counter(), _cpu()
            model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
            took, cpu = time.perf_counter() - t, _cpu() - cpu
            svc.close()
            return {"rows": len(rows), "texts": len(texts), "seconds": round(took, 2)} | {
                "cpu_seconds": round(cpu, 2)
            }
        t, cpu = time.perf_counter(), _cpu()
        report = svc.ingest_file(Path(csv_path))
        ingest, cpu = time.perf_counter() - t, _cpu() - cpu
        out = {"rows": report.rows, "added": report.added, "seconds": round(ingest, 2)}
        out["cpu_seconds"] = round(cpu, 2)
        if what == "ingest+train":
            from triage.service import Triager

            t = time.perf_counter()
            result = Triager(settings, svc).train()
            out["train_seconds"] = round(time.perf_counter() - t, 2)
            out["activated"] = result["activated"]
        svc.close()
        return out


def run_child(tree: Path, csv_path: Path, what: str) -> dict:
    cmd = [sys.executable, __file__, "--child", str(tree), str(csv_path), what]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} in {tree} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:5])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the shared data folder (../shared/data)")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    ap.add_argument("--train", action="store_true", help="also time triage training")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    args = ap.parse_args()
    if not (args.data / "itsm_assignment" / "tickets.csv.gz").exists():
        raise SystemExit(f"no itsm_assignment/tickets.csv.gz under {args.data}: nothing to measure")
    what = "ingest+train" if args.train else "ingest"
    trees = {"after": ROOT}
    if args.baseline:
        trees = {"before": args.baseline.resolve(), **trees}
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "tickets.csv"
        n = write_tickets(args.data, args.rows, csv_path)
        print(f"{n} tickets; load average at start {os.getloadavg()}", flush=True)
        for round_no in range(1, args.rounds + 1):
            runs = [("raw sentence-transformers", ROOT, "raw")]
            runs += [(name, tree, what) for name, tree in trees.items()]
            if round_no % 2 == 0:  # alternate the order: load drifts during a run
                runs.reverse()
            for name, tree, kind in runs:
                r = run_child(tree, csv_path, kind) | {"round": round_no, "run": name}
                r["docs_per_s"] = round(n / r["seconds"], 1)
                results.append(r)
                print(json.dumps(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
