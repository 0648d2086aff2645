"""End to end in a real browser: an agent signs in with their API key, takes a request on the
Desk, sees the knowledge-base answer suggested, resolves the ticket with it, and the
Dashboard's KCS reuse count goes up by one."""

from __future__ import annotations

import re

import pytest

from tests.browser.stack import Stack, go_to, metric_value, sign_in

pytestmark = pytest.mark.browser

ARTICLE = "Reset your network password with self-service (SSPR)"  # KB0000001 in demo/
REQUEST_TITLE = "Password expired, cannot sign in"
REQUEST_TEXT = (
    "My network password has expired and Windows and Outlook say incorrect user ID or password. "
    "I need to reset my password; I forgot the old one."
)


def reuse_shown(page) -> int:  # noqa: ANN001
    """The Dashboard's "Reuse" figure as shown."""
    from playwright.sync_api import expect

    value = metric_value(page, "Reuse")
    expect(value).to_have_text(re.compile(r"^\d+$"))
    return int(value.inner_text())


def test_sign_in_take_a_request_resolve_with_a_suggestion_reuse_goes_up(
    page,  # noqa: ANN001
    stack: Stack,
) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    # Signed out: every page asks for the key first.
    expect(page.get_by_text("Sign in with your API key")).to_be_visible()
    sign_in(page, stack.agent_key)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("alice")

    go_to(page, "Dashboard")
    before = reuse_shown(page)
    assert before == stack.get("/dashboard")["reuse"]

    go_to(page, "Desk")
    page.get_by_label("Title").fill(REQUEST_TITLE)
    page.get_by_label("Description").fill(REQUEST_TEXT)
    page.get_by_role("button", name="Submit request").click()

    # The triage card with the suggested answers.
    expect(page.get_by_text(re.compile(r"Ticket \S+ taken and triaged")).first).to_be_visible()
    expect(page.get_by_text("Suggested answers")).to_be_visible()
    suggestion = (
        page.get_by_test_id("stVerticalBlock")
        .filter(has_text=ARTICLE)
        .filter(has=page.get_by_role("button", name="Resolve with this"))
        .last  # the innermost block: this suggestion's own card
    )
    expect(suggestion.get_by_text(ARTICLE)).to_be_visible()
    suggestion.get_by_role("button", name="Resolve with this").click()

    expect(page.get_by_text("Resolved with KB0000001 — reuse recorded").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Resolved \(reuse\)"))).to_be_visible()
    expect(page.get_by_role("button", name="Resolve with this")).to_have_count(0)

    # The API agrees: the ticket is resolved with that article.
    [ticket] = [t for t in stack.get("/desk/tickets")["tickets"] if t["title"] == REQUEST_TITLE]
    assert ticket["state"] == "resolved" and ticket["outcome"] == "reuse"

    go_to(page, "Dashboard")
    expect(metric_value(page, "Reuse")).to_have_text(str(before + 1))
    assert stack.get("/dashboard")["reuse"] == before + 1


def test_a_wrong_key_is_refused(page, stack: Stack) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Sign-in failed")).to_be_visible()
    expect(page.get_by_text("Sign in with your API key")).to_be_visible()
    expect(page.get_by_role("button", name="Submit request")).to_have_count(0)
