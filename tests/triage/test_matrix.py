"""The ITIL priority matrix: the default 3×3, edited matrices, quadrants, SLAs, learning."""

from __future__ import annotations

import pytest

from core.errors import InvalidInputError
from triage.matrix import DEFAULT_CELLS, PriorityMatrix, learn_matrix

# ServiceNow's default: four priorities, low/low folded into P4.
SERVICENOW_CELLS = {
    "high": {"high": "P1", "medium": "P2", "low": "P3"},
    "medium": {"high": "P2", "medium": "P3", "low": "P4"},
    "low": {"high": "P3", "medium": "P4", "low": "P4"},
}


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [
        ("high", "high", "P1"),
        ("high", "medium", "P2"),
        ("medium", "high", "P2"),
        ("high", "low", "P3"),
        ("low", "high", "P3"),
        ("medium", "medium", "P3"),
        ("medium", "low", "P4"),
        ("low", "low", "P5"),
    ],
)
def test_default_itil_matrix(impact: str, urgency: str, priority: str) -> None:
    assert PriorityMatrix().priority(impact, urgency) == priority


def test_default_priority_names() -> None:
    m = PriorityMatrix()
    assert m.names["P1"] == "Critical"
    assert m.names["P5"] == "Planning"


def test_edited_matrix_changes_the_priority() -> None:
    m = PriorityMatrix.from_dict(
        {"cells": SERVICENOW_CELLS, "names": {"P1": "1 - Critical", "P4": "4 - Low"}}
    )
    assert m.priority("low", "low") == "P4"  # P5 in the default matrix
    assert m.priority("high", "high") == "P1"
    assert m.names["P4"] == "4 - Low"


def test_matrix_with_custom_levels() -> None:
    levels = ["minor", "moderate", "significant", "extensive"]
    cells = {
        i: {u: f"P{max(1, 5 - a - b)}" for b, u in enumerate(levels)} for a, i in enumerate(levels)
    }
    m = PriorityMatrix.from_dict(
        {"impact_levels": levels, "urgency_levels": levels, "cells": cells, "sla": {"P1": [10, 60]}}
    )
    assert m.priority("extensive", "extensive") == "P1"
    assert m.priority("minor", "minor") == "P5"
    assert m.priority("minor", "significant") == "P3"
    assert m.sla_for("P1").resolve_minutes == 60
    assert m.sla_for("P5") is None  # only P1 has a target in this file
    # the upper half of a 4-level scale counts as high in the 2×2 view
    assert m.quadrant("significant", "extensive").startswith("Q1")
    assert m.quadrant("moderate", "moderate").startswith("Q4")
    with pytest.raises(InvalidInputError, match="unknown impact 'high'"):
        m.priority("high", "minor")


def test_missing_cell_is_rejected() -> None:
    cells = {i: dict(row) for i, row in DEFAULT_CELLS.items()}
    del cells["medium"]["low"]
    with pytest.raises(InvalidInputError, match="no cell for impact 'medium', urgency 'low'"):
        PriorityMatrix.from_dict({"cells": cells})


def test_missing_row_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="no row for impact 'low'"):
        PriorityMatrix.from_dict(
            {"cells": {"high": DEFAULT_CELLS["high"], "medium": DEFAULT_CELLS["medium"]}}
        )


@pytest.mark.parametrize(
    "data",
    [
        {"cells": "P1 everywhere"},
        {"sla": {"P1": 15}},
        {"sla": ["P1", 15]},
    ],
)
def test_malformed_matrix_is_invalid_input(data: dict) -> None:
    with pytest.raises(InvalidInputError, match="priority matrix"):
        PriorityMatrix.from_dict(data)


@pytest.mark.parametrize(
    ("impact", "urgency", "words"),
    [("critical", "high", "unknown impact 'critical'"), ("high", "asap", "unknown urgency")],
)
def test_unknown_level_is_invalid_input(impact: str, urgency: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        PriorityMatrix().priority(impact, urgency)


def test_quadrant_of_unknown_level_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="unknown impact"):
        PriorityMatrix().quadrant("critical", "high")


