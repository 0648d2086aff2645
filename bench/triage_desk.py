"""Intake triage on realistic desk requests: how often it decides, and how often it is right.

    python bench/triage_desk.py bench/desk_requests_dev.jsonl [more.jsonl ...]
    python bench/triage_desk.py --cold demo/tickets.jsonl      # cold start: no training

Trains the triage models on the demo history (``demo/``) through the production path
(``Triager.train``) in a data directory of its own (``--data-dir``, reused when it already holds
a trained model), then triages each request (title and description only: no VIP flag, no
users box) and prints, per field, the share decided (coverage) and the share right when decided;
for priority also within one level, and how often a provisional range holds the true priority.
``--cold``: a fresh install with the KB articles only and no trained model (rules and
zero-shot signals), triaging the given file.  ``--errors`` lists the wrong decisions with the
reason the card gave.  ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from indexer.service import Firstline  # noqa: E402
from triage.service import Triager  # noqa: E402

DEMO = ROOT / "demo"
FIELDS = ("type", "impact", "urgency", "tier")


def environment(data_dir: Path, cold: bool) -> Triager:
    settings = Settings(data_dir=data_dir)
    service = Firstline(settings)
    triager = Triager(settings, service)
    if not any(service.counts().values()):
        service.ingest_file(DEMO / "articles.jsonl", kind="article")
        if not cold:
            service.ingest_file(DEMO / "tickets.jsonl", kind="ticket")
    if not cold and triager.store.active_version("triage") is None:
        triager.train()
    return triager


def load(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for p in paths:
        for line in p.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _rank(p: str | None) -> int | None:
    return int(p[1:]) if p and p[1:].isdigit() else None


def evaluate(triager: Triager, rows: list[dict[str, Any]]) -> dict[str, Any]:
    requests = [{"title": r.get("title"), "description": r.get("description")} for r in rows]
    results = triager.predict(requests, record=False)
    out: dict[str, Any] = {"n": len(rows)}
    errors = []
    for target in FIELDS:
        given = right = 0
        by = Counter()
        for r, res in zip(rows, results, strict=True):
            truth = r.get(target) or (r.get("extra") or {}).get(target)
            f = res["fields"][target]
            if f["value"] is None:
                continue
            given += 1
            by[f["decided_by"].split(":")[0] if ":" in f["decided_by"] else f["decided_by"]] += 1
            if f["value"] == truth:
                right += 1
            else:
                errors.append(
                    (r.get("id"), target, truth, f["value"], f["decided_by"], f.get("rule", ""))
                )
        out[target] = {
            "coverage": round(given / len(rows), 3),
            "right_when_given": round(right / given, 3) if given else None,
            "decided_by": dict(by),
        }
    given = exact = near = prov = prov_holds = 0
    for r, res in zip(rows, results, strict=True):
        truth = r.get("priority")
        if res.get("priority"):
            given += 1
            exact += res["priority"] == truth
            a, b = _rank(res["priority"]), _rank(truth)
            near += a is not None and b is not None and abs(a - b) <= 1
            if res["priority"] != truth:
                errors.append((r.get("id"), "priority", truth, res["priority"], "", ""))
        elif res.get("provisional"):
            prov += 1
            prov_holds += truth in res["provisional"]["priorities"]
    out["priority"] = {
        "coverage": round(given / len(rows), 3),
        "exact_when_given": round(exact / given, 3) if given else None,
        "within_one_when_given": round(near / given, 3) if given else None,
        "provisional": prov,
        "provisional_holds_truth": prov_holds,
    }
    out["errors"] = errors
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--cold", action="store_true", help="no training: rules and zero-shot")
    ap.add_argument("--errors", action="store_true", help="list the wrong decisions")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="triage-desk-"))
    triager = environment(data_dir, args.cold)
    result = evaluate(triager, load(args.files))
    errors = result.pop("errors")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['n']} requests ({'cold start' if args.cold else 'trained on demo/'})")
        for target in FIELDS:
            f = result[target]
            right = f["right_when_given"]
            print(
                f"  {target:<9} given {f['coverage']:.0%}, right when given "
                f"{'-' if right is None else format(right, '.0%')}  {f['decided_by']}"
            )
        p = result["priority"]
        print(
            f"  priority  given {p['coverage']:.0%}, exact when given "
            f"{p['exact_when_given'] or 0:.0%}, within one {p['within_one_when_given'] or 0:.0%};"
            f" provisional {p['provisional']} (truth in range: {p['provisional_holds_truth']})"
        )
    if args.errors:
        for e in errors:
            print("  ✗", " | ".join(str(x) for x in e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
