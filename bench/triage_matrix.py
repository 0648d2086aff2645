"""Check the priority matrix against real incidents (ServiceNow event log, ../shared/data).

    python bench/triage_matrix.py ../shared/data/incident_event_log/events.csv.gz

Takes each incident's last recorded impact, urgency and priority, learns the matrix the desk
actually used (most frequent priority per cell) and reports how often (a) the learned matrix and
(b) the standard 3×3 ITIL matrix configured for a 4-priority desk reproduce the recorded
priority.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.matrix import PriorityMatrix, learn_matrix  # noqa: E402

LEVEL = {"1 - High": "high", "2 - Medium": "medium", "3 - Low": "low"}
PRIO = {"1 - Critical": "P1", "2 - High": "P2", "3 - Moderate": "P3", "4 - Low": "P4"}
# The common ITIL 3×3 matrix, configured for a desk with four priorities (P5 folded into P4).
ITIL_4 = {
    "high": {"high": "P1", "medium": "P2", "low": "P3"},
    "medium": {"high": "P2", "medium": "P3", "low": "P4"},
    "low": {"high": "P3", "medium": "P4", "low": "P4"},
}


def main(path: Path) -> None:
    last: dict[str, tuple[str, str, str]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            i, u, p = LEVEL.get(row["impact"]), LEVEL.get(row["urgency"]), PRIO.get(row["priority"])
            if i and u and p:
                last[row["number"]] = (i, u, p)
    rows = list(last.values())
    itil = PriorityMatrix(cells=ITIL_4, names={p: p for p in ("P1", "P2", "P3", "P4")}, sla={})
    learned = learn_matrix(rows, fallback=itil)
    seen = {(i, u) for i, u, _ in rows}
    report = {
        "incidents": len(rows),
        "learned_matrix": {
            i: dict(learned.cells[i]) for i in ("high", "medium", "low") if i in learned.cells
        },
        "cells_never_seen": sorted(
            f"{i}/{u}"
            for i in ("high", "medium", "low")
            for u in ("high", "medium", "low")
            if (i, u) not in seen
        ),
        "learned_agreement": learned.agreement(rows)["agreement"],
        "itil_3x3_agreement": itil.agreement(rows)["agreement"],
        "itil_3x3_confusion": itil.agreement(rows)["confusion"],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else ROOT.parent / "shared" / "data" / "incident_event_log" / "events.csv.gz"
    )
