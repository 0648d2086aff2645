"""firstline's decision as text for another system: the internal comment written back to a
ticketing system and the acknowledgement mail sent to a caller."""

from __future__ import annotations

from typing import Any

FIELDS = ("type", "impact", "urgency", "category", "assignment_group", "tier")


def marker(ref: str, uid: str = "") -> str:
    """A token in every write-back (the connection's uid and the desk ticket), so a run after
    a crash can see it was already written."""
    return f"[firstline:{uid}:{ref}]" if uid else f"[firstline:{ref}]"


def _field(card: dict[str, Any], name: str) -> str:
    f = (card.get("fields") or {}).get(name) or {}
    if f.get("value") is None:
        return "needs a human"
    conf = f.get("confidence")
    return f"{f['value']}" + (f" ({conf:.0%})" if isinstance(conf, (int, float)) else "")


def priority_line(card: dict[str, Any]) -> str:
    if card.get("priority"):
        name = f" {card['priority_name']}" if card.get("priority_name") else ""
        return f"{card['priority']}{name}"
    prov = card.get("provisional") or {}
    if prov.get("label"):
        return f"{prov['label']} (provisional)"
    return "needs a human"


def triage_comment(card: dict[str, Any], ref: str, uid: str = "") -> str:
    """The internal comment: the decision, the suggested answers, similar solved tickets."""
    lines = [f"firstline triage {marker(ref, uid)}", ""]
    if card.get("untriaged"):
        lines.append(f"Not triaged: {card['untriaged']}")
    else:
        lines.append(f"Priority: {priority_line(card)}")
        if card.get("quadrant"):
            lines.append(f"Quadrant: {card['quadrant']}")
        for name in FIELDS:
            lines.append(f"{name.replace('_', ' ').capitalize()}: {_field(card, name)}")
        if card.get("cold_start"):
            lines.append("(cold start: rules and zero-shot signals, no trained model yet)")
    lines.append("")
    articles = card.get("suggested_articles") or []
    if articles:
        lines.append("Suggested answers:")
        for a in articles[:3]:
            weak = " (weak match)" if a.get("match") == "weak" else ""
            lines.append(f"- {a.get('external_id') or a.get('id')}: {a.get('title')}{weak}")
    else:
        lines.append("No good KB match: capture one when this is solved.")
    tickets = card.get("similar_tickets") or []
    if tickets:
        lines.append("")
        lines.append("Similar resolved tickets:")
        for t in tickets[:3]:
            lines.append(f"- {t.get('external_id') or t.get('id')}: {t.get('title')}")
    return "\n".join(lines) + "\n"


def acknowledgement(card: dict[str, Any], ref: str, title: str) -> tuple[str, str] | None:
    """Subject and body of the mail that acknowledges a request with its best KB answer;
    None when no article is a strong match."""
    articles = [a for a in card.get("suggested_articles") or [] if a.get("match") == "strong"]
    if not articles:
        return None
    best = articles[0]
    body = (
        "Hello,\n\nwe have received your request and it is in our queue as "
        f"{ref}.\n\nThis article may already solve it:\n\n  {best.get('title')}\n\n"
        f"{(best.get('snippet') or '').strip()}\n\nIf it does not help, simply reply to this "
        "mail and an agent will take it from here.\n\n-- \nService desk (firstline)\n"
    )
    return f"[{ref}] Re: {title}", body
