"""Explicit signals that override the model, each with its reason."""

from __future__ import annotations

import pytest

from triage.rules import RuleHit, apply_rules, rule_signals


def hits(**request: object) -> dict[str, RuleHit]:
    return {h.target: h for h in apply_rules(request)}


def test_vip_raises_urgency_to_high() -> None:
    h = hits(title="Printer not ready", description="It says not ready.", vip=True)
    assert h["urgency"].value == "high"
    assert h["urgency"].rule == "vip"
    assert "VIP" in h["urgency"].reason


def test_no_vip_no_urgency_rule() -> None:
    assert "urgency" not in hits(title="Printer not ready", description="It says not ready.")


def test_fifty_users_means_high_impact() -> None:
    h = hits(title="SAP slow", description="SAP is slow today.", users_affected=50)
    assert (h["impact"].value, h["impact"].rule) == ("high", "many_users")
    assert "50 users" in h["impact"].reason


def test_forty_nine_users_is_a_team() -> None:
    h = hits(title="SAP slow", description="SAP is slow today.", users_affected=49)
    assert (h["impact"].value, h["impact"].rule) == ("medium", "several_users")


def test_one_user_is_low_impact_unless_the_text_says_everyone() -> None:
    assert hits(title="Mouse broken", users_affected=1)["impact"].value == "low"
    assert "impact" not in hits(title="Teams down for everyone", users_affected=1)


def test_whole_floor_down_for_ten_plus_users_is_high_impact_and_urgency() -> None:
    h = hits(
        title="Network down on the whole floor",
        description="The network is down, nobody on the 3rd floor can work.",
        users_affected=25,
    )
    assert (h["impact"].value, h["impact"].rule) == ("high", "many_users_wide")
    assert "25 users" in h["impact"].reason and "whole floor" in h["impact"].reason
    assert (h["urgency"].value, h["urgency"].rule) == ("high", "outage")
    assert "whole floor" in h["urgency"].reason


def test_outage_with_twelve_users() -> None:
    h = hits(
        title="Wifi outage", description="3rd floor wifi outage since 9:00.", users_affected=12
    )
    assert h["impact"].value == "high"
    assert h["urgency"].value == "high"
    assert "outage" in h["urgency"].reason


def test_whole_floor_with_few_users_is_not_high_impact() -> None:
    h = hits(title="Whole floor offline", description="The network is down.", users_affected=5)
    assert "impact" not in h
    assert h["urgency"].value == "high"  # the text still says work is blocked


def test_wide_without_blocked_does_not_raise_urgency() -> None:
    assert "urgency" not in hits(title="Everyone gets the new wallpaper", users_affected=30)


@pytest.mark.parametrize(
    ("title", "description", "reason"),
    [
        (
            "Change: new picking process for warehouse B",
            "Roll out the new picking workflow with handheld scanners next Monday.",
            "change",
        ),
        (
            "Change to the warehouse picking process",
            "Please group the picking waves by zone from next week.",
            "picking process",
        ),
    ],
)
def test_change_title_sets_type_change(title: str, description: str, reason: str) -> None:
    h = hits(title=title, description=description)
    assert (h["type"].value, h["type"].rule) == ("change", "change_title")
    assert reason in h["type"].reason


def test_changing_a_password_is_not_a_change_request() -> None:
    assert "type" not in hits(title="Change password", description="Please change my password.")
    assert "type" not in hits(title="Change of monitor", description="Mine flickers.")


def test_change_words_outside_the_title_do_not_make_a_change() -> None:
    h = hits(title="Outlook crashes", description="Since the upgrade Outlook crashes at start.")
    assert "type" not in h


def test_question_title_sets_type_question() -> None:
    h = hits(title="How do I add a shared mailbox?", description="In Outlook on my laptop.")
    assert (h["type"].value, h["type"].rule) == ("question", "question_title")


def test_plain_incident_triggers_no_rule() -> None:
    assert apply_rules({"title": "Excel says unlicensed product"}) == []


def test_rule_signals_are_features() -> None:
    s = rule_signals({"title": "Could we get a status page?", "description": "would be great"})
    assert s == {"wide": False, "blocked": False, "change": False, "improve": True}
    s = rule_signals({"title": "Outage", "description": "Everyone is blocked"})
    assert s["wide"] and s["blocked"]


def test_a_numbered_floor_or_a_named_office_counts_as_wide() -> None:
    """'the whole 3rd floor' and 'nobody on the 3rd floor' say as much as 'whole floor'."""
    h = hits(
        title="Network down on the whole 3rd floor",
        description="Nobody on the 3rd floor has network, about 40 people cannot work.",
        users_affected=40,
    )
    assert (h["impact"].value, h["impact"].rule) == ("high", "many_users_wide")
    assert "whole 3rd floor" in h["impact"].reason
    assert (h["urgency"].value, h["urgency"].rule) == ("high", "outage")
    h = hits(
        title="Printers", description="No one in the Tilburg office can print", users_affected=12
    )
    assert h["impact"].rule == "many_users_wide"


def test_whole_in_other_senses_is_not_wide() -> None:
    h = hits(
        title="Slow laptop", description="It took a whole lot of time today", users_affected=12
    )
    assert (h["impact"].value, h["impact"].rule) == ("medium", "several_users")
    assert "urgency" not in hits(title="Printer on the floor", description="cannot print")
