"""ITIL priority from impact × urgency, the console's quadrant view, and SLA targets.

The matrix is data, not code: levels and cells come from settings (or a JSON file), so a desk
that uses 4 priorities (like ServiceNow's default) or 5 (ITIL's P1-P5) configures it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInputError

LEVELS = ("low", "medium", "high")

# The common 3×3 ITIL matrix: rows impact, columns urgency.
DEFAULT_CELLS: dict[str, dict[str, str]] = {
    "high": {"high": "P1", "medium": "P2", "low": "P3"},
    "medium": {"high": "P2", "medium": "P3", "low": "P4"},
    "low": {"high": "P3", "medium": "P4", "low": "P5"},
}
DEFAULT_NAMES = {"P1": "Critical", "P2": "High", "P3": "Moderate", "P4": "Low", "P5": "Planning"}
# SLA targets in minutes: (respond, resolve).
DEFAULT_SLA = {
    "P1": (15, 4 * 60),
    "P2": (30, 8 * 60),
    "P3": (4 * 60, 3 * 24 * 60),
    "P4": (8 * 60, 5 * 24 * 60),
    "P5": (24 * 60, 10 * 24 * 60),
}


@dataclass(frozen=True)
class Sla:
    respond_minutes: int
    resolve_minutes: int


@dataclass
class PriorityMatrix:
    impact_levels: tuple[str, ...] = LEVELS
    urgency_levels: tuple[str, ...] = LEVELS
    cells: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: DEFAULT_CELLS)
    names: Mapping[str, str] = field(default_factory=lambda: DEFAULT_NAMES)
    sla: Mapping[str, tuple[int, int]] = field(default_factory=lambda: DEFAULT_SLA)

    def __post_init__(self) -> None:
        for i in self.impact_levels:
            row = self.cells.get(i)
            if row is None:
                raise InvalidInputError(f"priority matrix: no row for impact {i!r}")
            for u in self.urgency_levels:
                if u not in row:
                    raise InvalidInputError(
                        f"priority matrix: no cell for impact {i!r}, urgency {u!r}"
                    )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriorityMatrix:
        try:
            return cls(
                impact_levels=tuple(data.get("impact_levels", LEVELS)),
                urgency_levels=tuple(data.get("urgency_levels", LEVELS)),
                cells=data.get("cells", DEFAULT_CELLS),
                names=data.get("names", DEFAULT_NAMES),
                sla={k: tuple(v) for k, v in data.get("sla", DEFAULT_SLA).items()},  # type: ignore[misc]
            )
        except (TypeError, AttributeError) as e:
            raise InvalidInputError(f"priority matrix: malformed ({e})") from e

    def priority(self, impact: str, urgency: str) -> str:
        if impact not in self.impact_levels:
            raise InvalidInputError(
                f"unknown impact {impact!r}; levels: {', '.join(self.impact_levels)}"
            )
        if urgency not in self.urgency_levels:
            raise InvalidInputError(
                f"unknown urgency {urgency!r}; levels: {', '.join(self.urgency_levels)}"
            )
        return self.cells[impact][urgency]

    def quadrant(self, impact: str, urgency: str) -> str:
        """2×2 view for the console: the upper half of each scale counts as high (of three
        levels, only the top one); the label names the levels as they are."""
        self.priority(impact, urgency)  # an unknown level is the caller's error, said clearly
        hi_i = self.impact_levels.index(impact) >= len(self.impact_levels) / 2
        hi_u = self.urgency_levels.index(urgency) >= len(self.urgency_levels) / 2
        name = {
            (True, True): "Q1 do now",
            (False, True): "Q2 quick fix",
            (True, False): "Q3 plan",
            (False, False): "Q4 queue",
        }[(hi_i, hi_u)]
        # the levels themselves, so that the card never says "low impact" beside impact medium
        return f"{name} (impact {impact}, urgency {urgency})"

    def ordered(self, priorities: Iterable[str]) -> list[str]:
        """Priorities from the most to the least pressing: by the highest impact + urgency
        that gives each on the matrix (then by name)."""
        weight: dict[str, int] = {}
        for i_idx, i in enumerate(self.impact_levels):
            for u_idx, u in enumerate(self.urgency_levels):
                p = self.cells[i][u]
                weight[p] = max(weight.get(p, -1), i_idx + u_idx)
        return sorted(set(priorities), key=lambda p: (-weight.get(p, -1), p))

    def sla_for(self, priority: str) -> Sla | None:
        target = self.sla.get(priority)
        return Sla(*target) if target else None

    def agreement(self, rows: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
        """How often this matrix gives the recorded priority; rows: (impact, urgency, priority)."""
        n = hits = 0
        confusion: dict[str, dict[str, int]] = {}
        for impact, urgency, recorded in rows:
            got = self.priority(impact, urgency)
            n += 1
            hits += got == recorded
            confusion.setdefault(recorded, {}).setdefault(got, 0)
            confusion[recorded][got] += 1
        return {"n": n, "agreement": round(hits / n, 4) if n else None, "confusion": confusion}


def _ordered(levels: list[str]) -> tuple[str, ...]:
    if set(levels) <= set(LEVELS):
        return tuple(v for v in LEVELS if v in levels)
    return tuple(sorted(levels))


def learn_matrix(
    rows: Iterable[tuple[str, str, str]], fallback: PriorityMatrix | None = None
) -> PriorityMatrix:
    """The matrix a desk actually uses: each cell's most frequent recorded priority.  Cells
    never seen take ``fallback``'s value (default: the most frequent priority overall)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    overall: dict[str, int] = {}
    for impact, urgency, prio in rows:
        counts.setdefault((impact, urgency), {}).setdefault(prio, 0)
        counts[(impact, urgency)][prio] += 1
        overall[prio] = overall.get(prio, 0) + 1
    if not counts:
        raise InvalidInputError("no rows to learn a priority matrix from")
    impacts = _ordered(sorted({i for i, _ in counts}))
    urgencies = _ordered(sorted({u for _, u in counts}))
    commonest = max(overall, key=lambda p: overall[p])
    cells: dict[str, dict[str, str]] = {}
    for i in impacts:
        for u in urgencies:
            c = counts.get((i, u))
            if c:
                cells.setdefault(i, {})[u] = max(c, key=lambda p: c[p])
            elif fallback is not None and i in fallback.cells and u in fallback.cells[i]:
                cells.setdefault(i, {})[u] = fallback.cells[i][u]
            else:
                cells.setdefault(i, {})[u] = commonest
    priorities = sorted({p for row in cells.values() for p in row.values()})
    return PriorityMatrix(
        impact_levels=impacts,
        urgency_levels=urgencies,
        cells=cells,
        names={p: p for p in priorities},
        sla={},
    )
