"""The desk: take a request, read its triage card, answer it from the knowledge base (or with a
new answer, or escalate), and keep an eye on the open tickets and their SLA."""

from __future__ import annotations

import zlib
from collections import Counter
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from ui.common import (
    OPEN_STATES,
    act,
    article_number,
    call,
    esc,
    flash,
    highlighted,
    priority_label,
    require_sign_in,
    show_flash,
    sla_standing,
    when,
)

FIELDS = {
    "type": "Type",
    "impact": "Impact",
    "urgency": "Urgency",
    "category": "Category",
    "assignment_group": "Assignment group",
    "tier": "Tier",
}
LEVELS = {"impact", "urgency"}  # on the priority matrix: a correction picks one of its levels
CHANNELS = ["", "phone", "email", "portal", "chat", "walk-in"]
QUEUE = "desk_queue:"  # the open-tickets table's key prefix (see _open_tickets)
REFRESH_SECONDS = 60  # the open queue redraws itself: the console stays open all day
SS = st.session_state


# -- actions (button callbacks: they run before the page is drawn again) -----------------------
def _load(ticket_id: int) -> None:
    ticket = act("GET", f"/desk/tickets/{ticket_id}")
    if ticket is not None:
        SS["desk_ticket"] = ticket
        SS["desk_pick"] = ticket["id"]  # "Work on" follows the ticket that is open


def _open_from_list() -> None:
    SS["desk_redraw"] = True  # from the queue: the whole page shows the ticket
    ticket_id = SS.get("desk_pick")
    if ticket_id is not None:
        _load(int(ticket_id))


def _open_row(key: str) -> None:
    """A row of the open-tickets table, or a cell in it, was clicked: open that ticket."""
    SS["desk_redraw"] = True
    selection = SS[key]["selection"]
    rows = list(selection.get("rows") or []) + [c[0] for c in selection.get("cells") or []]
    ids = SS.get("desk_rows", [])
    if rows and rows[0] < len(ids):
        _load(ids[rows[0]])


def _resolve_with(ticket_id: int, article_id: int, label: str) -> None:
    if act("POST", f"/desk/tickets/{ticket_id}/resolve", {"article_id": article_id}):
        flash("success", f"Resolved with {label} — reuse recorded")
        _load(ticket_id)


def _feedback(ticket_id: int, article_id: int, label: str, helpful: bool) -> None:
    body = {"helpful": helpful, "ticket_id": ticket_id}
    if act("POST", f"/kb/articles/{article_id}/feedback", body):
        verdict = "helped" if helpful else "did not help"
        flash("success", f"Feedback recorded: {label} {verdict}")


def _resolve_new(ticket_id: int) -> None:
    text = SS.get(f"new_answer_{ticket_id}", "").strip()
    if not text:
        flash("warning", "Write the answer that solved it first.")
        return
    capture = bool(SS.get(f"capture_{ticket_id}", True))
    out = act(
        "POST", f"/desk/tickets/{ticket_id}/resolve", {"resolution": text, "capture": capture}
    )
    if out is None:
        return
    draft = out.get("draft")
    if draft:
        flash(
            "success",
            f"Resolved with a new answer — captured as draft {draft['external_id']} "
            f"(article {draft['id']}) for an editor to review",
        )
    else:
        flash("success", "Resolved with a new answer (not captured as an article)")
    _load(ticket_id)


def _escalate(ticket_id: int) -> None:
    body = {
        "group": SS.get(f"esc_group_{ticket_id}", "").strip() or None,
        "note": SS.get(f"esc_note_{ticket_id}", "").strip() or None,
    }
    out = act("POST", f"/desk/tickets/{ticket_id}/escalate", body)
    if out is not None:
        flash("success", f"Escalated {out['ref']} to {out.get('escalated_to') or 'second line'}")
        _load(ticket_id)


