"""firstline console (Streamlit).  Talks to the API over HTTP only.

Run: ``FIRSTLINE_API_URL=http://127.0.0.1:8000 streamlit run ui/app.py``.
"""

from __future__ import annotations

import html
import os

import httpx
import streamlit as st

API_URL = os.environ.get("FIRSTLINE_API_URL", "http://127.0.0.1:8000").rstrip("/")


def api(method: str, path: str, **kwargs) -> tuple[dict | None, str | None]:  # noqa: ANN003
    """(body, None) on success, (None, message) on any failure: never a traceback."""
    try:
        r = httpx.request(method, f"{API_URL}{path}", timeout=30, **kwargs)
    except httpx.HTTPError as e:
        return None, f"The firstline API at {API_URL} cannot be reached ({type(e).__name__})."
    try:
        body = r.json()
    except ValueError:
        return None, f"The API answered {r.status_code} with no JSON."
    if r.status_code >= 400:
        msg = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        return None, msg or f"The API answered {r.status_code}."
    return body, None


def highlighted(snippet: str, ranges: list[list[int]]) -> str:
    out, last = [], 0
    for start, end in sorted(ranges):
        out.append(html.escape(snippet[last:start]))
        out.append(f"<mark>{html.escape(snippet[start:end])}</mark>")
        last = end
    out.append(html.escape(snippet[last:]))
    return "".join(out)


st.set_page_config(page_title="firstline", page_icon="🔎", layout="wide")
st.title("firstline — search")
st.caption("Knowledge-base articles and past resolved tickets, in the user's own words.")

with st.sidebar:
    st.subheader("Filters")
    kinds = st.multiselect("Show", ["article", "ticket"], default=["article", "ticket"])
    mode = st.radio("Ranking", ["hybrid", "dense", "lexical"], horizontal=True)
    k = st.slider("Results", 1, 50, 10)
    health, health_err = api("GET", "/health")
    st.subheader("Status")
    if health_err:
        st.error(health_err)
    else:
        db = health["database"]
        st.write(f"{db['articles']} articles · {db['tickets']} tickets")
        st.write(f"index: {health['index']['backend']} · model: {health['model']['name']}")

with st.form("search", border=False):
    query = st.text_input("Search", placeholder="e.g. outlook calendar meetings not showing")
    submitted = st.form_submit_button("Search", type="primary")

if submitted and query.strip():
    body, error = api(
        "POST", "/search", json={"query": query, "k": k, "mode": mode, "kinds": kinds or None}
    )
    if error:
        st.error(error)
    elif not body["hits"]:
        st.info("No results. Try other words, or widen the filters.")
    else:
        st.caption(f"{len(body['hits'])} results in {body['took_ms']:.0f} ms")
        for hit in body["hits"]:
            why = hit["why"]
            ranks = " · ".join(
                f"{name} #{why[key]}"
                for name, key in (("BM25", "lexical_rank"), ("semantic", "dense_rank"))
                if why[key]
            )
            with st.container(border=True):
                st.markdown(
                    f"**{html.escape(hit['title'])}**  \n"
                    f"<small>{hit['kind']} {html.escape(hit['external_id'])}"
                    f"{' · ' + html.escape(hit['category']) if hit.get('category') else ''}"
                    f" · matched by {ranks}</small>",
                    unsafe_allow_html=True,
                )
                st.markdown(highlighted(hit["snippet"], hit["highlights"]), unsafe_allow_html=True)
                if hit.get("resolution"):
                    st.success(f"Resolution: {hit['resolution']}")
elif submitted:
    st.warning("Type what the user asked first.")
