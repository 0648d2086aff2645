"""Admin: connected systems (last sync, counts, errors; pause, resume, sync now), API keys
(create, shown once; list; revoke) and the audit log of every write."""

from __future__ import annotations

import json

import streamlit as st

from ui.common import ROLES, act, call, can, flash, require_sign_in, show_flash, when

SS = st.session_state


def _revoke() -> None:
    key_id = SS.get("admin_revoke")
    if key_id is None:
        return
    out = act("DELETE", f"/admin/keys/{key_id}")
    if out is not None:
        flash("success", f"Revoked the key of {out['name']} ({out['prefix']}…)")


def _keys() -> None:
    st.subheader("API keys")
    with st.form("new_key", clear_on_submit=True):
        c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
        name = c1.text_input("Name", placeholder="who or what uses the key")
        role = c2.selectbox("Role", ROLES)
        create = c3.form_submit_button("Create key", type="primary")
    if create:
        if not name.strip():
            st.warning("Give the key a name first.")
        else:
            made = call("POST", "/admin/keys", json={"name": name.strip(), "role": role})
            if made is not None:
                st.success(
                    f"Key created for {made['name']} ({made['role']}). Copy it now: "
                    "it is stored as a hash and not shown again."
                )
                st.code(made["key"], language=None)
    out = call("GET", "/admin/keys")
    if out is None:
        return
    keys = out["keys"]
    st.dataframe(
        [
            {
                "id": k["id"],
                "name": k["name"],
                "role": k["role"],
                "key starts with": k["prefix"],
                "created": when(k.get("created_at")),
                "revoked": when(k["revoked_at"]) if k.get("revoked_at") else "",
            }
            for k in keys
        ],
        hide_index=True,
    )
    active = {
        k["id"]: f"{k['name']} · {k['role']} · {k['prefix']}…"
        for k in keys
        if not k.get("revoked_at")
    }
    if active:
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        c1.selectbox("Key to revoke", list(active), format_func=active.get, key="admin_revoke")
        c2.button("Revoke key", on_click=_revoke)


def _connector_action(action: str) -> None:
    name = SS.get("admin_connection")
    if not name:
        return
    out = act("POST", f"/admin/connectors/{name}/{action}")
    if out is not None:
        done = {"pause": "paused", "resume": "resumed", "run": "sync started"}[action]
        flash("success", f"{name}: {done}")


def _connections() -> None:
    st.subheader("Connected systems")
    out = call("GET", "/admin/connectors")
    if out is None:
        return
    rows = out["connections"]
    if not rows:
        st.caption(
            "No connections yet: `firstline connect rt …` or `firstline connect imap …` "
            "(see the README, “Connect firstline to your desk”)."
        )
        return
    st.dataframe(
        [
            {
                "name": c["name"],
                "kind": c["kind"],
                "state": "paused" if c["paused"] else ("syncing" if c["running"] else "active"),
                "last sync": when(c.get("last_finished_at"))
                if c.get("last_finished_at")
                else "never",
                "result": c["last_status"],
                "counts": ", ".join(f"{k} {v}" for k, v in sorted(c["last_counts"].items())),
                "error": c.get("last_error") or "",
            }
            for c in rows
        ],
        hide_index=True,
    )
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    c1.selectbox("Connection", [c["name"] for c in rows], key="admin_connection")
    c2.button("Sync now", on_click=_connector_action, args=("run",))
    c3.button("Pause", on_click=_connector_action, args=("pause",))
    c4.button("Resume", on_click=_connector_action, args=("resume",))


def _audit() -> None:
    st.subheader("Audit log")
    c1, c2, c3 = st.columns([2, 2, 1])
    actor = c1.text_input("Actor", key="audit_actor")
    action = c2.text_input("Action", key="audit_action", placeholder="e.g. desk.resolve")
    limit = c3.number_input("Entries", min_value=1, max_value=1000, value=100, key="audit_limit")
    params = {"limit": int(limit), "actor": actor.strip() or None, "action": action.strip() or None}
    out = call("GET", "/admin/audit", params={k: v for k, v in params.items() if v})
    if out is None:
        return
    if not out["entries"]:
        st.caption("No entries.")
        return
    st.dataframe(
        [
            {
                "when": when(e.get("created_at")),
                "actor": e["actor"],
                "role": e.get("role") or "",
                "action": e["action"],
                "target": e.get("target") or "",
                "after": json.dumps(e.get("after"), default=str)[:200],
            }
            for e in out["entries"]
        ],
        hide_index=True,
    )


require_sign_in()
if not can("admin"):
    st.warning("Administration needs the admin role.")
    st.stop()
top = st.container()
_connections()
_keys()
_audit()
with top:
    show_flash()
