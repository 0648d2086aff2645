"""The article editor of the Knowledge page: pick an article, edit it against the version you
loaded (a stale edit is a conflict with a way to reload), move it through its lifecycle, read
its history and the diff between two versions."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.client import ApiError
from ui.common import act, call, client, esc, flash, when

SS = st.session_state
STATES = ["draft", "review", "published", "retired"]
# Where an article can go from each state (the API decides; this only picks the buttons).
MOVES = {
    "draft": ("review", "published"),
    "review": ("published", "draft"),
    "published": ("draft", "retired"),
    "retired": ("draft",),
}
MOVE_LABELS = {
    "review": "Send to review",
    "published": "Publish",
    "retired": "Retire",
    "draft": "Back to draft",
}


def open_article(article_id: int) -> None:
    """Load an article into the editor (for callbacks: errors show on the next run)."""
    a = act("GET", f"/kb/articles/{article_id}")
    if a is not None:
        SS["kb_loaded"] = a
        SS["kb_pick"] = a["id"]
        SS.pop("kb_conflict", None)


def _picked() -> None:
    pick = SS.get("kb_pick")
    if pick is not None:
        open_article(int(pick))


def _conflict_or_error(e: ApiError, article_id: int, mine: dict[str, Any]) -> None:
    if e.conflict and e.current:
        SS["kb_conflict"] = {
            "article_id": article_id,
            "message": e.detail,
            "current": e.current,
            "mine": mine,
        }
    else:
        flash("error", str(e))


def _save(article_id: int, version: int) -> None:
    suffix = f"{article_id}_{version}"
    tags = [t.strip() for t in SS.get(f"kb_tags_{suffix}", "").split(",") if t.strip()]
    mine = {
        "title": SS.get(f"kb_title_{suffix}", "").strip(),
        "body": SS.get(f"kb_body_{suffix}", ""),
        "category": SS.get(f"kb_category_{suffix}", "").strip() or None,
        "tags": tags,
    }
    note = SS.get(f"kb_note_{suffix}", "").strip() or None
    try:
        a = client().put(f"/kb/articles/{article_id}", {"version": version, **mine, "note": note})
    except ApiError as e:
        _conflict_or_error(e, article_id, mine)
        return
    SS["kb_loaded"] = a
    SS.pop("kb_unsaved", None)
    if a["version"] == version:  # the API keeps no version that changes nothing
        flash("info", f"Nothing changed: {a['external_id']} is still version {version}")
    else:
        flash("success", f"Saved {a['external_id']} as version {a['version']}")


def _move(article: dict[str, Any], to: str) -> None:
    body = {"to": to, "version": article["version"]}
    try:
        a = client().post(f"/kb/articles/{article['id']}/status", body)
    except ApiError as e:
        _conflict_or_error(e, article["id"], {"status change": f"{article['status']} → {to}"})
        return
    SS["kb_loaded"] = a
    flash("success", f"{a['external_id']} is now {a['status']} (version {a['version']})")


def _reload_current() -> None:
    conflict = SS.pop("kb_conflict", None)
    if conflict is None:
        return
    current = conflict["current"]
    SS["kb_loaded"] = current
    SS["kb_unsaved"] = {"article_id": conflict["article_id"], **conflict["mine"]}
    flash(
        "info",
        f"Loaded version {current['version']} (saved by {current.get('author') or 'someone'}). "
        "Apply your change again: your text is under “Your unsaved changes”.",
    )


def _picker() -> dict[str, Any] | None:
    c1, c2 = st.columns([2, 3])
    statuses = c1.multiselect(
        "Status", STATES, default=["draft", "review", "published"], key="kb_statuses"
    )
    find = c2.text_input("Find", key="kb_find", placeholder="words in the title")
    params: dict[str, Any] = {"status": statuses or None, "q": find.strip() or None, "limit": 500}
    out = call("GET", "/kb/articles", params={k: v for k, v in params.items() if v})
    loaded = SS.get("kb_loaded")
    labels = {
        a["id"]: f"{a['external_id']} · {a['title']} ({a['status']}, v{a['version']})"
        for a in (out or {}).get("articles", [])
    }
    if loaded and loaded["id"] not in labels:
        labels[loaded["id"]] = f"{loaded['external_id']} · {loaded['title']} ({loaded['status']})"
    if not labels:
        st.info("No articles match.")
        return None
    if loaded is not None:
        # The browser sends the pick back as its label, which a save or a status change has
        # just changed ("draft, v1" → "review, v2"): without this the editor would lose it.
        SS["kb_pick"] = loaded["id"]
    pick = st.selectbox(
        "Article",
        list(labels),
        format_func=labels.get,
        key="kb_pick",
        index=None,
        placeholder="Choose an article to edit",
        on_change=_picked,
    )
    if pick is not None and (loaded is None or loaded["id"] != pick):
        loaded = call("GET", f"/kb/articles/{pick}")
        SS["kb_loaded"] = loaded
        SS.pop("kb_conflict", None)
    return loaded if pick is not None else None


def _conflict_banner(article: dict[str, Any]) -> None:
    conflict = SS.get("kb_conflict")
    if conflict and conflict["article_id"] == article["id"]:
        current = conflict["current"]
        st.error(
            f"Someone else saved this article (now version {current['version']}) while you "
            f"were editing version {article['version']}. {conflict['message']}"
        )
        st.button("Reload the current version", type="primary", on_click=_reload_current)
    unsaved = SS.get("kb_unsaved")
    if unsaved and unsaved["article_id"] == article["id"]:
        with st.expander("Your unsaved changes", expanded=True):
            for name, value in unsaved.items():
                if name != "article_id" and value:
                    st.markdown(f"**{name}**")
                    st.code(", ".join(value) if isinstance(value, list) else str(value))


def _form(a: dict[str, Any]) -> None:
    suffix = f"{a['id']}_{a['version']}"
    with st.form(f"kb_edit_{suffix}"):
        st.text_input("Title", value=a["title"] or "", key=f"kb_title_{suffix}")
        st.text_area("Body", value=a.get("body") or "", height=320, key=f"kb_body_{suffix}")
        c1, c2 = st.columns(2)
        c1.text_input("Category", value=a.get("category") or "", key=f"kb_category_{suffix}")
        c2.text_input(
            "Tags (comma-separated)", value=", ".join(a.get("tags") or []), key=f"kb_tags_{suffix}"
        )
        st.text_input("Change note", key=f"kb_note_{suffix}")
        st.form_submit_button(
            f"Save as version {a['version'] + 1}",
            type="primary",
            on_click=_save,
            args=(a["id"], a["version"]),
        )


def _history(a: dict[str, Any]) -> None:
    out = call("GET", f"/kb/articles/{a['id']}/versions")
    if out is None:
        return
    versions = out["versions"]
    st.markdown("**Version history**")
    st.dataframe(
        [
            {
                "version": v["version"],
                "status": v["status"],
                "title": v["title"],
                "author": v.get("author") or "",
                "note": v.get("note") or "",
                "saved": when(v.get("created_at")),
            }
            for v in versions
        ],
        hide_index=True,
    )
    if len(versions) < 2:
        st.caption("Only one version so far: nothing to compare.")
        return
    numbers = [v["version"] for v in versions]  # newest first
    c1, c2 = st.columns(2)
    tag = f"{a['id']}_{len(numbers)}"
    old = c1.selectbox("Old version", numbers, index=1, key=f"kb_old_{tag}")
    new = c2.selectbox("New version", numbers, index=0, key=f"kb_new_{tag}")
    d = call("GET", f"/kb/articles/{a['id']}/diff", params={"old": old, "new": new})
    if d is not None:
        st.caption(f"Version {d['old']} → {d['new']}: +{d['added']} −{d['removed']} lines")
        st.code(d["diff"] or "(no differences)", language="diff")


def editor() -> None:
    a = _picker()
    if a is None:
        return
    st.markdown(f"### {esc(a['external_id'])} · {esc(a['title'])}")
    origin = f" · captured from desk:{a['from_ticket']}" if a.get("from_ticket") else ""
    st.caption(
        f"{a['status']} · version {a['version']} · by {a.get('author') or 'import'} · "
        f"updated {when(a.get('updated_at'))}{origin}"
    )
    _conflict_banner(a)
    cols = st.columns(len(MOVES[a["status"]]) + 3)
    for col, to in zip(cols, MOVES.get(a["status"], ()), strict=False):
        col.button(MOVE_LABELS[to], key=f"move_{a['id']}_{to}", on_click=_move, args=(a, to))
    _form(a)
    _history(a)
