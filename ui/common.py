"""What every page of the console shares: who is signed in, calling the API with their key,
messages that survive the rerun after a button, and small formatters."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

import streamlit as st

from ui.client import ApiError, Client, api_url

ROLES = ("agent", "editor", "admin")
OPEN_STATES = ("new", "in_progress", "escalated")


# -- who is signed in --------------------------------------------------------------------------
def signed_in() -> dict[str, str] | None:
    """``{"key", "name", "role"}`` of the signed-in user, or None."""
    return st.session_state.get("auth")


def can(role: str) -> bool:
    who = signed_in()
    return who is not None and ROLES.index(who["role"]) >= ROLES.index(role)


def client() -> Client:
    who = signed_in()
    return Client(api_url(), who["key"] if who else None)


def sign_in(key: str) -> str | None:
    """Ask the API who the key belongs to; None on success, else the reason it failed."""
    key = key.strip()
    if not key:
        return "Enter your API key."
    try:
        me = Client(api_url(), key).get("/me")
    except ApiError as e:
        return f"Sign-in failed: {e.detail or e}"
    st.session_state["auth"] = {"key": key, "name": me["name"], "role": me["role"]}
    st.session_state.pop("signed_out", None)
    return None


def _submit_sign_in() -> None:
    st.session_state["sign_in_error"] = sign_in(st.session_state.get("sign_in_key", ""))


def require_sign_in() -> dict[str, str]:
    """The signed-in user; otherwise the sign-in form, and the page stops here.  The form is
    on the page itself, not in the sidebar, which a narrow screen keeps folded away."""
    who = signed_in()
    if who is None:
        st.info("Sign in with your API key to use the console.")
        with st.form("sign_in"):
            st.text_input("API key", type="password", key="sign_in_key")
            st.form_submit_button("Sign in", type="primary", on_click=_submit_sign_in)
        if st.session_state.get("sign_in_error"):
            st.error(st.session_state["sign_in_error"])
        st.stop()
    return who  # type: ignore[return-value]


# -- calling the API -------------------------------------------------------------------------
def call(
    method: str,
    path: str,
    *,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The answer, or None after showing the API's message as an error on the page."""
    try:
        return client().request(method, path, json=json, params=params)
    except ApiError as e:
        st.error(str(e))
        return None


def act(
    method: str,
    path: str,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """For button callbacks: the answer, or None after queueing the API's message as an error
    shown on the next run (a callback cannot draw on the page itself)."""
    try:
        return client().request(method, path, json=json, params=params)
    except ApiError as e:
        flash("error", str(e))
        return None


# -- messages that outlive the rerun a button causes -------------------------------------------
def flash(kind: str, text: str) -> None:
    """Queue a message (``success``, ``info``, ``warning`` or ``error``) for the next run."""
    st.session_state.setdefault("flash", []).append((kind, text))


def show_flash() -> None:
    """Each queued message once, on the page (not repeated as a toast)."""
    for kind, text in st.session_state.pop("flash", []):
        getattr(st, kind)(text)


# -- formatting --------------------------------------------------------------------------------
# Markdown (and Streamlit's $math$ and :directives:) that a snippet of an article must not
# trigger: a snippet is plain text, shown as it is.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:])")


def plain(text: str) -> str:
    """Text for ``st.markdown(..., unsafe_allow_html=True)`` that renders as itself."""
    return html.escape(_MARKDOWN.sub(r"\\\1", re.sub(r"\s+", " ", text)), quote=False)


def highlighted(snippet: str, ranges: list[list[int]]) -> str:
    """The snippet as plain text with the matched ranges in ``<mark>``."""
    out, last = [], 0
    for start, end in sorted(ranges):
        if start < last:
            continue
        out.append(plain(snippet[last:start]))
        out.append(f"<mark>{plain(snippet[start:end])}</mark>")
        last = end
    out.append(plain(snippet[last:]))
    return "".join(out)


def pct(value: float | None) -> str:
    """A rate from the API (0..1) as a percentage, or a dash when the API has none."""
    return "—" if value is None else f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def when(iso: str | None) -> str:
    """An API timestamp as ``YYYY-MM-DD HH:MM UTC``."""
    if not iso:
        return "—"
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return t.strftime("%Y-%m-%d %H:%M") + (" UTC" if t.utcoffset() is not None else "")


def article_number(hit_id: str) -> int | None:
    """``article:42`` → 42 (a search hit's id); None for anything else."""
    kind, _, number = str(hit_id).partition(":")
    return int(number) if kind == "article" and number.isdigit() else None


def esc(text: Any) -> str:
    """A value (title, reference, name) for markdown: shown as it is."""
    return plain(str(text or ""))


def priority_label(ticket: dict[str, Any]) -> str | None:
    """The ticket's priority as the desk shows it: the priority, else the provisional one's
    label (e.g. "P2–P3, confirm urgency"), else None (a human has to set one)."""
    if ticket.get("priority"):
        return str(ticket["priority"])
    provisional = ticket.get("provisional") or {}
    return provisional.get("label") or None


def sla_standing(ticket: dict[str, Any]) -> tuple[str, bool]:
    """A ticket's SLA standing in words, and whether it is breached."""
    sla = ticket.get("sla") or {}
    if sla.get("breached"):
        which = [
            name
            for name, flag in (
                ("response", sla.get("response_breached")),
                ("resolution", sla.get("resolution_breached")),
            )
            if flag
        ]
        return f"breached ({' and '.join(which)})", True
    if ticket.get("state") not in OPEN_STATES:
        return "met" if sla.get("resolve_by") else "—", False
    left = sla.get("minutes_left")
    if left is None:
        return "no SLA yet (priority needs a human)", False
    hours, minutes = divmod(int(left), 60)
    return (f"{hours} h {minutes} min left" if hours else f"{minutes} min left"), False