@pytest.mark.parametrize(
    ("impact", "urgency", "quadrant"),
    [
        ("high", "high", "Q1 do now (impact high, urgency high)"),
        ("low", "high", "Q2 quick fix (impact low, urgency high)"),
        ("medium", "high", "Q2 quick fix (impact medium, urgency high)"),
        ("high", "low", "Q3 plan (impact high, urgency low)"),
        ("high", "medium", "Q3 plan (impact high, urgency medium)"),
        ("low", "low", "Q4 queue (impact low, urgency low)"),
        ("medium", "medium", "Q4 queue (impact medium, urgency medium)"),
    ],
)
def test_quadrants(impact: str, urgency: str, quadrant: str) -> None:
    assert PriorityMatrix().quadrant(impact, urgency) == quadrant


def test_sla_per_priority() -> None:
    m = PriorityMatrix()
    p1, p3, p5 = m.sla_for("P1"), m.sla_for("P3"), m.sla_for("P5")
    assert (p1.respond_minutes, p1.resolve_minutes) == (15, 240)
    assert (p3.respond_minutes, p3.resolve_minutes) == (240, 3 * 24 * 60)
    assert p5.resolve_minutes == 10 * 24 * 60
    # a more urgent priority never has a looser target
    targets = [m.sla_for(f"P{n}") for n in range(1, 6)]
    for a, b in zip(targets, targets[1:], strict=False):
        assert a.respond_minutes <= b.respond_minutes
        assert a.resolve_minutes <= b.resolve_minutes
    assert m.sla_for("P9") is None


def test_sla_from_dict_lists() -> None:
    m = PriorityMatrix.from_dict({"sla": {"P1": [5, 60]}})
    assert m.sla_for("P1").respond_minutes == 5
    assert m.sla_for("P2") is None


def test_learn_matrix_takes_each_cells_most_frequent_priority() -> None:
    rows = [
        ("high", "high", "P1"),
        ("high", "high", "P1"),
        ("high", "high", "P2"),
        ("high", "low", "P3"),
        ("low", "high", "P3"),
        ("low", "low", "P4"),
        ("low", "low", "P4"),
        ("low", "low", "P5"),
    ]
    m = learn_matrix(rows)
    assert m.priority("high", "high") == "P1"
    assert m.priority("low", "low") == "P4"
    assert m.priority("high", "low") == "P3"
    # levels keep their natural order, so the 2×2 view stays right
    assert m.impact_levels == ("low", "high")
    assert m.quadrant("high", "high").startswith("Q1")
    assert m.quadrant("low", "low").startswith("Q4")
    result = m.agreement(rows)
    assert result["n"] == 8
    assert result["agreement"] == pytest.approx(6 / 8)
    assert result["confusion"]["P2"] == {"P1": 1}
    assert result["confusion"]["P5"] == {"P4": 1}


def test_learn_matrix_fills_unseen_cells_from_the_fallback() -> None:
    rows = [("high", "high", "P1"), ("low", "low", "P4"), ("medium", "medium", "P3")]
    m = learn_matrix(rows, fallback=PriorityMatrix())
    assert m.priority("high", "low") == "P3"  # never seen: the ITIL cell
    assert m.priority("low", "low") == "P4"  # seen: what the desk did


def test_learn_matrix_of_nothing_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        learn_matrix([])


def test_agreement_of_the_default_matrix() -> None:
    rows = [("high", "high", "P1"), ("low", "low", "P4"), ("medium", "low", "P4")]
    result = PriorityMatrix().agreement(rows)
    assert result["agreement"] == round(2 / 3, 4)
    assert result["confusion"]["P4"] == {"P5": 1, "P4": 1}
    assert PriorityMatrix().agreement([])["agreement"] is None
