"""Decisions from the signals an agent reads (:mod:`triage.signals`), each with its reason.

A rule either states what the request *says* (explicit: "'about 15 people' → a team or
department", "'in 20 minutes' → needed within hours", "asks to change a process: a change")
or gives the *default* an agent applies when the request says nothing (one requester → low
impact; a question with no deadline → low urgency).  The triage service lets explicit rules
override the model and uses defaults where the model is unsure; the output names every rule
that decided (``decided_by: rule:<name>``) with its reason and the signals behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from triage.signals import (
    MAX_CHARS,
    Reading,
    Signal,
    decide_impact,
    decide_urgency,
    describe,
    read_request,
)

_QUESTION = re.compile(
    r"^\s*(?:how (?:do|can|to|should|does)|where (?:do|can|is|are|should)|what (?:is|are|does)|"
    r"is (?:it|there) (?:possible|a way)|can i|could i|am i allowed|are we allowed|"
    r"do we have|does anyone know|who (?:do|can|should))\b"
)


@dataclass(frozen=True)
class RuleHit:
    target: str
    value: str
    rule: str
    reason: str
    explicit: bool = True
    signals: list[dict[str, Any]] = field(default_factory=list)


def _hit(target: str, s: Signal, reading: Reading) -> RuleHit:
    name = s.kind if s.explicit else "default"
    if s.target == "type":
        name = {"change": "change_request"}.get(s.kind, s.kind)
    if s.kind == "scope" and s.text.endswith("users affected"):
        name = "users_field"
    return RuleHit(target, s.level, name, s.reason(), s.explicit, describe(reading.of(target)))


def type_rule(request: dict[str, Any], reading: Reading | None = None) -> RuleHit | None:
    """A change asked for in the request, or a title that asks how/where/what."""
    reading = reading or read_request(request)
    cues = {s.kind: s for s in reversed(reading.of("type"))}
    for kind in ("change", "improvement"):
        if kind in cues:
            return _hit("type", cues[kind], reading)
    title = (request.get("title") or "")[:MAX_CHARS].lower()
    m = _QUESTION.search(title)
    if m:
        return RuleHit("type", "question", "question", f"{m.group(0).strip()!r} → a question")
    # softer cues: they decide where the model is unsure
    for kind in ("question", "service"):
        if kind in cues:
            h = _hit("type", cues[kind], reading)
            return RuleHit(h.target, h.value, h.rule, h.reason, False, h.signals)
    return None


def level_rules(reading: Reading, kind: str | None) -> list[RuleHit]:
    """Impact and urgency from the request's signals, for a request of type ``kind``."""
    hits = []
    for target, s in (
        ("impact", decide_impact(reading, kind)),
        ("urgency", decide_urgency(reading, kind)),
    ):
        if s.level:
            hits.append(_hit(target, s, reading))
    return hits


def apply_rules(request: dict[str, Any], kind: str | None = None) -> list[RuleHit]:
    """Every rule that fires for this request (title, description and optional fields), with
    ``kind`` the request's type when known (a change rule found here takes precedence)."""
    reading = read_request(request)
    hits: list[RuleHit] = []
    t = type_rule(request, reading)
    if t is not None:
        hits.append(t)
        kind = t.value
    return hits + level_rules(reading, kind)
