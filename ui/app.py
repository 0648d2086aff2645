"""firstline console (Streamlit).  Talks to the API over HTTP only.

Run: ``FIRSTLINE_API_URL=http://127.0.0.1:8000 streamlit run ui/app.py``; set
``FIRSTLINE_API_KEY`` to sign in with that key at once.  This script draws the sidebar
(who is signed in and the API status) and hands over to the page chosen in the navigation
(``views/``); a page asks for the key first (``ui.common.require_sign_in``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # run as a script from a checkout without the package installed
    sys.path.insert(0, ROOT)

from ui.client import ApiError, Client, api_url  # noqa: E402
from ui.common import can, esc, sign_in, signed_in  # noqa: E402

st.set_page_config(page_title="firstline", page_icon=":material/support_agent:", layout="wide")


def _sign_out() -> None:
    keep = {"signed_out": True}
    st.session_state.clear()
    st.session_state.update(keep)


env_key = os.environ.get("FIRSTLINE_API_KEY", "").strip()
if signed_in() is None and env_key and not st.session_state.get("signed_out"):
    st.session_state["sign_in_error"] = sign_in(env_key)

with st.sidebar:
    st.markdown("### firstline")
    who = signed_in()
    if who:
        st.markdown(f"Signed in as **{esc(who['name'])}** · {who['role']}")
        st.button("Sign out", on_click=_sign_out)
    else:
        st.caption("Not signed in.")

    try:
        health = Client(api_url()).get("/health")
    except ApiError as e:
        # /health answers 503 with the part that is down; anything else is unreachable.
        st.error(str(e))
    else:
        db = health["database"]
        st.caption(
            f"{db['articles']} articles · {db['tickets']} tickets  \n"
            f"index: {health['index']['backend']} · model: {health['model']['name']}"
        )

pages = [
    st.Page("views/desk.py", title="Desk", default=True),
    st.Page("views/search.py", title="Search"),
    st.Page("views/knowledge.py", title="Knowledge"),
    st.Page("views/dashboard.py", title="Dashboard"),
]
if can("admin"):
    pages.append(st.Page("views/admin.py", title="Admin"))
st.navigation(pages).run()