def _correct(ticket_id: int, before: dict[str, Any]) -> None:
    """Send each field the agent changed in the correction form, in the form's order (a new
    impact or urgency moves the priority: the message says where it ended up)."""
    changed = {
        f: str(SS[f"fix_{f}_{ticket_id}"]).strip()
        for f in FIELDS
        if SS.get(f"fix_{f}_{ticket_id}") not in (None, "")
        and SS[f"fix_{f}_{ticket_id}"] != before.get(f)
    }
    if not changed:
        flash("warning", "Nothing to correct: change a value first.")
        return
    saved, ticket = [], None
    for field, value in changed.items():
        out = act(
            "POST", f"/desk/tickets/{ticket_id}/corrections", {"field": field, "value": value}
        )
        if out is None:
            break  # act queued the API's message; what was saved before stands
        ticket = out["ticket"]
        saved.append(f"{FIELDS[field]} is {ticket.get(field) or value}")
    if ticket is not None:
        extra = ""
        if LEVELS & changed.keys():
            extra = f" — priority now {priority_label(ticket) or 'unset: set impact and urgency'}"
        flash("success", f"Correction saved: {', '.join(saved)}{extra}")
        _load(ticket_id)


def _transition(ticket_id: int, action: str, message: str) -> None:
    if act("POST", f"/desk/tickets/{ticket_id}/{action}") is not None:
        flash("success", message)
        _load(ticket_id)


# -- drawing -----------------------------------------------------------------------------------
def _intake() -> None:
    with st.form("intake", clear_on_submit=True):
        title = st.text_input("Title", placeholder="What the user says is wrong, in a line")
        description = st.text_area("Description", height=100, placeholder="What the user wrote")
        c1, c2, c3, c4, c5 = st.columns([3, 1, 1, 2, 2])
        caller = c1.text_input("Caller")
        vip = c2.checkbox("VIP")
        users = c3.number_input("Users affected", min_value=0, value=0, step=1)
        service = c4.text_input("Service")
        channel = c5.selectbox("Channel", CHANNELS, format_func=lambda c: c or "—")
        submitted = st.form_submit_button("Submit request", type="primary")
    if not submitted:
        return
    if not (title.strip() or description.strip()):
        st.warning("Enter a title or a description first.")
        return
    req = {
        "title": title.strip() or None,
        "description": description.strip() or None,
        "caller": caller.strip() or None,
        "vip": vip,
        "users_affected": int(users) or None,
        "service": service.strip() or None,
        "channel": channel or None,
    }
    with st.spinner("Triaging and finding answers…"):
        out = call("POST", "/desk/tickets", json=req)
    if out is not None:
        SS["desk_ticket"] = {**out["ticket"], "triage": out["triage"]}
        SS["desk_pick"] = out["ticket"]["id"]  # drawn below: "Work on" shows the new ticket
        flash("success", f"Ticket {out['ticket']['ref']} taken and triaged")


