"""What a webhook receiver gets: the events made from the audit log, and the signature.

Every desk move and KB edit commits an audit entry with the change (see ``services/``); an
event is made from that entry, never from the request that caused it, so an event exists if and
only if its change committed (a transactional outbox).

Signature: ``X-Firstline-Signature: sha256=<hex>``, the HMAC-SHA256 with the hook's secret of
``f"{timestamp}.{body}"``, where ``timestamp`` is the ``X-Firstline-Timestamp`` header (Unix
seconds when the request was sent) and ``body`` the raw request body.  A receiver recomputes it
over the bytes it received, compares in constant time and refuses old timestamps (a replayed
request); :func:`verify_signature` does exactly that and can be copied as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from core.time import iso
from kb.models import AuditEntry

EVENTS = (
    "ticket.created",
    "ticket.triaged",
    "ticket.taken",
    "ticket.resolved",
    "ticket.escalated",
    "article.published",
)
ALL = "*"
PING = "ping"  # sent by POST /admin/webhooks/{name}/test only; never filtered out

TRIAGE_FIELDS = ("type", "impact", "urgency", "category", "assignment_group", "tier")

# One audit action -> the events it makes (desk.open: the ticket exists and was triaged).
_MOVES = {
    "desk.start": "ticket.taken",
    "desk.resolve": "ticket.resolved",
    "desk.escalate": "ticket.escalated",
}


def events_of(entry: AuditEntry) -> list[tuple[str, dict[str, Any]]]:
    """The events of one audit entry as (name, payload without the delivery id); none for the
    actions no webhook is told about."""
    after = dict(entry.after or {})
    made: list[tuple[str, dict[str, Any]]] = []
    if entry.action == "desk.open":
        made.append(("ticket.created", {"ticket": after}))
        made.append(("ticket.triaged", {"ticket": _ref(after), "triage": _triage(after)}))
    elif entry.action in _MOVES:
        previous = (entry.before or {}).get("state")
        made.append((_MOVES[entry.action], {"ticket": after, "previous_state": previous}))
    elif entry.action == "kb.published":
        previous = (entry.before or {}).get("status")
        made.append(("article.published", {"article": after, "previous_status": previous}))
    created = iso(entry.created_at)
    return [
        (name, {"event": name, "created_at": created, "data": {**data, "actor": entry.actor}})
        for name, data in made
    ]


def _ref(ticket: dict[str, Any]) -> dict[str, Any]:
    return {k: ticket.get(k) for k in ("id", "ref", "title", "state")}


def _triage(ticket: dict[str, Any]) -> dict[str, Any]:
    """The triage fields of a new ticket.  A field the model was not sure of abstained: it is
    empty and waits for a human (``abstained`` names them)."""
    abstained = [f for f in TRIAGE_FIELDS if ticket.get(f) is None]
    return {
        **{f: ticket.get(f) for f in TRIAGE_FIELDS},
        "priority": ticket.get("priority"),
        "quadrant": ticket.get("quadrant"),
        "provisional": ticket.get("provisional"),
        "abstained": abstained,
        "needs_human": bool(abstained) or ticket.get("priority") is None,
    }


def wanted(events: list[str] | None) -> set[str]:
    """The event names a hook's ``events`` setting selects ("*": all)."""
    chosen = set(events or [])
    return set(EVENTS) if ALL in chosen else chosen & set(EVENTS)


# -- signing --------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Firstline-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes | str,
    header: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """A receiver's check of a firstline webhook request (copy it as it is): the signature
    header matches the raw body and the timestamp header, and the timestamp is at most
    ``tolerance_s`` seconds away from now (an old request replayed by someone is refused)."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), header or "")
