"""The Dashboard (figures exactly as the API gives them) and the Admin page (keys, audit)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import PAGES, button, by_label
from ui.common import pct


def _table(at, column: str):  # noqa: ANN001, ANN202
    """The table on the page that has this column (as a user finds it by its heading)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def _metrics(at) -> dict[str, str]:  # noqa: ANN001
    return {m.label: m.value for m in at.metric}


def test_dashboard_shows_the_api_figures(console, api) -> None:  # noqa: ANN001
    ticket = api.call(
        "POST", "/desk/tickets", key=api.agent_key, json={"title": "Keyboard letters missing"}
    )["ticket"]
    api.call(
        "POST",
        f"/desk/tickets/{ticket['id']}/resolve",
        key=api.agent_key,
        json={"resolution": "Replaced the keyboard", "capture": False},
    )
    at = console(api.agent_key, "Dashboard")
    assert not at.exception
    d = api.call("GET", "/dashboard", params={"days": 30})
    shown = _metrics(at)
    assert shown["Reuse"] == str(d["reuse"])
    assert shown["Create"] == str(d["create"]) and d["create"] >= 1
    assert shown["Open tickets"] == str(d["open"])
    assert shown["SLA breached now"] == str(d["breached_now"])
    assert shown["Deflection rate"] == pct(d["deflection_rate"])
    assert shown["KCS reuse rate"] == pct(d["reuse_rate"])
    assert shown["Triage accuracy"] == pct(d["triage"]["accuracy"])
    assert shown["Triage coverage"] == pct(d["triage"]["coverage"])
    fields = at.dataframe[0].value
    assert list(fields["field"])[:2] == ["Type", "Impact"]
    assert len(at.get("vega_lite_chart")) >= 2  # priorities by day, triage by field


def test_rates_are_the_api_numbers_as_percentages() -> None:
    assert pct(0.3333) == "33.33%"
    assert pct(0.5) == "50%"
    assert pct(1.0) == "100%"
    assert pct(None) == "—"


def test_admin_creates_a_key_once_lists_and_revokes_it(console, api) -> None:  # noqa: ANN001
    agent = console(api.agent_key)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        agent.switch_page(PAGES["Admin"])  # not in an agent's navigation
    at = console(api.admin_key, "Admin")
    assert not at.exception
    by_label(at.text_input, "Name").input("night shift")
    by_label(at.selectbox, "Role").set_value("editor")
    button(at, "Create key").click()
    at.run()
    assert not at.exception
    assert any("not shown again" in s.value for s in at.success)
    key = at.code[0].value
    assert api.call("GET", "/me", key=key) == {"name": "night shift", "role": "editor"}
    keys = _table(at, "key starts with")
    assert "night shift" in list(keys["name"])

    made = next(k for k in api.call("GET", "/admin/keys")["keys"] if k["name"] == "night shift")
    by_label(at.selectbox, "Key to revoke").set_value(made["id"])
    button(at, "Revoke key").click()
    at.run()
    assert not at.exception
    assert any("Revoked the key of night shift" in s.value for s in at.success)
    assert not at.code  # the key is not shown again

    by_label(at.text_input, "Action").input("admin.key_revoke")
    at.run()
    audit = at.dataframe[-1].value
    assert list(audit["action"]) and set(audit["action"]) == {"admin.key_revoke"}


def test_admin_sees_connections_and_pauses_one(console, api) -> None:  # noqa: ANN001
    from tests.conftest import free_port

    name = "ui-hook"
    if not any(c["name"] == name for c in api.call("GET", "/admin/connectors")["connections"]):
        api.call(
            "POST",
            "/admin/webhooks",
            json={
                "name": name,
                "url": f"http://127.0.0.1:{free_port()}/hook",
                "events": ["ticket.created"],
                "secret": "x" * 32,
            },
        )
    at = console(api.admin_key, "Admin")
    assert not at.exception
    assert any(s.value == "Connected systems" for s in at.subheader)
    table = _table(at, "last sync")
    row = list(table["name"]).index(name)
    assert table["kind"][row] == "webhook" and table["state"][row] == "active"
    by_label(at.selectbox, "Connection").set_value(name)
    button(at, "Pause").click()
    at.run()
    assert not at.exception
    assert any(f"{name}: paused" in s.value for s in at.success)
    assert _table(at, "last sync")["state"][row] == "paused"
    assert api.call("GET", f"/admin/connectors/{name}")["paused"] is True
    api.call("POST", f"/admin/connectors/{name}/resume")