def _field_rows(ticket: dict[str, Any], fields: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for key, label in FIELDS.items():
        f = fields.get(key) or {}
        current = ticket.get(key)
        if f and current is not None and current != f.get("value"):
            value, conf, decided = str(current), "", "agent correction"
        elif not f or f.get("abstained"):
            top = ", ".join(f"{v} {p:.0%}" for v, p in f.get("top", [])[:3])
            value = f"needs a human ({top})" if top else "needs a human"
            conf, decided = "", f.get("decided_by", "")
        else:
            value, decided = str(f["value"]), f.get("decided_by", "")
            top = f.get("top") or [[None, None]]
            if f.get("confidence") is None:
                conf = ""
            elif decided.startswith("rule") and top[0][0] != f["value"]:
                # a rule overrode the model: the confidence is the model's, for another value
                conf = f"rule (model: {top[0][0]} {f['confidence']:.0%})"
            else:
                conf = f"{f['confidence']:.0%}"
        why = f.get("rule") or ", ".join(
            t["term"] for t in (f.get("evidence") or {}).get("terms", [])[:4]
        )
        rows.append(
            {"field": label, "value": value, "confidence": conf, "decided by": decided, "why": why}
        )
    return rows


def _evidence(fields: dict[str, Any]) -> None:
    with st.expander("Evidence: the words, the nearest resolved tickets and the rules"):
        for key, label in FIELDS.items():
            f = fields.get(key)
            if not f:
                continue
            ev = f.get("evidence") or {}
            parts = []
            if ev.get("terms"):
                terms = ", ".join(f"{t['term']} ({t['weight']:+.3f})" for t in ev["terms"][:6])
                parts.append(f"words: {esc(terms)}")
            if ev.get("neighbour_votes"):
                votes = Counter(v["label"] for v in ev["neighbour_votes"])
                n = len(ev["neighbour_votes"])
                parts.append(
                    "neighbours: "
                    + ", ".join(f"{esc(lab)} {c}/{n}" for lab, c in votes.most_common())
                )
            if f.get("rule"):
                parts.append(f"rule: {esc(f['rule'])}")
            signals = [g for g in ev.get("signals") or [] if g.get("text")]
            if signals:
                parts.append(
                    "signals: "
                    + "; ".join(
                        f"'{esc(g['text'])}' → {esc(g['reading'])} ({esc(g['points_to'])})"
                        for g in signals[:4]
                    )
                )
            st.markdown(f"**{label}** — " + " · ".join(parts or ["no evidence"]))


def _card(ticket: dict[str, Any]) -> None:
    tid, triage = ticket["id"], ticket.get("triage") or {}
    fields = triage.get("fields") or {}
    is_open = ticket["state"] in OPEN_STATES
    st.markdown(f"#### {esc(ticket['ref'])} · {esc(ticket['title'] or ticket['description'])}")
    st.caption(
        f"State: {ticket['state']} · opened {when(ticket['created_at'])}"
        f" by {esc(ticket.get('created_by'))}"
        + (f" · caller {esc(ticket['caller'])}" if ticket.get("caller") else "")
        + (" · VIP" if ticket.get("vip") else "")
    )
    below = " Correct it below." if is_open else ""
    provisional = ticket.get("provisional") or {}
    if ticket.get("priority"):
        name = (
            triage.get("priority_name", "") if triage.get("priority") == ticket["priority"] else ""
        )
        st.markdown(f"### {esc(ticket['priority'])} {esc(name)} · {esc(ticket['quadrant'])}")
    elif provisional.get("label"):
        st.markdown(f"### {esc(provisional['label'])}")
        runs_as = provisional.get("sla_priority")
        st.caption(
            "Provisional priority"
            + (
                f": the SLA runs as {esc(runs_as)} until impact and urgency are set."
                if runs_as
                else "."
            )
            + below
        )
    elif triage.get("untriaged"):
        st.warning(f"Not triaged: {triage['untriaged']}")
    else:
        st.warning("Priority needs a human: impact or urgency is uncertain." + below)
    sla, standing = ticket.get("sla") or {}, sla_standing(ticket)
    if sla.get("resolve_by"):
        text = (
            f"SLA: respond by {when(sla['respond_by'])} · resolve by {when(sla['resolve_by'])}"
            f" · {standing[0]}"
        )
        (st.error if standing[1] else st.caption)(text)
    if fields:
        st.dataframe(_field_rows(ticket, fields), hide_index=True)
        _evidence(fields)

    if not is_open:
        outcome = ticket.get("outcome") or ticket["state"]
        st.success(f"{ticket['state'].capitalize()} ({outcome}): {ticket.get('resolution') or ''}")
        if ticket["state"] == "resolved":
            st.button(
                "Close ticket",
                key=f"close_{tid}",
                on_click=_transition,
                args=(tid, "close", f"Closed {ticket['ref']}"),
            )

    hits = triage.get("suggested_articles") or []
    st.markdown("**Suggested answers**")
    if not hits and triage.get("suggestions") == "unavailable":
        st.caption("Suggestions are unavailable: the search engine cannot be reached.")
    elif not hits:
        st.caption("No good KB match — capture one when you solve it.")
    for hit in hits:
        number = article_number(hit["id"])
        with st.container(border=True):
            st.markdown(
                f"**{esc(hit['title'])}** <small>{esc(hit['external_id'])}"
                f"{' · ' + esc(hit['category']) if hit.get('category') else ''}"
                f" · score {hit['score']:.3f}</small>",
                unsafe_allow_html=True,
            )
            st.markdown(highlighted(hit["snippet"], hit["highlights"]), unsafe_allow_html=True)
            if number is None:
                continue
            b1, b2, b3, _ = st.columns([2, 1, 1, 3])
            if is_open:
                b1.button(
                    "Resolve with this",
                    key=f"resolve_{tid}_{number}",
                    type="primary",
                    on_click=_resolve_with,
                    args=(tid, number, hit["external_id"]),
                )
            b2.button(
                "Helped",
                key=f"helped_{tid}_{number}",
                on_click=_feedback,
                args=(tid, number, hit["external_id"], True),
            )
            b3.button(
                "Did not help",
                key=f"nothelped_{tid}_{number}",
                on_click=_feedback,
                args=(tid, number, hit["external_id"], False),
            )

    # Only tickets with a recorded fix help the agent (an imported open ticket has none).
    similar = [
        h for h in triage.get("similar_tickets") or [] if (h.get("resolution") or "").strip()
    ]
    if similar:
        st.markdown("**Similar resolved tickets**")
        for hit in similar:
            fix = hit["resolution"]
            st.markdown(
                f"- **{esc(hit['title'])}** <small>{esc(hit['external_id'])}</small>  \n"
                f"  fix: {esc(fix[:300])}{'…' if len(fix) > 300 else ''}",
                unsafe_allow_html=True,
            )

    if is_open:
        _actions(ticket)


def _actions(ticket: dict[str, Any]) -> None:
    tid = ticket["id"]
    left, right = st.columns(2)
    with left, st.form(f"new_answer_form_{tid}", border=True):
        st.markdown("**Resolve with a new answer**")
        st.text_area("New answer", key=f"new_answer_{tid}", height=100)
        st.checkbox("Capture as a knowledge-base draft", value=True, key=f"capture_{tid}")
        st.form_submit_button("Resolve with a new answer", on_click=_resolve_new, args=(tid,))
    with right, st.form(f"escalate_form_{tid}", border=True):
        st.markdown("**Escalate to second line**")
        st.text_input("Group", value=ticket.get("assignment_group") or "", key=f"esc_group_{tid}")
        st.text_input("Note for second line", key=f"esc_note_{tid}")
        st.form_submit_button("Escalate", on_click=_escalate, args=(tid,))
    with st.expander("Correct the triage"), st.form(f"correct_form_{tid}", border=False):
        cols = st.columns(3)
        for i, (field, label) in enumerate(FIELDS.items()):
            options = _choices(field, ticket)
            current = ticket.get(field)
            cols[i % 3].selectbox(
                label,
                options,
                index=options.index(current) if current in options else None,
                key=f"fix_{field}_{tid}",
                placeholder="needs a human",
                accept_new_options=field not in LEVELS,  # a new category is a fair answer
            )
        st.form_submit_button(
            "Save corrections",
            on_click=_correct,
            args=(tid, {f: ticket.get(f) for f in FIELDS}),
        )
    if ticket["state"] == "new":
        st.button(
            "Start work",
            key=f"start_{tid}",
            on_click=_transition,
            args=(tid, "start", f"Working on {ticket['ref']}: the response clock stopped"),
        )


def _labels() -> dict[str, list[str]]:
    """Per field, what the API knows it may be: the matrix's impact and urgency levels and the
    active model's labels for the other fields (read once a session)."""
    if "desk_labels" not in SS:
        out = call("GET", "/triage/models")
        if out is None:
            return {}
        active: dict[str, Any] = next((v for v in out.get("versions", []) if v.get("active")), {})
        labels = {k: list(v) for k, v in (active.get("labels") or {}).items()}
        labels.update({k: list(v) for k, v in (out.get("levels") or {}).items()})
        SS["desk_labels"] = labels
    return SS["desk_labels"]


def _choices(field: str, ticket: dict[str, Any]) -> list[str]:
    """The values a correction of ``field`` offers: the matrix's levels for impact and urgency;
    for the other fields the model's labels, with the ticket's own and the card's top values."""
    options = list(_labels().get(field, []))
    if field in LEVELS and options:
        return options
    f = ((ticket.get("triage") or {}).get("fields") or {}).get(field) or {}
    seen = [ticket.get(field), f.get("value"), *(v for v, _p in f.get("top") or [])]
    return options + [str(v) for v in dict.fromkeys(seen) if v and str(v) not in options]


@st.fragment(run_every=REFRESH_SECONDS)
def _open_tickets() -> None:
    """The open queue, drawn again every minute on its own (the page stays as it is)."""
    if SS.pop("desk_redraw", False):  # a ticket was opened from here: draw the whole page
        st.rerun(scope="app")
    st.subheader("Open tickets")
    out = call("GET", "/desk/tickets", params={"state": list(OPEN_STATES), "order": "priority"})
    if out is None:
        return
    tickets = out["tickets"]
    if not tickets:
        st.caption("No open tickets. Nice.")
        return
    st.caption(
        "Highest priority first, then the soonest due; brought up to date every minute. "
        "Select a row to open its ticket."
    )
    rows, breached = [], []
    for t in tickets:
        standing, is_breached = sla_standing(t)
        breached.append(is_breached)
        rows.append(
            {
                "ticket": t["ref"],
                "priority": priority_label(t) or "needs a human",
                "title": t["title"] or t["description"][:80],
                "SLA": standing,
                "resolve by": when((t.get("sla") or {}).get("resolve_by")),
                "state": t["state"],
                "group": t.get("escalated_to") or t.get("assignment_group") or "",
            }
        )
    late = [t["ref"] for t, b in zip(tickets, breached, strict=True) if b]
    if late:
        st.error(f"SLA breached: {', '.join(late)}")
    df = pd.DataFrame(rows)
    styled = df.style.apply(
        lambda row: ["color: #d33" if breached[row.name] else ""] * len(row), axis=1
    )
    # The table's selection belongs to this list and this open ticket: a new list (or another
    # ticket opened) starts a new table, with the open ticket's row selected.
    ids = [t["id"] for t in tickets]
    current = (SS.get("desk_ticket") or {}).get("id")
    key = f"{QUEUE}{current}:{zlib.crc32(repr(ids).encode())}"
    for stale in [k for k in SS if str(k).startswith(QUEUE) and k != key]:
        del SS[stale]
    SS["desk_rows"] = ids
    st.dataframe(
        styled,
        hide_index=True,
        key=key,
        on_select=partial(_open_row, key),
        selection_mode=["single-row", "single-cell"],  # a click anywhere on the row
        selection_default={"selection": {"rows": [ids.index(current)]}} if current in ids else None,
    )
    labels = {t["id"]: f"{t['ref']} · {t['title'] or t['description'][:60]}" for t in tickets}
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.selectbox("Work on", ids, format_func=labels.get, key="desk_pick")
    c2.button("Open ticket", on_click=_open_from_list)


require_sign_in()
top = st.container()
_intake()
current = SS.get("desk_ticket")
if current:
    with st.container(border=True):
        _card(current)
_open_tickets()
with top:
    show_flash()
