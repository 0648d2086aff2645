"""Check labelled desk-request sets (bench/desk_requests_*.jsonl) against docs/triage-labelling.md.

    python bench/check_desk_requests.py bench/desk_requests_*.jsonl

Every line must be one JSON object with exactly the fields below, non-empty strings, values from the
allowed sets, a priority equal to the ITIL matrix of impact x urgency, and an id unique across all
the files given. Prints one line per problem and exits 1 if there is any; otherwise prints a
summary per file and exits 0. Standard library only.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

FIELDS = ("id", "title", "description", "type", "impact", "urgency", "priority", "tier", "why")
ALLOWED = {
    "type": {"incident", "question", "service_request", "improvement", "change"},
    "impact": {"high", "medium", "low"},
    "urgency": {"high", "medium", "low"},
    "priority": {"P1", "P2", "P3", "P4", "P5"},
    "tier": {"first_line", "second_line"},
}
MATRIX = {
    ("high", "high"): "P1",
    ("high", "medium"): "P2",
    ("high", "low"): "P3",
    ("medium", "high"): "P2",
    ("medium", "medium"): "P3",
    ("medium", "low"): "P4",
    ("low", "high"): "P3",
    ("low", "medium"): "P4",
    ("low", "low"): "P5",
}


def check(paths: list[str]) -> tuple[list[str], dict[str, list[dict]]]:
    problems: list[str] = []
    rows_by_file: dict[str, list[dict]] = {}
    seen: dict[str, str] = {}
    for path in paths:
        rows: list[dict] = []
        rows_by_file[path] = rows
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        for n, line in enumerate(lines, 1):
            where = f"{path}:{n}"
            if not line.strip():
                problems.append(f"{where}: empty line")
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: not JSON: {exc}")
                continue
            if not isinstance(row, dict):
                problems.append(f"{where}: not a JSON object")
                continue
            missing = [f for f in FIELDS if f not in row]
            extra = sorted(set(row) - set(FIELDS))
            if missing:
                problems.append(f"{where}: missing field(s) {', '.join(missing)}")
            if extra:
                problems.append(f"{where}: unexpected field(s) {', '.join(extra)}")
            for f in FIELDS:
                if f in row and (not isinstance(row[f], str) or not row[f].strip()):
                    problems.append(f"{where}: field {f} must be a non-empty string")
            for f, allowed in ALLOWED.items():
                v = row.get(f)
                if isinstance(v, str) and v.strip() and v not in allowed:
                    problems.append(f"{where}: {f}={v!r} not in {sorted(allowed)}")
            imp, urg, pri = row.get("impact"), row.get("urgency"), row.get("priority")
            want = MATRIX.get((imp, urg))
            if want and pri in ALLOWED["priority"] and pri != want:
                problems.append(
                    f"{where}: priority {pri} but impact {imp} x urgency {urg} is {want}"
                )
            rid = row.get("id")
            if isinstance(rid, str) and rid.strip():
                if rid in seen:
                    problems.append(f"{where}: id {rid} already used at {seen[rid]}")
                else:
                    seen[rid] = where
            rows.append(row)
    return problems, rows_by_file


def summary(path: str, rows: list[dict]) -> str:
    out = [f"{path}: {len(rows)} requests"]
    for f in ("type", "impact", "urgency", "priority", "tier"):
        c = Counter(r.get(f) for r in rows)
        out.append(
            f"  {f}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0])))
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python bench/check_desk_requests.py FILE...", file=sys.stderr)
        return 2
    problems, rows_by_file = check(argv)
    if problems:
        for p in problems:
            print(p)
        return 1
    for path, rows in rows_by_file.items():
        print(summary(path, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
