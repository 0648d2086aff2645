"""Explicit signals that override the model where they are certain, and say so.

Each rule looks at the request (text and structured fields) and may fix one target's value
with a reason; the triage output names every rule that decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PLACE = r"(?:floor|building|office|site|company|department|team|warehouse|branch|plant|store)"
_WIDE = re.compile(
    # "whole floor", "the whole 3rd floor", "entire Tilburg office", "nobody on the 2nd floor"
    rf"\b((?:whole|entire) (?:[\w-]+ ){{0,2}}{_PLACE}|all (?:users|staff|employees|"
    r"colleagues|of us)|everyone|every(?:body| user)|nobody (?:can|is able)|"
    rf"(?:nobody|no one|none of us) (?:on|in|at) the (?:[\w-]+ ){{0,2}}{_PLACE}|company[- ]wide|"
    r"site[- ]wide|outage|(?:is|are|went) down for (?:all|everyone))\b",
    re.I,
)
_BLOCKED = re.compile(
    r"\b(cannot work|can't work|can not work|unable to work|(?:is|are) down|outage|"
    r"not able to (?:work|log ?in|login)|blocked|stopped|production (?:is )?(?:down|stopped)|"
    r"losing (?:money|sales|revenue|orders)|customers? cannot (?:pay|order|check ?out)|"
    r"urgent(?:ly)?|asap|immediately)\b",
    re.I,
)
_CHANGE = re.compile(
    r"\b(change request|request for change|rfc|deploy(?:ment)?|roll ?out|go-live|migrat(?:e|ion)|"
    r"upgrade|new (?:process|workflow|procedure)|process change|maintenance window|cab|"
    # "change (to) the warehouse picking process", "change our approval workflow"
    r"change (?:to |of |in )?(?:the |our |a )?(?:[\w-]+ ){0,3}"
    r"(?:process|workflow|procedure|configuration|set-?up))\b",
    re.I,
)
_BROKEN = re.compile(
    r"\b(broke|broken|fail(?:s|ed|ing)?|error|not working|doesn't work|cannot|can't|since)\b",
    re.I,
)
_IMPROVE = re.compile(
    r"\b(suggest(?:ion)?|would be (?:nice|great|helpful)|could we|it would help|improvement|"
    r"idea:|feature request|wish)\b",
    re.I,
)
_QUESTION = re.compile(
    r"^\s*(how (?:do|can|to)|where (?:do|can|is)|what is|is it possible)\b", re.I
)


@dataclass(frozen=True)
class RuleHit:
    target: str
    value: str
    rule: str
    reason: str


def apply_rules(request: dict[str, Any]) -> list[RuleHit]:
    """Rules that fire for this request (title, description and optional fields)."""
    text = f"{request.get('title') or ''}\n{request.get('description') or ''}"
    hits: list[RuleHit] = []
    users = request.get("users_affected")
    wide = _WIDE.search(text)
    if isinstance(users, int) and users >= 50:
        hits.append(
            RuleHit(
                "impact",
                "high",
                "many_users",
                f"{users} users affected (≥ 50): organisation-wide impact",
            )
        )
    elif isinstance(users, int) and users >= 10 and wide:
        hits.append(
            RuleHit(
                "impact",
                "high",
                "many_users_wide",
                f"{users} users affected and the text says {wide.group(0)!r}",
            )
        )
    elif isinstance(users, int) and users >= 10:
        hits.append(
            RuleHit(
                "impact",
                "medium",
                "several_users",
                f"{users} users affected (10-49): a team or department",
            )
        )
    elif isinstance(users, int) and users == 1 and not wide:
        hits.append(RuleHit("impact", "low", "one_user", "one user affected"))
    blocked = _BLOCKED.search(text)
    if request.get("vip"):
        hits.append(
            RuleHit("urgency", "high", "vip", "the caller is flagged VIP: urgency raised to high")
        )
    elif wide and blocked:
        hits.append(
            RuleHit(
                "urgency",
                "high",
                "outage",
                f"{wide.group(0)!r} and {blocked.group(0)!r}: work is blocked now",
            )
        )
    change = _CHANGE.search(text)
    title = (request.get("title") or "").lower()
    if (
        change
        and title.startswith(
            (
                "change ",
                "change:",
                "rfc",
                "request for change",
                "deploy",
                "migrat",
                "upgrade ",
                "roll out",
                "rollout",
            )
        )
        and not _BROKEN.search(title)
    ):
        hits.append(
            RuleHit(
                "type",
                "change",
                "change_title",
                f"the title announces a change ({change.group(0)!r})",
            )
        )
    elif _QUESTION.search(request.get("title") or ""):
        hits.append(RuleHit("type", "question", "question_title", "the title asks how/where/what"))
    return hits


def rule_signals(request: dict[str, Any]) -> dict[str, bool]:
    """Keyword signals as features for the models (not decisions)."""
    text = f"{request.get('title') or ''}\n{request.get('description') or ''}"
    return {
        "wide": bool(_WIDE.search(text)),
        "blocked": bool(_BLOCKED.search(text)),
        "change": bool(_CHANGE.search(text)),
        "improve": bool(_IMPROVE.search(text)),
    }
