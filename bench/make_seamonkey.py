"""Build retrieval DOCS and QUERIES files from the SeaMonkey duplicate-bug data.

    python bench/make_seamonkey.py ../shared/data/gitbugs_seamonkey OUT_DIR

Protocol (it reproduces the published BM25 Recall@10 of 0.78 on these files):
every bug in bugs.csv is a document (title = Summary, body = Description).  Each duplicate link
whose two bugs are both in bugs.csv is taken once per unordered pair (the file lists most pairs
in both directions): the newer bug (higher id) is the query (Summary + newline + Description),
the older one is relevant, and the query bug itself is excluded from its own ranking.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def build(src: Path, out: Path) -> tuple[int, int]:
    with open(src / "bugs.csv", newline="", encoding="utf-8") as fh:
        bugs = {r["Issue id"].strip(): r for r in csv.DictReader(fh)}
    pairs: set[tuple[str, str]] = set()
    with open(src / "duplicates.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            a = r["Issue id"].strip()
            for b in (x.strip() for x in r["Duplicate id"].split(",")):
                if b and a in bugs and b in bugs and a != b:
                    pairs.add((min(a, b, key=int), max(a, b, key=int)))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "docs.jsonl", "w", encoding="utf-8") as fh:
        for bug_id, r in bugs.items():
            fh.write(
                json.dumps({"id": bug_id, "title": r["Summary"], "body": r["Description"]}) + "\n"
            )
    with open(out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for old, new in sorted(pairs, key=lambda p: int(p[1])):
            q = bugs[new]
            fh.write(
                json.dumps(
                    {
                        "query": f"{q['Summary']}\n{q['Description']}",
                        "relevant": [old],
                        "exclude": [new],
                    }
                )
                + "\n"
            )
    return len(bugs), len(pairs)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_seamonkey.py SRC_DIR OUT_DIR")
    docs, queries = build(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{docs} documents, {queries} queries -> {sys.argv[2]}")
