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

search_tab, triage_tab = st.tabs(["Search", "Triage"])

with search_tab:
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
                    st.markdown(
                        highlighted(hit["snippet"], hit["highlights"]), unsafe_allow_html=True
                    )
                    if hit.get("resolution"):
                        st.success(f"Resolution: {hit['resolution']}")
    elif submitted:
        st.warning("Type what the user asked first.")


FIELD_NAMES = {
    "type": "Type",
    "impact": "Impact",
    "urgency": "Urgency",
    "category": "Category",
    "assignment_group": "Assignment group",
    "tier": "Tier",
}


def triage_card(result: dict) -> None:
    if result.get("priority"):
        sla = result.get("sla") or {}
        st.markdown(
            f"### {html.escape(result['priority'])} {html.escape(result.get('priority_name', ''))}"
            f" · {html.escape(result['quadrant'])}",
        )
        if sla:
            st.caption(
                f"SLA: respond within {sla['respond_minutes']} min, resolve within "
                f"{sla['resolve_minutes'] // 60} h"
            )
    else:
        st.warning("Priority needs a human: impact or urgency is uncertain.")
    rows = []
    for key, label in FIELD_NAMES.items():
        f = result["fields"][key]
        if f["abstained"]:
            top = ", ".join(f"{v} {p:.0%}" for v, p in f.get("top", []))
            value = f"needs a human ({top})" if top else "needs a human"
        else:
            value = f["value"]
        conf = "" if f.get("confidence") is None else f"{f['confidence']:.0%}"
        why = f.get("rule") or ", ".join(
            t["term"] for t in f.get("evidence", {}).get("terms", [])[:4]
        )
        rows.append(
            {
                "field": label,
                "value": value,
                "confidence": conf,
                "decided by": f["decided_by"],
                "why": why,
            }
        )
    st.dataframe(rows, hide_index=True, use_container_width=True)
    if result.get("suggested_articles"):
        st.markdown("**Suggested answers**")
        for hit in result["suggested_articles"]:
            st.markdown(
                f"- {html.escape(hit['title'])} <small>({html.escape(hit['external_id'])})</small>",
                unsafe_allow_html=True,
            )
    if result.get("similar_tickets"):
        st.markdown("**Similar resolved tickets**")
        for hit in result["similar_tickets"]:
            fix = f" — fix: {html.escape(hit['resolution'][:120])}" if hit.get("resolution") else ""
            st.markdown(f"- {html.escape(hit['title'])}{fix}", unsafe_allow_html=True)


with triage_tab:
    with st.form("triage", border=False):
        t_title = st.text_input("Short description", placeholder="e.g. Printer not ready")
        t_desc = st.text_area("Description", placeholder="What the user wrote")
        c1, c2 = st.columns(2)
        t_vip = c1.checkbox("Caller is a VIP")
        t_users = c2.number_input("Users affected", min_value=0, value=0, step=1)
        t_submit = st.form_submit_button("Triage", type="primary")
    if t_submit:
        if not (t_title.strip() or t_desc.strip()):
            st.warning("Enter a short description or a description first.")
        else:
            req = {
                "title": t_title or None,
                "description": t_desc or None,
                "vip": t_vip,
                "users_affected": int(t_users) or None,
            }
            body, error = api("POST", "/triage", json={"request": req, "suggestions": 3})
            if error:
                st.error(error)
            else:
                triage_card(body["results"][0])
