"""Search: knowledge-base articles and past resolved tickets, in the user's own words."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.common import (
    act,
    article_number,
    call,
    esc,
    flash,
    highlighted,
    require_sign_in,
    show_flash,
)

SS = st.session_state
KINDS = ["article", "ticket"]
# Statuses as imports and the desk record them (lower case); any other can be typed.
STATUSES = ["resolved", "closed", "open", "in progress", "new", "published"]


def _categories() -> list[str]:
    """Article categories to filter on (read once a session)."""
    if "search_categories" not in SS:
        out = call("GET", "/kb/articles", params={"limit": 1000})
        names = {a["category"] for a in (out or {}).get("articles", []) if a.get("category")}
        if out is not None:
            SS["search_categories"] = sorted(names)
        return sorted(names)
    return SS["search_categories"]


def _feedback(article_id: int, label: str, helpful: bool) -> None:
    if act("POST", f"/kb/articles/{article_id}/feedback", {"helpful": helpful}):
        flash("success", f"Feedback recorded: {label} {'helped' if helpful else 'did not help'}")


def _hit(hit: dict[str, Any], index: int) -> None:
    why = hit["why"]
    ranks = " · ".join(
        f"{name} #{why[key]}"
        for name, key in (("BM25", "lexical_rank"), ("semantic", "dense_rank"))
        if why.get(key)
    )
    with st.container(border=True):
        st.markdown(
            f"**{esc(hit['title'])}**  \n"
            f"<small>{hit['kind']} {esc(hit['external_id'])}"
            f"{' · ' + esc(hit['category']) if hit.get('category') else ''}"
            f"{' · ' + esc(hit['status']) if hit.get('status') else ''}"
            f" · matched by {ranks or '—'}"
            f"{' · weak match' if hit.get('match') == 'weak' else ''}</small>",
            unsafe_allow_html=True,
        )
        st.markdown(highlighted(hit["snippet"], hit["highlights"]), unsafe_allow_html=True)
        if hit.get("resolution"):
            st.success(f"Resolution: {hit['resolution']}")
        elif hit["kind"] == "ticket":
            st.caption("No resolution recorded for this ticket.")
        number = article_number(hit["id"])
        if number is not None:
            c1, c2, _ = st.columns([1, 1, 5])
            c1.button(
                "Helpful",
                key=f"search_helpful_{index}_{number}",
                on_click=_feedback,
                args=(number, hit["external_id"], True),
            )
            c2.button(
                "Not helpful",
                key=f"search_unhelpful_{index}_{number}",
                on_click=_feedback,
                args=(number, hit["external_id"], False),
            )


def _filters() -> dict[str, Any]:
    """The filters as the form holds them, in the API's words (only those that narrow)."""
    out: dict[str, Any] = {}
    kinds = SS.get("search_kinds") or []
    if kinds and set(kinds) != set(KINDS):
        out["kinds"] = list(kinds)
    if SS.get("search_cats"):
        out["categories"] = list(SS["search_cats"])
    if SS.get("search_statuses"):
        out["statuses"] = [str(v).strip().lower() for v in SS["search_statuses"]]
    return out


def _body(query: str) -> dict[str, Any]:
    """The search as the form asks it (the query, how many, how ranked, the filters)."""
    body = {"query": query, "k": SS.get("search_k", 10), "mode": SS.get("search_mode", "hybrid")}
    return {**body, **_filters()}


def _clear_filters() -> None:
    """Back to every kind, category and status, and the last search again without filters."""
    SS["search_kinds"] = list(KINDS)
    SS["search_cats"] = []
    SS["search_statuses"] = []
    last = SS.get("search_result")
    if last:
        out = act("POST", "/search", _body(last["query"]))
        if out is not None:
            SS["search_result"] = {**out, "filters": {}}


def _filter_line(filters: dict[str, Any]) -> None:
    """The filters the results were found with, in words, and a way to drop them."""
    if not filters:
        return
    words = [
        f"{name}: {', '.join(filters[key])}"
        for key, name in (("kinds", "only"), ("categories", "category"), ("statuses", "status"))
        if filters.get(key)
    ]
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.info("Filtered by " + " · ".join(words), icon=":material/filter_alt:")
    c2.button("Clear filters", on_click=_clear_filters)


require_sign_in()
st.caption("Knowledge-base articles and past tickets, in the user's own words.")
top = st.container()
SS.setdefault("search_kinds", list(KINDS))
with st.form("search", border=False):
    query = st.text_input("Search", placeholder="e.g. outlook calendar meetings not showing")
    c1, c2 = st.columns(2)
    c1.multiselect("Show", KINDS, key="search_kinds")
    c2.multiselect(
        "Status",
        STATUSES,
        key="search_statuses",
        accept_new_options=True,
        placeholder="any (tickets: resolved, open…; articles: published)",
    )
    c3, c4, c5 = st.columns([2, 2, 3])
    c3.radio("Ranking", ["hybrid", "dense", "lexical"], horizontal=True, key="search_mode")
    c4.slider("Results", 1, 50, 10, key="search_k")
    c5.multiselect("Categories", _categories(), key="search_cats")
    submitted = st.form_submit_button("Search", type="primary")

if submitted:
    if not query.strip():
        SS.pop("search_result", None)
        st.warning("Type what the user asked first.")
    else:
        out = call("POST", "/search", json=_body(query))
        SS["search_result"] = None if out is None else {**out, "filters": _filters()}

result = SS.get("search_result")
if result is not None:
    _filter_line(result.get("filters") or {})
    if not result["hits"]:
        hint = "Try other words" + (", or clear the filters." if result.get("filters") else ".")
        st.info(f"No results. {hint}")
    else:
        st.caption(
            f"{len(result['hits'])} results for “{result['query']}” in {result['took_ms']:.0f} ms"
        )
        for i, hit in enumerate(result["hits"]):
            _hit(hit, i)
with top:
    show_flash()
