"""What an agent reads in a request: scope, time pressure, business effect, workarounds and
change requests, each decision with the words that fired and how they were read."""

from __future__ import annotations

import pytest

from triage.rules import RuleHit, apply_rules


def hits(kind: str | None = "incident", **request: object) -> dict[str, RuleHit]:
    return {h.target: h for h in apply_rules(request, kind)}


def level(target: str, text: str, kind: str | None = "incident", **fields: object) -> str:
    return hits(kind, title="", description=text, **fields)[target].value


# -- scope → impact ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Network is down on the whole 2nd floor, about 15 people cannot work", "high"),
        ("The whole accounts team gets an error when posting invoices", "medium"),
        ("about 15 people in planning cannot open the report", "medium"),
        ("All our branches report that the tills cannot reach the server", "high"),
        ("Since 9 all customers get an error at checkout", "high"),
        ("Nobody in the warehouse can log in to the scanners", "high"),
        ("3 of us in planning get an error in Power BI", "low"),
        ("In customer service none of us (we're 14 on shift) can see the tab", "medium"),
        ("The entire Tilburg office lost the network", "high"),
        ("Excel crashes when I open the price list", "low"),
        ("No users affected, the error only shows in the nightly log", "low"),
        ("Teams: nobody can hear me through my headset", "low"),
        ("Only me, my colleagues' search works fine", "low"),
    ],
)
def test_scope_sets_impact(text: str, expected: str) -> None:
    assert level("impact", text) == expected


def test_the_reason_quotes_the_words_and_says_how_they_were_read() -> None:
    h = hits(title="Network down", description="Whole 2nd floor offline, about 15 people")
    assert h["impact"].rule == "place"
    assert "'whole 2nd floor'" in h["impact"].reason and "floor" in h["impact"].reason
    assert "about 15 people" in h["impact"].reason
    assert h["impact"].explicit
    shown = {s["text"] for s in h["impact"].signals}
    assert {"whole 2nd floor", "about 15 people"} <= shown


def test_without_any_scope_one_requester_is_the_default() -> None:
    h = hits(title="Mouse", description="The scroll wheel of my mouse jumps")
    assert (h["impact"].value, h["impact"].rule, h["impact"].explicit) == (
        "low",
        "default",
        False,
    )
    assert "one requester" in h["impact"].reason


def test_the_users_field_counts_and_a_wide_text_with_ten_or_more_is_high() -> None:
    assert level("impact", "SAP is slow today.", users_affected=50) == "high"
    assert level("impact", "SAP is slow today.", users_affected=12) == "medium"
    h = hits(description="Nobody on the 3rd floor has network", users_affected=25)
    assert (h["impact"].value, h["impact"].rule) == ("high", "users_field")
    assert "25 users" in h["impact"].reason and "3rd floor" in h["impact"].reason
    assert level("impact", "Whole floor offline", users_affected=5) == "medium"
    assert level("impact", "Mouse broken", users_affected=1) == "low"


# -- time pressure, business effect, workarounds → urgency ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the GM needs to print the board pack in 20 minutes", "high"),
        ("the file must reach the bank before the 3 pm cut-off", "high"),
        ("payroll must run tonight and the job fails", "high"),
        ("the DHL truck comes at 15:30 and nothing is picked", "high"),
        ("customers cannot pay in the portal since this morning", "high"),
        ("web sales stopped at 10:00", "high"),
        ("the production line is halted", "high"),
        ("nobody can work, the network is down", "high"),
        ("I clicked a link in an email and entered my password", "high"),
        ("my monitor flickers, it works on another PC though", "low"),
        ("as a workaround we type the orders in by hand", "medium"),
        ("the second screen flickers, I use the laptop screen for now", "low"),
        ("I open them on my phone for now, which is awkward all day", "medium"),
        ("the laptop is slow since the update", "medium"),
        ("small thing: the logo on the intranet is blurry", "low"),
        ("it's urgent, the scanner keeps rebooting", "high"),
        ("not urgent, the scanner beeps twice", "low"),
    ],
)
def test_time_and_business_effect_set_urgency(text: str, expected: str) -> None:
    assert level("urgency", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "could we have a dashboard for this in Q3",
        "whenever convenient, after the summer is fine",
        "please do it when you have time",
        "during the planned downtime on Sunday",
    ],
)
def test_relaxed_timing_is_low_urgency(text: str) -> None:
    h = hits("service_request", description=text)
    assert (h["urgency"].value, h["urgency"].rule) == ("low", "relaxed")


def test_stopped_business_outweighs_planned_timing() -> None:
    text = "The webshop is still in maintenance mode after the planned downtime: nobody can order"
    assert level("urgency", text) == "high"


def test_default_urgency_follows_the_kind_of_request() -> None:
    assert (
        hits("question", description="where do I find the holiday form")["urgency"].value == "low"
    )
    h = hits("incident", description="Excel says unlicensed product")["urgency"]
    assert (h.value, h.rule, h.explicit) == ("medium", "default", False)


def test_vip_raises_urgency() -> None:
    h = hits(title="Printer not ready", description="It says not ready.", vip=True)
    assert (h["urgency"].value, h["urgency"].rule) == ("high", "vip")
    assert "VIP" in h["urgency"].reason


# -- change requests → type --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Please change the warehouse picking process in the ERP so picking waves are released "
        "every 30 minutes",
        "We'd like to roll out the new Teams client to all laptops over the weekend",
        "Sales wants the discount rules changed for business customers",
        "Please open TCP port 9100 from the WMS server to the label printer",
        "Change request: new approval workflow for purchase orders",
    ],
)
def test_a_change_is_recognised_from_the_request(text: str) -> None:
    h = hits(None, title="", description=text)
    assert (h["type"].value, h["type"].rule) == ("change", "change_request")
    assert "a change" in h["type"].reason


@pytest.mark.parametrize(
    "text",
    [
        "Since the change yesterday the VPN fails to connect",
        "Please change my password, I forgot it",
        "Outlook crashes since the upgrade",
    ],
)
def test_faults_and_personal_requests_are_not_changes(text: str) -> None:
    h = hits(None, title="", description=text)
    assert "type" not in h or h["type"].value != "change"


def test_question_and_improvement_cues() -> None:
    assert hits(None, title="How do I add a shared mailbox?")["type"].value == "question"
    h = hits(None, title="dark mode", description="would love a dark mode in the portal")
    assert (h["type"].value, h["type"].explicit) == ("improvement", True)
    assert hits(None, description="No idea why, my calendar lost two meetings").get("type") is None
