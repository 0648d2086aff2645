"""Knowledge (editors): the editor's queue, and the article editor with lifecycle, version
history and diffs.  Agents are told it needs the editor role."""

from __future__ import annotations

import streamlit as st

from ui.common import act, call, can, esc, flash, require_sign_in, show_flash, when
from ui.knowledge_editor import editor, open_article

SS = st.session_state
QUEUE, EDITOR = "Editor queue", "Article editor"


def _merge(article_id: int, into: int, label: str) -> None:
    if act("POST", f"/kb/articles/{article_id}/merge", {"into": into}) is not None:
        flash("success", f"Merged {label}: the duplicate is retired and redirects to the other")


def _draft_from_gap(ticket_ids: list[int]) -> None:
    a = act("POST", "/kb/gaps/draft", {"ticket_ids": ticket_ids})
    if a is not None:
        flash(
            "success",
            f"Drafted {a['external_id']} “{a['title']}” from {len(ticket_ids)} tickets"
            " — it is open in the editor",
        )
        open_article(a["id"])
        SS["kb_view"] = EDITOR


def _edit(article_id: int) -> None:
    open_article(article_id)
    SS["kb_view"] = EDITOR


def _articles(section: str, articles: list[dict]) -> None:
    if not articles:
        st.caption("None.")
    for a in articles:
        c1, c2 = st.columns([6, 1], vertical_alignment="center")
        q = a.get("quality") or {}
        origin = f" · from desk:{a['from_ticket']}" if a.get("from_ticket") else ""
        c1.markdown(
            f"**{esc(a['external_id'])}** {esc(a['title'])}  \n"
            f"<small>{esc(a.get('category') or 'no category')} · {a['status']} · "
            f"v{a['version']} · updated {when(a.get('updated_at'))}{origin} · "
            f"reuse {q.get('reuse', 0)} · helpful {q.get('helpful', 0)}/"
            f"{q.get('helpful', 0) + q.get('not_helpful', 0)}</small>",
            unsafe_allow_html=True,
        )
        c2.button("Edit", key=f"edit_{section}_{a['id']}", on_click=_edit, args=(a["id"],))


def _queue() -> None:
    q = call("GET", "/kb/queue")
    if q is None:
        return
    for title, key in (("Drafts", "drafts"), ("In review", "in_review")):
        with st.expander(f"{title} ({len(q[key])})", expanded=bool(q[key])):
            _articles(key, q[key])
    with st.expander(f"Review due ({len(q['review_due'])})", expanded=bool(q["review_due"])):
        _articles("review_due", q["review_due"])

    with st.expander(f"Duplicates ({len(q['duplicates'])})", expanded=bool(q["duplicates"])):
        if not q["duplicates"]:
            st.caption("No near-duplicate articles.")
        for i, pair in enumerate(q["duplicates"]):
            a, b = pair["articles"]
            st.markdown(
                f"**{pair['similarity']:.3f}** similar: **{esc(a['external_id'])}** "
                f"{esc(a['title'])} ({a['status']}) ↔ **{esc(b['external_id'])}** "
                f"{esc(b['title'])} ({b['status']})"
            )
            c1, c2, _ = st.columns([2, 2, 3])
            for col, (dup, keep) in zip((c1, c2), ((a, b), (b, a)), strict=True):
                label = f"{dup['external_id']} into {keep['external_id']}"
                col.button(
                    f"Merge {label}",
                    key=f"merge_{i}_{dup['id']}",
                    on_click=_merge,
                    args=(dup["id"], keep["id"], label),
                )

    with st.expander(f"Knowledge gaps ({len(q['gaps'])})", expanded=bool(q["gaps"])):
        if not q["gaps"]:
            st.caption("No gaps: recent tickets found good articles.")
        for i, gap in enumerate(q["gaps"]):
            score = gap.get("best_article_score")
            st.markdown(
                f"**{esc(gap['label'])}** — {gap['size']} tickets · best article score "
                f"{'—' if score is None else f'{score:.3f}'} · latest {when(gap.get('latest'))}"
            )
            st.markdown(
                "\n".join(
                    f"- desk:{r['id']} {esc(r['title'])}" for r in gap.get("representatives", [])
                )
            )
            st.button(
                "Draft an article from this cluster",
                key=f"gap_{i}",
                on_click=_draft_from_gap,
                args=(list(gap["ticket_ids"]),),
            )

    problems = q["problems"]
    with st.expander(f"Problem candidates ({len(problems)})", expanded=bool(problems)):
        if not problems:
            st.caption("No bursts of similar incidents.")
        for p in problems:
            st.markdown(
                f"**{esc(p['label'])}** — {p['size']} incidents"
                f"{' · service ' + esc(p['service']) if p.get('service') else ''}"
                f" · {when(p.get('first'))} to {when(p.get('last'))}"
            )
            st.dataframe(
                [
                    {
                        "ticket": f"desk:{m['id']}",
                        "title": m["title"],
                        "caller": m.get("caller") or "",
                        "state": m["state"],
                        "opened": when(m.get("created_at")),
                    }
                    for m in p["incidents"]
                ],
                hide_index=True,
            )


who = require_sign_in()
if not can("editor"):
    st.warning(
        f"Knowledge curation needs the editor role. You are signed in as {who['name']} "
        f"({who['role']}). Search finds every published article."
    )
    st.stop()
top = st.container()
view = st.radio("View", [QUEUE, EDITOR], horizontal=True, key="kb_view")
if view == EDITOR:
    editor()
else:
    _queue()
with top:
    show_flash()
