"""Stratified 80/20 train/test splits of the labelled dev files, for `firstline eval triage`.

    python bench/make_triage_splits.py ../shared/data OUT_DIR

Writes OUT_DIR/<name>_train.csv and <name>_test.csv (never into the repository).  The
``endava_urgency`` and ``endava_impact`` rows are limited to ticket_type 0 (incidents), the only
rows whose urgency and impact vary; ``endava_all_*`` keep every ticket type, as the published
baselines do.
"""

from __future__ import annotations

import csv
import gzip
import random
import sys
from collections import defaultdict
from pathlib import Path

SETS = {
    "topic_groups": ("topic_groups/tickets.csv.gz", "Topic_group", None),
    "itsm_assignment": ("itsm_assignment/tickets.csv.gz", "Assignment group", None),
    "endava_urgency": ("endava_priority/tickets.csv.gz", "urgency", ("ticket_type", "0")),
    "endava_impact": ("endava_priority/tickets.csv.gz", "impact", ("ticket_type", "0")),
    "endava_all_urgency": ("endava_priority/tickets.csv.gz", "urgency", None),
    "endava_all_impact": ("endava_priority/tickets.csv.gz", "impact", None),
}


def split(rows: list[dict], label: str, seed: int = 0) -> tuple[list[dict], list[dict]]:
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r[label]].append(r)
    rng = random.Random(seed)
    train, test = [], []
    for _, group in sorted(by.items()):
        rng.shuffle(group)
        cut = int(round(len(group) * 0.2))
        if len(group) >= 2 and cut == 0:
            cut = 1
        test += group[:cut]
        train += group[cut:]
    return train, test


def main(data: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, (rel, label, only) in SETS.items():
        with gzip.open(data / rel, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            rows = [r for r in reader if not only or r[only[0]] == only[1]]
        train, test = split(rows, label)
        for part, part_rows in (("train", train), ("test", test)):
            with open(out / f"{name}_{part}.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=fields)
                w.writeheader()
                w.writerows(part_rows)
        print(f"{name}: {len(train)} train, {len(test)} test")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_triage_splits.py SHARED_DATA_DIR OUT_DIR")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
