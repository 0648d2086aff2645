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
            f" · matched by {ranks or '—'}</small>",
            unsafe_allow_html=True,
        )
        st.markdown(highlighted(hit["snippet"], hit["highlights"]), unsafe_allow_html=True)
        if hit.get("resolution"):
            st.success(f"Resolution: {hit['resolution']}")
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


require_sign_in()
st.caption("Knowledge-base articles and past resolved tickets, in the user's own words.")
top = st.container()
with st.form("search", border=False):
    query = st.text_input("Search", placeholder="e.g. outlook calendar meetings not showing")
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    kinds = c1.multiselect("Show", ["article", "ticket"], default=["article", "ticket"])
    mode = c2.radio("Ranking", ["hybrid", "dense", "lexical"], horizontal=True)
    k = c3.slider("Results", 1, 50, 10)
    categories = c4.multiselect("Categories", _categories())
    submitted = st.form_submit_button("Search", type="primary")

if submitted:
    if not query.strip():
        SS.pop("search_result", None)
        st.warning("Type what the user asked first.")
    else:
        body = {"query": query, "k": k, "mode": mode, "kinds": kinds or None}
        if categories:
            body["categories"] = categories
        SS["search_result"] = call("POST", "/search", json=body)

result = SS.get("search_result")
if result is not None:
    if not result["hits"]:
        st.info("No results. Try other words, or widen the filters.")
    else:
        st.caption(
            f"{len(result['hits'])} results for “{result['query']}” in {result['took_ms']:.0f} ms"
        )
        for i, hit in enumerate(result["hits"]):
            _hit(hit, i)
with top:
    show_flash()
