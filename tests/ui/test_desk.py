"""The Desk page: intake, the triage card, answers from the knowledge base, the open list."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.ui.conftest import PAGES, button, by_label, texts
from ui.common import highlighted, sla_standing

FLOOR = ("Network down on floor 3", "Nobody on the whole floor can connect; 25 people cannot work.")


def _submit(at: AppTest, title: str, description: str, users: int = 0) -> AppTest:
    by_label(at.text_input, "Title").input(title)
    by_label(at.text_area, "Description").input(description)
    if users:
        by_label(at.number_input, "Users affected").set_value(users)
    button(at, "Submit request").click()
    return at.run()


def _metric(at: AppTest, label: str) -> str:
    return by_label(at.metric, label).value


def test_intake_shows_triage_card_and_suggestions(console, api) -> None:  # noqa: ANN001
    at = _submit(console(api.agent_key), *FLOOR, users=25)
    assert not at.exception
    shown = texts(at)
    assert "taken and triaged" in shown
    assert "P1 Critical" in shown and "Q1" in shown
    assert "SLA: respond by" in shown
    table = at.dataframe[0].value.set_index("field")
    assert list(table.index) == [
        "Type",
        "Impact",
        "Urgency",
        "Category",
        "Assignment group",
        "Tier",
    ]
    assert table.loc["Impact", "value"] == "high"
    assert table.loc["Category", "confidence"].endswith("%")
    assert "neighbours:" in shown and "rule:" in shown  # the evidence
    assert "→ a whole floor (high)" in shown  # the words that decided, as an agent reads them
    assert "Suggested answers" in shown and "<mark>" in shown
    assert "Similar resolved tickets" in shown and "fix:" in shown
    assert button(at, "Resolve with this")
    # the new ticket is in the open list, with its priority and SLA standing, and "Work on"
    # has it picked
    open_list = at.dataframe[1].value.set_index("title")
    assert open_list.loc[FLOOR[0], "priority"] == "P1"
    assert open_list.loc[FLOOR[0], "SLA"].endswith("min left")
    new_id = by_label(at.selectbox, "Work on").value
    assert api.call("GET", f"/desk/tickets/{new_id}")["title"] == FLOOR[0]


def test_the_open_list_is_the_apis_working_order(console, api) -> None:  # noqa: ANN001
    low = _submit(console(api.agent_key), "Wallpaper is the wrong colour", "Cosmetic only")
    assert not low.exception
    queue = api.call(
        "GET",
        "/desk/tickets",
        params={"state": ["new", "in_progress", "escalated"], "order": "priority"},
    )["tickets"]
    assert list(low.dataframe[-1].value["ticket"]) == [t["ref"] for t in queue]
    # P1 first (a provisional priority's label starts with the priority its SLA runs as)
    shown = [int(p[1]) for p in low.dataframe[-1].value["priority"] if p != "needs a human"]
    assert shown == sorted(shown)


def test_intake_without_text_asks_for_it(console, api) -> None:  # noqa: ANN001
    at = console(api.agent_key)
    button(at, "Submit request").click()
    at.run()
    assert not at.exception
    assert any("Enter a title or a description" in w.value for w in at.warning)


def test_resolve_with_a_suggestion_records_a_reuse_on_the_dashboard(console, api) -> None:  # noqa: ANN001
    before = api.call("GET", "/dashboard")["reuse"]
    at = _submit(console(api.agent_key), "VPN keeps disconnecting", "GlobalProtect drops hourly")
    button(at, "Resolve with this").click()
    at.run()
    assert not at.exception
    done = [s.value for s in at.success]
    assert any(s.startswith("Resolved with KB") and "reuse recorded" in s for s in done), done
    assert "Resolve with this" not in [b.label for b in at.button]  # the ticket is resolved
    at.switch_page(PAGES["Dashboard"]).run()
    assert not at.exception
    assert _metric(at, "Reuse") == str(before + 1)
    assert _metric(at, "Reuse") == str(api.call("GET", "/dashboard")["reuse"])


def test_feedback_new_answer_capture_and_escalation(console, api) -> None:  # noqa: ANN001
    at = _submit(console(api.agent_key), "Printer paper jam on floor 2", "Paper jam in tray 2")
    button(at, "Did not help").click()
    at.run()
    assert any("did not help" in s.value for s in at.success)

    by_label(at.text_area, "New answer").input("Opened tray 2 and removed a torn label.")
    button(at, "Resolve with a new answer").click()
    at.run()
    assert not at.exception
    created = [s.value for s in at.success if "captured as draft" in s.value]
    assert created, [s.value for s in at.success]
    draft_ref = created[0].split("captured as draft ")[1].split(" ")[0]
    drafts = api.call("GET", "/kb/articles", params={"status": "draft"})["articles"]
    assert draft_ref in [a["external_id"] for a in drafts]

    at = _submit(at, "Payroll export fails", "The monthly payroll export stops with error 17")
    group = by_label(at.text_input, "Group")
    group.input("Payroll Team")
    button(at, "Escalate").click()
    at.run()
    assert not at.exception
    assert any("Escalated desk:" in s.value and "Payroll Team" in s.value for s in at.success)
    table = at.dataframe[-1].value
    assert "escalated" in list(table["state"])


def test_correcting_impact_recomputes_priority(console, api) -> None:  # noqa: ANN001
    at = _submit(console(api.agent_key), *FLOOR, users=25)
    impact = by_label(at.selectbox, "Impact")
    assert impact.options == ["low", "medium", "high"]  # the matrix's levels, nothing else
    assert impact.value == "high"  # what the ticket says now
    impact.set_value("low")
    button(at, "Save corrections").click()
    at.run()
    assert not at.exception
    saved = [s.value for s in at.success if "Correction saved" in s.value]
    assert saved == ["Correction saved: Impact is low — priority now P3"]
    table = at.dataframe[0].value.set_index("field")
    assert table.loc["Impact", "value"] == "low"
    assert table.loc["Impact", "decided by"] == "agent correction"
    assert "P3" in texts(at)

    button(at, "Save corrections").click()  # nothing changed since
    at.run()
    assert any(w.value.startswith("Nothing to correct") for w in at.warning)


def test_two_corrections_in_one_save(console, api) -> None:  # noqa: ANN001
    at = _submit(console(api.agent_key), "Need a new monitor", "Please order a second screen")
    kind = by_label(at.selectbox, "Type")
    labels = api.call("GET", "/triage/models")["versions"][0]["labels"]["type"]
    assert set(labels) <= set(kind.options) and "incident" in kind.options
    kind.set_value("incident")
    by_label(at.selectbox, "Impact").set_value("high")
    by_label(at.selectbox, "Urgency").set_value("high")
    button(at, "Save corrections").click()
    at.run()
    assert not at.exception
    saved = [s.value for s in at.success if s.value.startswith("Correction saved")]
    assert len(saved) == 1 and saved[0].endswith(" — priority now P1")
    assert "Type is incident" in saved[0] and "Urgency is high" in saved[0]
    ticket_id = by_label(at.selectbox, "Work on").value
    ticket = api.call("GET", f"/desk/tickets/{ticket_id}")
    assert (ticket["type"], ticket["priority"]) == ("incident", "P1")


def _card(at: AppTest, ticket: dict) -> AppTest:
    """The Desk with ``ticket`` (a desk ticket as the API gives it) open."""
    at.session_state["desk_ticket"] = ticket
    return at.run()


TICKET = {
    "id": 987654,
    "ref": "desk:987654",
    "title": "Laptop fan is loud",
    "description": "",
    "state": "new",
    "created_at": "2030-01-01T09:00:00+00:00",
    "created_by": "alice",
    "priority": None,
    "quadrant": None,
    "sla": {},
    "triage": {"fields": {}, "suggested_articles": [], "similar_tickets": []},
}


def test_a_provisional_priority_shows_its_label(console, api) -> None:  # noqa: ANN001
    provisional = {"label": "P2–P3, confirm urgency", "sla_priority": "P2"}
    at = _card(console(api.agent_key), {**TICKET, "provisional": provisional})
    assert not at.exception
    shown = texts(at)
    assert "P2–P3, confirm urgency" in shown and "the SLA runs as P2" in shown
    assert "Priority needs a human" not in shown


def test_a_closed_ticket_has_no_dead_end_correction(console, api) -> None:  # noqa: ANN001
    closed = {**TICKET, "state": "closed", "outcome": "reuse", "resolution": "Cleaned the fan"}
    at = _card(console(api.agent_key), closed)
    assert not at.exception
    assert any(w.value.startswith("Priority needs a human") for w in at.warning)
    assert "below" not in texts(at)
    assert "Impact" not in [s.label for s in at.selectbox]
    opened = _card(at, TICKET)
    assert "Correct it below" in texts(opened) and by_label(opened.selectbox, "Impact")


def test_similar_tickets_without_a_resolution_are_not_offered(console, api) -> None:  # noqa: ANN001
    hit = {"kind": "ticket", "snippet": "", "highlights": []}
    similar = [
        {**hit, "id": "ticket:1", "external_id": "INC1", "title": "Fan noise", "resolution": None},
        {**hit, "id": "ticket:2", "external_id": "INC2", "title": "Loud fan", "resolution": "BIOS"},
    ]
    triage = {**TICKET["triage"], "similar_tickets": similar}
    at = _card(console(api.agent_key), {**TICKET, "triage": triage})
    shown = texts(at)
    assert "Similar resolved tickets" in shown and "INC2" in shown and "INC1" not in shown
    only_open = {**TICKET["triage"], "similar_tickets": similar[:1]}
    assert "Similar resolved tickets" not in texts(_card(at, {**TICKET, "triage": only_open}))


def test_open_a_ticket_from_the_open_list(console, api) -> None:  # noqa: ANN001
    ticket = api.call(
        "POST", "/desk/tickets", key=api.agent_key, json={"title": "Outlook will not start"}
    )["ticket"]
    at = console(api.agent_key)
    by_label(at.selectbox, "Work on").set_value(ticket["id"])
    button(at, "Open ticket").click()
    at.run()
    assert not at.exception
    assert f"{ticket['ref']} · Outlook will not start" in texts(at)


def test_sla_standing_flags_a_breach() -> None:
    breached = {"state": "new", "sla": {"breached": True, "response_breached": True}}
    assert sla_standing(breached) == ("breached (response)", True)
    running = {"state": "in_progress", "sla": {"resolve_by": "x", "minutes_left": 125}}
    assert sla_standing(running) == ("2 h 5 min left", False)


def test_a_snippet_shows_as_plain_text_with_its_highlights() -> None:
    shown = highlighted("## Cause\n`sw-<site>` **down** $5", [[3, 8]])
    assert shown.startswith("\\#\\# <mark>Cause</mark> \\`sw\\-&lt;site&gt;\\`")
    assert "\\*\\*down\\*\\*" in shown and "\\$5" in shown


def test_a_request_with_no_good_kb_match_says_so(console, api) -> None:  # noqa: ANN001
    at = _submit(
        console(api.agent_key),
        "Qwzx plorf",
        "Vrrk zzlomp trabbit quonk ylsh.",
    )
    assert not at.exception
    shown = texts(at)
    assert "No good KB match — capture one when you solve it." in shown, [
        line for line in shown.split("\n") if "Suggested" in line or "match" in line
    ]
    assert not any(b.label == "Resolve with this" for b in at.button)
